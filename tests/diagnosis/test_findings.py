import json

import pytest

from segtrain.diagnosis.findings import Finding, read_findings, write_findings


def _finding(**overrides) -> Finding:
    fields = dict(code="overfitting", severity="warning", message="validation loss rose (0.21 -> 0.35)",
                  fix="stop earlier", evidence={"val_min": 0.21, "epochs": [12, 16]}, epoch=13, step=None)
    fields.update(overrides)
    return Finding(**fields)


def test_round_trip_through_dict_and_json():
    finding = _finding()
    again = Finding.from_dict(json.loads(json.dumps(finding.to_dict())))
    assert again == finding


def test_to_dict_copies_the_evidence():
    finding = _finding()
    d = finding.to_dict()
    d["evidence"]["val_min"] = 99
    assert finding.evidence["val_min"] == 0.21


def test_from_dict_ignores_unknown_keys_and_defaults():
    finding = Finding.from_dict({"code": "x", "severity": "info", "message": "m", "extra": 1})
    assert finding == Finding("x", "info", "m", "", {})


def test_format_shows_severity_code_message_and_fix():
    assert _finding().format() == "warning [overfitting] validation loss rose (0.21 -> 0.35)\n  fix: stop earlier"
    assert _finding(fix="").format() == "warning [overfitting] validation loss rose (0.21 -> 0.35)"


def test_unknown_severity_is_refused():
    with pytest.raises(ValueError, match="severity"):
        _finding(severity="fatal")


def test_findings_are_frozen():
    with pytest.raises(AttributeError):
        _finding().code = "other"


def test_findings_are_hashable():
    assert len({_finding(), _finding(), _finding(code="other")}) == 2


def test_write_then_read(tmp_path):
    path = tmp_path / "findings.json"
    findings = [_finding(), _finding(code="lr_too_high", severity="error", step=2, epoch=None)]
    write_findings(path, findings)
    assert read_findings(path) == findings
    assert [p.name for p in tmp_path.iterdir()] == ["findings.json"]  # no temporary file left


def test_write_replaces_an_existing_file(tmp_path):
    path = tmp_path / "findings.json"
    write_findings(path, [_finding()])
    write_findings(path, [])
    assert read_findings(path) == []
    assert json.loads(path.read_text()) == []


def test_read_missing_file_is_empty(tmp_path):
    assert read_findings(tmp_path / "absent.json") == []


def test_read_malformed_file_raises(tmp_path):
    path = tmp_path / "findings.json"
    path.write_text('{"code": "x"}')
    with pytest.raises(ValueError):
        read_findings(path)
    path.write_text('[{"message": "no code"}]')
    with pytest.raises(ValueError):
        read_findings(path)
