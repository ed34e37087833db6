"""The typed run record: what every checkpoint saves as ``"segtrain"`` and what the diagnosis is handed."""

import json

from segtrain.config import save_config
from segtrain.config.schema import SegtrainConfig
from segtrain.planning.plan import TrainingPlan
from segtrain.runtime.record import DIAGNOSIS_FACTS, RunRecord
from segtrain.runtime.rundir import RunDir

PLAN = {"patch_size": 64, "lr": 3e-3, "total_steps": 120, "warmup_steps": 6, "accumulate": 2, "batch_size": 8,
        "num_workers": 3, "precision": "bf16-mixed", "epochs": 12,
        "memory": {"per_sample_mb": 10.0, "fixed_mb": 100.0, "available_mb": 8000, "allowed_mb": 4000}}


def _config(**train) -> SegtrainConfig:
    cfg = SegtrainConfig()
    cfg.model.width, cfg.model.depth = 24, 3
    cfg.data.num_classes, cfg.data.class_names = 3, ["bg", "cell", "nucleus"]
    for name, value in {"batch_size": 8, "num_workers": 3, "lr": 3e-3, "patch_size": 64, "precision": "bf16-mixed",
                        **train}.items():
        setattr(cfg.train, name, value)
    return cfg


def _trained() -> RunRecord:
    labels = {"label_mapping": {0: 0, 1: 1, 2: 2}, "colour_masks": False, "class_names": ["bg", "cell", "nucleus"],
              "multilabel": None}
    return RunRecord.from_config(_config(), PLAN, in_channels=1, num_classes=3, mode="multiclass",
                                 class_weights=[0.5, 1.0, 2.0], **labels)


def test_record_from_config_and_plan_holds_every_fact():
    record = _trained()
    assert (record.in_channels, record.num_classes, record.mode) == (1, 3, "multiclass")
    assert (record.patch_size, record.lr, record.total_steps, record.warmup_steps, record.accumulate) == (
        64, 3e-3, 120, 6, 2)
    assert (record.batch_size, record.num_workers, record.precision) == (8, 3, "bf16-mixed")
    assert (record.width, record.depth, record.max_epochs, record.memory_allowed_mb) == (24, 3, 12, 4000.0)
    assert record.threshold == 0.5 and record.version
    assert record.config["model"]["width"] == 24
    facts = record.diagnosis_facts()
    assert set(facts) == set(DIAGNOSIS_FACTS)
    assert all(facts[name] is not None for name in DIAGNOSIS_FACTS)
    assert facts["class_names"] == ["bg", "cell", "nucleus"]


def test_to_dict_round_trips_and_keeps_the_checkpoint_keys():
    record = _trained()
    data = record.to_dict()
    for key in ("version", "config", "in_channels", "num_classes", "mode", "label_mapping", "colour_masks",
                "class_names", "multilabel", "class_weights", "threshold", "patch_size", "lr", "total_steps",
                "warmup_steps", "accumulate"):  # what checkpoints always held: the predictor reads these
        assert key in data, key
    assert data["label_mapping"] == {0: 0, 1: 1, 2: 2}
    assert RunRecord.from_dict(data) == record
    assert RunRecord.from_dict(data).to_dict() == data


def test_a_checkpoint_from_before_the_record_reads_with_its_facts_from_the_config():
    old = {key: value for key, value in _trained().to_dict().items()
           if key not in ("batch_size", "num_workers", "precision", "width", "depth", "max_epochs",
                          "memory_allowed_mb")}
    record = RunRecord.from_dict(old)
    assert (record.batch_size, record.num_workers, record.precision, record.width, record.depth) == (
        8, 3, "bf16-mixed", 24, 3)
    assert record.lr == 3e-3 and record.num_classes == 3 and record.memory_allowed_mb is None


def test_from_dict_tolerates_missing_and_unknown_keys():
    assert RunRecord.from_dict({}) == RunRecord()
    assert RunRecord.from_dict({}).diagnosis_facts()["batch_size"] is None
    record = RunRecord.from_dict({"num_classes": 2, "config": {"data": {"label_mapping": {"0": 0, "255": 1}}},
                                  "future_key": [1, 2]})
    assert record.label_mapping == {0: 0, 255: 1}
    assert record.extra == {"future_key": [1, 2]}
    assert record.to_dict()["future_key"] == [1, 2]  # read and written again, nothing is lost


def test_from_config_takes_a_training_plan_too():
    plan = TrainingPlan()
    for name, value in PLAN.items():
        plan.set(name, value, "test")
    plan.set("epochs", -1, "until the budget is used")
    record = RunRecord.from_config(_config(), plan, in_channels=1, num_classes=3)
    assert record.batch_size == 8 and record.accumulate == 2 and record.memory_allowed_mb == 4000.0
    assert record.max_epochs is None  # a budget run has no planned number of epochs


def test_from_run_rebuilds_the_facts_training_had(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    assert RunRecord.from_run(run) == RunRecord()  # no config.yaml: nothing known
    save_config(_config(), run.config)
    assert RunRecord.from_run(run).diagnosis_facts()["batch_size"] == 8  # no plan.json: the config's values
    run.plan.write_text(json.dumps(PLAN))
    rebuilt, trained = RunRecord.from_run(run).diagnosis_facts(), _trained().diagnosis_facts()
    assert rebuilt == trained
