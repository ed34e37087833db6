import math

from segtrain.diagnosis.history import RunHistory, column, has_column, parse_number, read_events, read_table

OLD_HEADER = "epoch,step,train_loss,val_loss,val_dice,val_iou,lr,seconds,train_seconds"


def test_parse_number_cells():
    assert parse_number("0.5") == 0.5
    assert parse_number("inf") == math.inf and parse_number("-inf") == -math.inf
    for cell in ("", "nan", "NaN", "abc", None):
        assert math.isnan(parse_number(cell))


def test_load_round_trip(tmp_path, healthy, run_writer):
    loaded = RunHistory.load(run_writer(tmp_path / "run", healthy), meta={"lr": 1e-3})
    assert len(loaded.epochs) == 30 and len(loaded.steps) == 300 and len(loaded.grads) == 30
    assert loaded.epochs[0]["epoch"] == 1 and isinstance(loaded.epochs[0]["epoch"], int)
    assert isinstance(loaded.steps[5]["step"], int)
    assert math.isclose(loaded.epochs[3]["val_loss"], healthy.epochs[3]["val_loss"])
    assert loaded.group_names == ["enc0", "enc1", "enc2", "enc3", "dec2", "dec1", "dec0", "head"]
    assert loaded.events_of("stop")[0]["reason"] == "planned end"
    assert loaded.meta == {"lr": 1e-3}
    assert loaded.num_epochs == 30 and loaded.num_steps == 300


def test_missing_folder_and_files_give_an_empty_history(tmp_path):
    history = RunHistory.load(tmp_path / "nothing")
    assert history == RunHistory()
    assert history.num_epochs == 0 and history.num_steps == 0 and history.group_names == []


def test_empty_and_header_only_files(tmp_path):
    (tmp_path / "metrics.csv").write_text("")
    (tmp_path / "steps.csv").write_text("step,epoch,lr,loss\n")
    history = RunHistory.load(tmp_path)
    assert history.epochs == [] and history.steps == []


def test_nan_and_empty_cells(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(f"{OLD_HEADER}\n1,10,0.5,nan,,0.4,1e-3,1,1\n2,20,inf,-inf,NaN,0.5,1e-3,1,1\n")
    rows = read_table(path, "epoch")
    assert math.isnan(rows[0]["val_loss"]) and math.isnan(rows[0]["val_dice"])
    assert rows[1]["train_loss"] == math.inf and rows[1]["val_loss"] == -math.inf
    assert math.isnan(rows[1]["val_dice"])


def test_old_runs_lack_columns(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(f"{OLD_HEADER}\n1,10,0.5,0.4,0.6,0.4,1e-3,1,1\n")
    rows = read_table(path, "epoch")
    assert "data_share" not in rows[0]
    assert math.isnan(column(rows, "data_share")[0])
    assert not has_column(rows, "data_share") and has_column(rows, "val_dice")


def test_truncated_last_line_is_ignored(tmp_path):
    path = tmp_path / "steps.csv"
    path.write_text("step,epoch,lr,loss,grad_norm\n1,1,0.001,0.69,1.2\n2,1,0.001,0.6")
    rows = read_table(path, "step")
    assert [r["step"] for r in rows] == [1]


def test_row_without_a_key_is_skipped(tmp_path):
    path = tmp_path / "steps.csv"
    path.write_text("step,epoch,lr,loss\n,1,0.001,0.69\n2,,0.001,0.6\n")
    rows = read_table(path, "step")
    assert [r["step"] for r in rows] == [2] and rows[0]["epoch"] is None


def test_events_with_nan_unknown_kinds_and_a_truncated_line(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"kind": "nonfinite", "step": 3, "epoch": 1, "loss": NaN, "lr": Infinity}\n'
        '\n'
        '{"kind": "future_kind", "step": 4}\n'
        '[1, 2]\n'
        '{"no_kind": 1}\n'
        '{"kind": "stop", "step": 5, "rea'
    )
    events = read_events(path)
    assert [e["kind"] for e in events] == ["nonfinite", "future_kind"]
    assert math.isnan(events[0]["loss"]) and events[0]["lr"] == math.inf


def test_column_fills_missing_values_with_nan():
    rows = [{"a": 1.0}, {"b": 2.0}, {"a": None}]
    values = column(rows, "a")
    assert values[0] == 1.0 and math.isnan(values[1]) and math.isnan(values[2])
    assert column([], "a") == []
