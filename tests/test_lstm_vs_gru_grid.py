"""The grid script of notebook 06: its merge keeps provenance and replaces re-run parts, and its
timing refuses to record on a busy machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import lstm_vs_gru_grid as grid  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def part(tmp_path, name, command, runs, timing=None, settings=None):
    result = {"machine": {"date": "2026-01-01T00:00:00Z", "cpu_count": 2}, "seeds": [0],
              "quick": False, "command": command, "wall_seconds": {"x": 1.0},
              "settings": settings or {}, "runs": runs, "complete": True}
    if timing is not None:
        result["timing"] = timing
        result["timing_load"] = {"before": 0.1, "after": 0.2, "max_load": 1.0, "cpu_count": 2}
    path = tmp_path / name
    path.write_text(json.dumps(result))
    return path


def test_merge_replaces_the_tasks_a_later_part_supplies_and_keeps_the_rest(tmp_path):
    adding = {"lengths": [25, 100], "steps": 800, "lr": 0.01}
    old = part(tmp_path, "old.json", "python scripts/lstm_vs_gru_grid.py --tasks adding",
               [{"task": "adding_T25", "value": 1.0}, {"task": "adding_T100", "value": 2.0},
                {"task": "sentiment", "value": 3.0}], settings={"adding": adding})
    new = part(tmp_path, "new.json",
               f"python scripts/lstm_vs_gru_grid.py --tasks adding --out {tmp_path}/new.json",
               [{"task": "adding_T100", "value": 4.0}],
               settings={"adding": {**adding, "lengths": [100], "steps_per_length": {"100": 1500}}})
    timing = part(tmp_path, "t.json", "python scripts/lstm_vs_gru_grid.py --tasks timing", [],
                  timing=[{"task": "adding_T25", "seconds_per_step": 0.001}])
    first = grid.merge([old, new])
    assert sorted((r["task"], r["value"]) for r in first["runs"]) == [
        ("adding_T100", 4.0), ("adding_T25", 1.0), ("sentiment", 3.0)]
    assert [p["supplies"] for p in first["parts"]] == [["adding_T25", "sentiment"], ["adding_T100"]]
    assert first["settings"]["adding"]["steps_per_length"] == {"25": 800, "100": 1500}
    assert str(tmp_path) not in json.dumps(first["parts"]), "a machine path was recorded"
    merged = tmp_path / "merged.json"
    merged.write_text(json.dumps(first))
    second = grid.merge([merged, timing])  # a merged file and a new part
    assert len(second["runs"]) == 3 and second["timing"][0]["seconds_per_step"] == 0.001
    assert second["parts"][-1]["supplies"] == ["timing"]
    assert second["parts"][-1]["timing_load"]["after"] == 0.2


def test_timing_refuses_to_record_on_a_busy_machine(tmp_path, monkeypatch):
    monkeypatch.setattr(grid.course, "load_average", lambda: 5.0)
    out = tmp_path / "t.json"
    with pytest.raises(SystemExit, match="load average 5.00 before timing is above 1.00"):
        grid.main(["--quick", "--tasks", "timing", "--max-load", "1", "--out", str(out)])
    assert not out.exists()


def test_timing_is_not_saved_when_the_load_rose_while_it_ran(tmp_path, monkeypatch):
    loads = iter([0.1, 0.1, 5.0, 5.0])  # quiet at the start, busy at the end
    monkeypatch.setattr(grid.course, "load_average", lambda: next(loads))
    out = tmp_path / "t.json"
    with pytest.raises(SystemExit, match="after timing is above"):
        grid.main(["--quick", "--tasks", "timing", "--max-load", "1", "--out", str(out)])
    assert not out.exists() or "timing" not in json.loads(out.read_text())


def test_sentiment_runs_split_the_sentences_as_notebook_07_does():
    """The grid ranks on validation sentences; 07's test sentences must not be among its
    training or validation sentences, so both split with 07's seed."""
    import re

    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "07-sentiment.ipynb", as_version=4)
    seed = int(re.search(r"^SPLIT_SEED = (\d+)", nb.cells[1].source, re.M)[1])
    assert grid.SENTIMENT["split_seed"] == seed
    recorded = json.loads((ROOT / "results" / "lstm-vs-gru-grid.json").read_text())
    assert recorded["settings"]["sentiment"]["split_seed"] == seed
