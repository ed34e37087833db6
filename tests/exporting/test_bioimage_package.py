"""``export --format bioimageio``: a package that bioimage.io's own validator accepts, or one line naming the extra."""

import sys
import zipfile

import numpy as np
import pytest
import yaml

import segtrain
from helpers.networks import tiny_checkpoint, tiny_run_folder
from segtrain.errors import UserError
from segtrain.exporting import bioimage_package


def _run(tmp_path):
    checkpoint = tiny_checkpoint(classes=3, in_channels=1, depth=2)
    checkpoint["segtrain"]["class_names"] = ["background", "cell", "edge"]
    return tiny_run_folder(tmp_path / "run", checkpoint)


def test_a_missing_extra_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bioimageio.spec.model", None)  # as if not installed
    with pytest.raises(UserError) as err:
        segtrain.export(_run(tmp_path), format="bioimageio")
    assert str(err.value) == bioimage_package.MISSING
    assert not (tmp_path / "run" / "model.bioimageio.zip").exists()


def test_test_input_is_a_centre_crop_in_whole_multiples():
    image = np.arange(70 * 300, dtype=np.float32).reshape(70, 300)
    x = bioimage_package._test_input(image, 1, 16)
    assert x.shape == (1, 1, 64, 256) and x[0, 0, 0, 0] == image[3, 22]


@pytest.mark.parametrize("with_core", [pytest.param(False, marks=pytest.mark.slow), True])
def test_the_package_passes_bioimageios_validator(tmp_path, monkeypatch, with_core):
    pytest.importorskip("bioimageio.spec")
    if with_core:
        pytest.importorskip("bioimageio.core")
    else:
        monkeypatch.setitem(sys.modules, "bioimageio.core", None)  # the fallback: load_description + reproduction
    run = _run(tmp_path)
    result = segtrain.export(run, format="bioimageio")
    package = run / "model.bioimageio.zip"
    assert result["path"] == str(package) and result["parity"]["against_pytorch"]["class_agreement"] == 1.0
    assert ("test_model: passed" if with_core else "test output reproduced") in result["validator"]
    with zipfile.ZipFile(package) as archive:
        names = set(archive.namelist())
        rdf = yaml.safe_load(archive.read("rdf.yaml"))
    assert {"rdf.yaml", "weights.pt", "test_input.npy", "test_output.npy", "README.md", "cover.png"} <= names
    assert rdf["format_version"].startswith("0.5") and rdf["type"] == "model"
    assert rdf["outputs"][0]["axes"][1]["channel_names"] == ["background", "cell", "edge"]
    from bioimageio.spec import load_description

    assert load_description(package).validation_summary.status in ("passed", "valid-format")
