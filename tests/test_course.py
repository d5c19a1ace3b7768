"""rnnlib.course: set-up (threads, device, smoke) and report."""

import json

import pytest
import torch

import rnnlib
from rnnlib import course


def test_cpu_quota_reads_cgroup_v2(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert course.cpu_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert course.cpu_quota(tmp_path) is None


def test_cpu_quota_reads_cgroup_v1(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert course.cpu_quota(tmp_path) == 1.0


def test_usable_cpus_respects_a_one_cpu_quota_on_a_big_host(monkeypatch):
    monkeypatch.setattr(course.os, "sched_getaffinity", lambda pid: set(range(64)))
    monkeypatch.setattr(course, "cpu_quota", lambda: 1.0)
    assert course.usable_cpus() == 1
    monkeypatch.delenv("RNNLIB_THREADS", raising=False)
    assert course.choose_threads() == 1


def test_threads_default_to_half_the_usable_cpus_at_most_four(monkeypatch):
    monkeypatch.delenv("RNNLIB_THREADS", raising=False)
    for cpus, threads in [(1, 1), (2, 1), (6, 3), (64, 4)]:
        monkeypatch.setattr(course, "usable_cpus", lambda c=cpus: c)
        assert course.choose_threads() == threads


def test_rnnlib_threads_overrides_and_is_validated(monkeypatch):
    monkeypatch.setenv("RNNLIB_THREADS", "3")
    assert course.choose_threads(requested=1) == 3
    monkeypatch.setenv("RNNLIB_THREADS", "lots")
    with pytest.raises(ValueError, match="RNNLIB_THREADS should be a whole number"):
        course.choose_threads()


def test_smoke_mode_from_parameter_or_environment(monkeypatch):
    monkeypatch.delenv("RNNLIB_SMOKE", raising=False)
    assert course.smoke_mode(False) is False and course.smoke_mode(True) is True
    monkeypatch.setenv("RNNLIB_SMOKE", "1")
    assert course.smoke_mode(False) is True
    monkeypatch.setenv("RNNLIB_SMOKE", "maybe")
    with pytest.raises(ValueError, match="RNNLIB_SMOKE should be 1 or 0"):
        course.smoke_mode()


def test_device_choice_is_explicit(monkeypatch):
    monkeypatch.delenv("RNNLIB_DEVICE", raising=False)
    assert course.choose_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="device should be one of"):
        course.choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            course.choose_device("cuda")
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
        assert course.choose_device("auto") == torch.device("cpu")


def test_setup_seeds_sets_threads_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("RNNLIB_SMOKE", "1")
    monkeypatch.setenv("RNNLIB_THREADS", "1")
    session = rnnlib.setup("99-test", seed=3, device="cpu")
    first = torch.rand(3)
    rnnlib.setup("99-test", seed=3, device="cpu")
    assert torch.equal(first, torch.rand(3))
    assert session.smoke and session.quiet and torch.get_num_threads() == 1
    line = capsys.readouterr().out.splitlines()[0]
    assert "device: cpu" in line and "torch threads: 1" in line and "SMOKE: tiny sizes" in line
    assert course.current().notebook == "99-test"


def test_setup_line_of_a_learners_run_names_no_mode(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_SMOKE", raising=False)
    monkeypatch.setenv("RNNLIB_THREADS", "1")
    rnnlib.setup("99-test", seed=0, device="cpu")
    line = capsys.readouterr().out.splitlines()[0]
    assert line.endswith("| seed 0") and "mode" not in line and "SMOKE" not in line


def test_report_prints_a_table_and_appends_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNLIB_RESULTS", str(tmp_path / "results.jsonl"))
    rnnlib.setup("07-sentiment", device="cpu", verbose=False)
    rnnlib.report({"sentiment_test_accuracy": torch.tensor(0.8125)})
    rnnlib.report({"a": 1, "b": 2.5})
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert first["sentiment_test_accuracy"] == 0.8125 and first["notebook"] == "07-sentiment"
    assert json.loads(lines[1])["b"] == 2.5 and len(lines) == 2
    assert "sentiment_test_accuracy  0.8125" in capsys.readouterr().out


def test_report_rejects_bad_figures():
    with pytest.raises(TypeError, match="non-empty mapping"):
        rnnlib.report({})
    with pytest.raises(TypeError, match="should be a number"):
        rnnlib.report({"x": "high"})
    with pytest.raises(ValueError, match="identifiers"):
        rnnlib.report({"val loss": 1.0})


def test_benchmarks_refuse_to_time_on_a_busy_machine_and_name_the_load(monkeypatch):
    monkeypatch.setattr(course.os, "getloadavg", lambda: (3.5, 2.0, 1.0))
    with pytest.raises(SystemExit, match="load average 3.50 before timing is above 1.00"):
        course.require_quiet_machine(1.0)
    assert course.require_quiet_machine(4.0) == "load average before: 3.50"
    monkeypatch.setattr(course.os, "getloadavg", lambda: (0.2, 0.1, 0.1))
    monkeypatch.setattr(course.os, "cpu_count", lambda: 2)
    assert course.require_quiet_machine() == "load average before: 0.20"  # limit: 2 CPUs / 2


def test_repo_file_finds_repository_files_from_any_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a notebook in notebooks/zh-CN/ or student/ runs elsewhere
    assert course.repo_file("requirements.txt").read_text().startswith("#")
    assert course.repo_file("results/seq2seq-grid.json").is_file()
    with pytest.raises(ValueError, match="relative to the repository's root"):
        course.repo_file(str(tmp_path / "x.json"))
    with pytest.raises(TypeError, match="relative should be a path"):
        course.repo_file(3)
