"""This machine's memory measurements are kept between plans, keyed by what they depend on."""

from __future__ import annotations

import subprocess

import pytest

from segtrain.config import ModelConfig
from segtrain.planning import batch, machine_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGTRAIN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _fake_probe(peaks, calls):
    def run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 0, stdout=__import__("json").dumps(peaks) + "\n", stderr="")
    return run


def test_second_plan_reads_the_first_measurement(cache, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", _fake_probe({"1": 300 << 20, "2": 310 << 20, "4": 330 << 20}, calls))
    first = batch.measure_cpu_memory(3, 2, ModelConfig(width=8, depth=2), 64, False, False)
    second = batch.measure_cpu_memory(3, 2, ModelConfig(width=8, depth=2), 64, False, False)
    assert len(calls) == 1 and not first.from_cache and second.from_cache
    assert (second.fixed, second.per_sample) == (first.fixed, first.per_sample) == (290 << 20, 10 << 20)
    other = batch.measure_cpu_memory(3, 2, ModelConfig(width=8, depth=2), 128, False, False)  # another patch
    assert len(calls) == 2 and not other.from_cache
    assert (cache / "memory.json").exists()


def test_cache_off_or_unreadable_measures_again(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", _fake_probe({"1": 1, "2": 2, "4": 4}, calls))
    monkeypatch.setenv("SEGTRAIN_CACHE_DIR", "off")
    for _ in range(2):
        batch.measure_cpu_memory(1, 2, ModelConfig(), 32, False, False)
    assert len(calls) == 2 and machine_cache.cache_dir() is None
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "memory.json").write_text("{not json")
    monkeypatch.setenv("SEGTRAIN_CACHE_DIR", str(broken))
    assert machine_cache.load("anything") is None
    batch.measure_cpu_memory(1, 2, ModelConfig(), 32, False, False)  # measures, then replaces the broken file
    assert len(calls) == 3 and machine_cache.load(next(iter(__import__("json").loads((broken / "memory.json").read_text())))) == {1: 1, 2: 2, 4: 4}


def test_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("SEGTRAIN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert machine_cache.cache_dir() == tmp_path / "segtrain"
