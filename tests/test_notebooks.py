"""Every notebook runs, twice: under nbval (stored outputs compared) and under papermill
(parameters injected, then assertions on what it produced). Smoke mode, one torch thread.
"""

from __future__ import annotations

import math

import nbformat
import pytest
from notebook_harness import notebooks, run_nbval, run_papermill, text_outputs

# Longest first, so that the two xdist workers finish together.
NOTEBOOKS = sorted(notebooks(), key=lambda p: -p.stat().st_size)
IDS = [p.stem for p in NOTEBOOKS]

# What each training notebook must report (COURSE.md §6), checked in the papermill run.
REPORTED = {
    "02-rnn": ["rnn_char_val_loss_nats"],
    "03-gradients": ["adding_T{}_mse_rnn"],
    "04-lstm": ["lstm_char_val_loss_nats"],
    "05-gru": ["gru_char_val_loss_nats"],
    "06-lstm-vs-gru": ["adding_T{}_mse_rnn", "adding_T{}_mse_lstm", "adding_T{}_mse_gru"],
    "07-sentiment": ["sentiment_test_accuracy", "sentiment_vs_bow_mcnemar_p",
                     "sentiment_order_subset_accuracy", "sentiment_bow_order_subset_accuracy"],
    "08-char-lm": ["charlm_val_loss_nats", "charlm_test_loss_nats"],
    "09-beyond": ["sunspots_rmse", "sunspots_persistence_rmse", "sunspots_ar_rmse",
                  "vowels_test_accuracy"],
    "10-efficiency": ["efficiency_scan_seq_over_par_T{}"],
    "11-seq2seq": ["seq2seq_dates_test_exact", "seq2seq_reverse_test_exact_attention",
                   "seq2seq_reverse_test_exact_plain"],
}


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_outputs_match_under_nbval(path):
    result = run_nbval(path)
    assert result.returncode == 0, f"nbval failed on {path.name}:\n{result.stdout[-6000:]}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_under_papermill_with_injected_parameters(path, tmp_path):
    run = run_papermill(path, tmp_path)
    assert run.error is None, f"papermill failed on {path.name}: {run.error[-6000:]}"
    cells = [c for c in run.notebook.cells if c.cell_type == "code"]
    injected = [c for c in cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "SMOKE = True" in injected[0].source
    assert all(c.execution_count is not None for c in cells), "a code cell did not run"
    setup_output = next(text_outputs(c) for c in cells if "rnnlib.setup(" in c.source)
    assert "SMOKE: tiny sizes" in setup_output and "device:" in setup_output, setup_output
    for key_pattern in REPORTED.get(path.stem, []):
        keys = [k for r in run.reports for k in r if _matches(key_pattern, k)]
        assert keys, f"{path.name} reported no {key_pattern!r}; reports: {run.reports}"
        for report in run.reports:
            for key in keys:
                if key in report:
                    assert math.isfinite(report[key]) and report["smoke"] is True


def _matches(pattern: str, key: str) -> bool:
    if "{}" not in pattern:
        return key == pattern
    head, tail = pattern.split("{}")
    middle = key[len(head):len(key) - len(tail)]
    return key.startswith(head) and key.endswith(tail) and middle.isdigit()


def _write_notebook(tmp_path, name, *sources):
    """A throwaway notebook: a parameters cell, then one code cell per source."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
                *(nbformat.v4.new_code_cell(source) for source in sources)]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    (tmp_path / "out").mkdir()
    return path


def test_a_cell_that_raises_fails_under_nbval_and_papermill(tmp_path):
    path = _write_notebook(tmp_path, "broken", "print('before')",
                           "raise ValueError('this cell is broken')")
    nbval = run_nbval(path)
    assert nbval.returncode != 0 and "this cell is broken" in nbval.stdout
    run = run_papermill(path, tmp_path / "out")
    assert run.error is not None and "this cell is broken" in run.error


def test_notebook_kernels_are_offline(tmp_path):
    path = _write_notebook(tmp_path, "online", "import socket\n"
                           "socket.create_connection(('10.255.255.1', 80), timeout=1)")
    run = run_papermill(path, tmp_path / "out")
    assert run.error is not None and "network access blocked" in run.error
