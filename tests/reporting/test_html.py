"""``build_report`` on a real tiny run: one self-contained, escaped, deterministic HTML file."""

from __future__ import annotations

import base64
import io
import json
from html import escape as html_escape
import re
import shutil

import pytest
from PIL import Image

from segtrain.reporting.html import PLOT_NAMES, build_report

SECTIONS = ("Data", "Plan", "Curves", "Results", "Findings", "Provenance")
IMAGE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def report(tiny_report):
    """The report ``train`` wrote at the end of the tiny run: ``(path, html text)``."""
    return tiny_report, tiny_report.read_text()


def test_report_is_one_file_with_embedded_pngs(report, tiny_run):
    path, html = report
    assert path == tiny_run / "report.html"
    images = IMAGE.findall(html)
    assert len(images) >= 5
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert im.format == "PNG"
            im.verify()
    assert html.count("<img ") == len(images)  # every image is embedded
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower()
    assert '<meta name="viewport"' in html and "max-width:100%" in html


def test_every_figure_is_also_a_png_under_plots(report, tiny_run):
    _, html = report
    written = sorted(p.stem for p in (tiny_run / "plots").glob("*.png") if p.stem in PLOT_NAMES)
    assert len(written) == len(IMAGE.findall(html))
    assert {"losses", "val_metrics", "lr", "grad_norms", "confusion", "dice_hist", "best", "samples"} <= set(written)
    assert "lr_find" not in written  # the range test did not run ...
    assert "no range test in this run" in html  # ... and the report says so


def test_sections_and_plan_items(report, tiny_run):
    _, html = report
    for title in SECTIONS:
        assert f"<h2>{title}</h2>" in html
    plan = json.loads((tiny_run / "plan.json").read_text())
    for name in plan["reasons"]:
        assert f"<td>{name}</td>" in html
    for name in plan["overridden"]:  # given by the user: marked
        assert f'<tr class="overridden"><td>{name}</td>' in html
    assert "lr" in plan["overridden"]


def test_results_and_provenance(report, tiny_run):
    _, html = report
    evaluation = json.loads((tiny_run / "evaluation.json").read_text())
    assert f"{evaluation['dice']:.4g}" in html
    import hashlib

    digest = hashlib.sha256((tiny_run / "checkpoints" / "best.ckpt").read_bytes()).hexdigest()
    assert digest in html
    assert "data listing SHA-256" in html
    command = (tiny_run / "command.txt").read_text().strip()  # the process that trained: here, pytest
    assert command.startswith("python ") and html_escape(command) in html
    assert str(tiny_run) not in html  # nothing says where the run folder was
    assert "<td>seed</td><td>0</td>" in html


def test_flips_and_post_processing_are_shown_with_their_validation_scores(report, tiny_run):
    _, html = report
    refinement = json.loads((tiny_run / "refinement.json").read_text())
    assert "Flips and post-processing" in html
    assert f"Tried on {refinement['images']} validation images" in html
    for trial in refinement["tried"]:
        assert f"<td>{html_escape(trial['step'])}</td>" in html
    assert html.count("not kept") >= sum(not t["kept"] for t in refinement["tried"])


def test_rebuilt_from_a_copy_is_byte_identical(report, tiny_run, tmp_path):
    first = report[0].read_bytes()
    original = shutil.copytree(tiny_run, tmp_path / "a" / "run")
    copy = shutil.copytree(original, tmp_path / "b" / "copied_run")
    shutil.rmtree(original)
    assert build_report(copy).read_bytes() == first


def test_text_is_escaped_and_missing_data_noted(tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run", ignore=shutil.ignore_patterns("last.ckpt"))
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(re.sub(r"root: .*", f"root: {tmp_path / 'gone'}", config, count=1))
    evaluation = json.loads((run / "evaluation.json").read_text())
    (run / "evaluation.json").write_text(json.dumps({**evaluation, "data": str(tmp_path / "gone too")}))
    (run / "command.txt").write_text("segtrain train <data> --out 'r&d'\n")
    (run / "findings.json").write_text(json.dumps([
        {"code": "minor", "severity": "info", "message": "fyi", "fix": "", "evidence": {}, "epoch": None, "step": None},
        {"code": "bad<script>", "severity": "error", "message": "a < b & c", "fix": "use <b>", "evidence": {"x": 1},
         "epoch": 2, "step": 5},
        {"code": "meh", "severity": "warning", "message": "so-so", "fix": "", "evidence": {}, "epoch": 1, "step": None},
    ]))
    html = build_report(run).read_text()
    assert "segtrain train &lt;data&gt; --out &#x27;r&amp;d&#x27;" in html
    assert "bad&lt;script&gt;" in html and "a &lt; b &amp; c" in html and "<script" not in html
    assert html.index("bad&lt;script&gt;") < html.index(">meh<") < html.index(">minor<")  # error, warning, info
    assert "is gone or unreadable" in html
    assert not (run / "plots" / "samples.png").exists() and not (run / "plots" / "best.png").exists()
    assert "dataset folder not found" in html
    assert len(IMAGE.findall(html)) >= 5  # the curves need only the run folder


def test_a_fine_tuned_run_is_shown_next_to_the_run_it_started_from():
    from segtrain.reporting._sections import _fine_tuning

    record = {"init_from": "/runs/A", "n_images": 4, "source_dice": 0.8465, "fine_tuned_dice": 0.8643,
              "on_source_validation": {"n_images": 5, "source_dice": 0.947, "fine_tuned_dice": 0.9312}}
    html = "".join(_fine_tuning(record))
    assert "Fine-tuned from /runs/A" in html and "A&#x27;s 5 validation images" in html
    for value in ("0.8465", "0.8643", "0.947", "0.9312"):
        assert value in html
    assert _fine_tuning(None) == [] and _fine_tuning({"init_from": None}) == []
    assert "not found where A read them" in "".join(_fine_tuning({**record, "on_source_validation": None}))
