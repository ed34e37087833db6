"""Re-score kept benchmark runs after choosing flips and post-processing on validation (no retraining).

    .venv/bin/python bench/rescore_kept.py hc18_head=/tmp/pA/hc18_head/seed0 road_lane=/tmp/pA/road_lane/seed0

Each argument names a dataset in ../shared/data and a folder ``bench/quality.py --keep`` wrote for one
run (holding ``run/`` and ``pred/``). The run folder is copied, :func:`segtrain.evaluation.refine.refine`
chooses test-time flips and post-processing on its validation images (what ``train`` now does after
training), the test images are predicted again and scored by ``bench/scoring.py``, beside the score of
the kept predictions. Used for run 4 of bench/RESULTS.md.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path

import segtrain
from segtrain.config import load_config
from segtrain.data.labels import LabelSpec
from segtrain.evaluation.refine import refine
from segtrain.inference.predictor import load_checkpoint
from segtrain.pipeline.prepare import checked
from segtrain.runtime.rundir import RunDir

BENCH = Path(__file__).resolve().parent
DATA = BENCH.parent.parent / "shared" / "data"


def _quality():
    spec = importlib.util.spec_from_file_location("quality", BENCH / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rescore(name: str, kept: Path, work: Path, quality) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(kept / "run", work / "run")
    run = RunDir(work / "run")
    cfg = load_config(run.config)
    data = DATA / name
    samples = {s.stem: s for s in checked(data, cfg.data.num_classes).samples}
    split = json.loads(run.split.read_text())
    meta = load_checkpoint(run.best)["segtrain"]
    start = time.perf_counter()
    refine(run, cfg, LabelSpec.from_meta(meta), meta.get("mode"), [samples[s] for s in split["val"]])
    seconds = time.perf_counter() - start
    files = [quality.image_file(data, s) for s in split["test"]]
    segtrain.predict(run.path, files, work / "pred")
    after = quality.scoring.score_folder(work / "pred", data, stems=split["test"])["score"]
    before = quality.scoring.score_folder(kept / "pred", data, stems=split["test"])["score"]
    chosen = json.loads(run.refinement.read_text()) if run.refinement.exists() else {}
    return {"before": before, "after": after, "refine_seconds": round(seconds, 1),
            "tta": chosen.get("tta"), "steps": chosen.get("steps")}


def main() -> None:
    quality = _quality()
    results = {}
    for argument in sys.argv[1:]:
        name, _, kept = argument.partition("=")
        results[argument] = result = rescore(name, Path(kept), Path("/tmp/rescore") / name, quality)
        print(f"{name} {kept}: test {result['before']:.4f} -> {result['after']:.4f} (flips {result['tta']}, "
              f"steps {result['steps']}, {result['refine_seconds']} s)", flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
