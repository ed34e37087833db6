"""Tests for the top package: its verbs load lazily and no subpackage shadows one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import segtrain

SRC = Path(segtrain.__file__).parent


def test_no_submodule_is_named_like_a_verb():
    # Importing segtrain.<name> binds the submodule as an attribute of the package, which would
    # hide the verb of the same name from segtrain.__getattr__ (segtrain.synth once did this).
    modules = {p.stem for p in SRC.glob("*.py")} | {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    assert not modules & set(segtrain._VERBS)


def test_every_verb_is_the_api_function_even_after_importing_every_subpackage():
    code = (
        "import importlib, pkgutil, segtrain\n"
        "for m in pkgutil.walk_packages(segtrain.__path__, 'segtrain.'):\n"
        "    if '.cli' not in m.name: importlib.import_module(m.name)\n"
        "from segtrain import api\n"
        "bad = [v for v in segtrain._VERBS if getattr(segtrain, v) is not getattr(api, v)]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_importing_the_package_loads_neither_torch_nor_the_api():
    code = "import sys, segtrain; print('torch' in sys.modules, 'segtrain.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_unknown_attribute_is_an_attribute_error():
    try:
        segtrain.no_such_verb  # noqa: B018
    except AttributeError as e:
        assert "no_such_verb" in str(e)
    else:
        raise AssertionError("expected AttributeError")
