"""Crash-safe, exact resume: SIGKILL at random moments, then ``train --resume``, ends with the
weights of a run never interrupted (CPU, one thread, the same seed).

Every run is a forked child of this process (no re-import of torch per run), killed with
SIGKILL as a crash would; the child runs with one intra-op thread so that the reference and the
resumed runs add floating-point numbers in the same order.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch

from helpers.datasets import make_dataset

pytestmark = pytest.mark.slow

TRIALS = 10


def _child(target) -> int:
    """Run ``target()`` in a forked child; returns its pid (the child never returns)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            torch.set_num_threads(1)
            target()
            code = 0
        except BaseException:  # noqa: BLE001
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _wait(pid: int, timeout: float = 300) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError("child run did not finish")


def _rows(path: Path) -> int:
    try:
        return max(0, len(path.read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def _epoch_scores(run: Path) -> list[list[str]]:
    """metrics.csv without its clock and memory columns."""
    return [line.split(",")[:7] for line in (run / "metrics.csv").read_text().splitlines()]


def _weights(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny dataset, a saved plan (so no run measures anything) and a config that checkpoints every step."""
    import importlib

    import segtrain

    for name in ("segtrain.api", "segtrain.engine.fit", "segtrain.engine.trainer", "segtrain.engine.module",
                 "segtrain.data.check.dataset", "segtrain.planning.planner", "segtrain.planning.probes",
                 "segtrain.diagnosis.doctor", "segtrain.losses.composite", "segtrain.metrics.evaluator"):
        importlib.import_module(name)  # once here, not in every forked run
    root = tmp_path_factory.mktemp("resume")
    data = make_dataset(root / "data", n=16, size=(32, 32), channels=1, classes=2, seed=3)
    config = root / "config.yaml"
    config.write_text("model: {width: 4, depth: 2}\ntrain: {checkpoint_every_s: 0.01, early_stop_patience: null}\n")
    plan = root / "plan.json"
    pid = _child(lambda: segtrain.plan(data, plan, config=config, epochs=4, batch_size=2, lr=3e-3,
                                       patch_size=32, precision="32", lr_find=False))
    assert _wait(pid) == 0
    reference = root / "reference"
    pid = _child(lambda: segtrain.train(data, reference, plan=plan, config=config, progress=False, report=False))
    _until_run_folder(pid, reference)
    start = time.monotonic()
    assert _wait(pid) == 0
    return data, config, plan, reference, time.monotonic() - start  # from the run folder's creation to the end


def _until_run_folder(pid: int, run: Path) -> None:
    while not (run / "config.yaml").exists():
        assert os.waitpid(pid, os.WNOHANG)[0] == 0, "the run ended before its folder was written"
        time.sleep(0.005)


def _train(data, run, plan, config, before_write=None):
    import segtrain

    def target():
        if before_write is not None:
            before_write()
        segtrain.train(data, run, plan=plan, config=config, progress=False, report=False)

    return _child(target)


def _resume(run) -> int:
    import segtrain

    return _wait(_child(lambda: segtrain.resume(run, progress=False, report=False)))


def test_sigkill_at_random_moments_then_resume_gives_the_same_weights(setup, tmp_path):
    data, config, plan, reference, seconds = setup
    expected = _weights(reference)
    total = _rows(reference / "steps.csv")
    step_seconds = seconds / total
    rng = random.Random(0)
    killed_at = []
    for trial in range(TRIALS):
        run = tmp_path / f"run{trial}"
        pid = _train(data, run, plan, config)
        _until_run_folder(pid, run)  # the run exists from here on: kill it anywhere before its end
        target = rng.randrange(0, total - 1)  # steps recorded before the kill, then a random extra moment
        while _rows(run / "steps.csv") < target:
            assert os.waitpid(pid, os.WNOHANG)[0] == 0, "the run ended before the kill"
            time.sleep(0.002)
        time.sleep(rng.uniform(0, step_seconds))
        assert os.waitpid(pid, os.WNOHANG)[0] == 0, "the run ended before the kill"
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        last = run / "checkpoints" / "last.ckpt"
        killed_at.append(int(torch.load(last, weights_only=True)["global_step"]) if last.exists() else 0)
        assert _resume(run) == 0
        got = _weights(run)
        assert got.keys() == expected.keys()
        different = [k for k in expected if not torch.equal(expected[k], got[k])]
        assert not different, f"trial {trial} (killed after step {killed_at[-1]}): {different[:3]} differ"
        rows = (run / "steps.csv").read_text().splitlines()
        assert rows == (reference / "steps.csv").read_text().splitlines()  # the history reads as one run
        assert _epoch_scores(run) == _epoch_scores(reference)
    assert len(set(killed_at)) >= 3, f"the kills did not land at varied steps: {killed_at}"


def test_kill_during_a_checkpoint_write_leaves_a_loadable_checkpoint(setup, tmp_path):
    data, config, plan, reference, _ = setup
    run = tmp_path / "run"
    marker = tmp_path / "writing"

    def slow_third_write():
        from segtrain.runtime import rundir

        original, calls = rundir.atomic_write_bytes, []

        def write(path, payload):
            if Path(path).name == "last.ckpt":
                calls.append(path)
                if len(calls) == 3:  # half the bytes into the temporary file, then wait to be killed
                    import tempfile

                    fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=f".{Path(path).name}.", suffix=".tmp")
                    os.write(fd, payload[: len(payload) // 2])
                    marker.write_text(tmp)
                    time.sleep(600)
            return original(path, payload)

        rundir.atomic_write_bytes = write

    pid = _train(data, run, plan, config, before_write=slow_third_write)
    while not marker.exists():
        assert os.waitpid(pid, os.WNOHANG)[0] == 0
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert Path(marker.read_text()).exists()  # the interrupted write's partial file
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)  # the previous one, whole
    assert checkpoint["global_step"] >= 1
    assert _resume(run) == 0
    assert not list((run / "checkpoints").glob(".*.tmp"))
    expected, got = _weights(reference), _weights(run)
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def _copy(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to)
    return to


@pytest.mark.parametrize("args, fragment", [
    (["--lr", "0.1"], "--lr 0.1: "),
    (["--batch-size", "8"], "--batch-size 8: "),
    (["--config", "OTHER"], "model.width is 16 but"),
    (["DATA2"], "was trained on"),
])
def test_resume_refuses_a_different_run(setup, tmp_path, args, fragment):
    from helpers.cli import run_cli

    data, config, plan, reference, _ = setup
    run = _copy(reference, tmp_path / "run")
    other = tmp_path / "other.yaml"
    other.write_text("model: {width: 16, depth: 2}\n")
    args = [str(other) if a == "OTHER" else str(tmp_path) if a == "DATA2" else a for a in args]
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    result = run_cli("train", "--resume", run, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before  # nothing touched


def test_resume_extends_a_finished_run(setup, tmp_path):
    import segtrain

    data, config, plan, reference, _ = setup
    run = _copy(reference, tmp_path / "run")
    with pytest.raises(segtrain.UserError, match="the run has finished"):
        segtrain.resume(run, progress=False)
    assert _wait(_child(lambda: segtrain.resume(run, epochs=6, progress=False, report=False))) == 0
    rows = (run / "metrics.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    steps = [line.split(",") for line in (run / "steps.csv").read_text().splitlines()[1:]]
    assert len(steps) == 36 and steps[:24] == [line.split(",") for line in (reference / "steps.csv").read_text().splitlines()[1:]]
    assert float(steps[30][2]) == pytest.approx(3e-3 * 0.01)  # goes on at the cosine's end rate, lr x final_lr_fraction
