"""rnnlib.parallel: minGRU and minLSTM, the log-space scan proven equal to the step-by-step form."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from rnnlib import parallel
from rnnlib.parallel import MinGRU, MinLSTM

MODELS = [MinGRU, MinLSTM]


def float64_model(cls, input_size=5, hidden_size=7, seed=0):
    torch.manual_seed(seed)
    return cls(input_size, hidden_size).double()


def grads(output, inputs):
    return torch.autograd.grad((output * torch.linspace(-1, 2, output.numel(), dtype=output.dtype)
                                .reshape(output.shape)).sum(), inputs)


def test_g_is_continuous_positive_and_linear_above_zero():
    x = torch.tensor([-30.0, -2.0, -1e-6, 0.0, 1e-6, 3.0, 100.0], dtype=torch.float64)
    y = parallel.g(x)
    assert (y > 0).all()
    assert_close(y[3], torch.tensor(0.5, dtype=torch.float64))
    assert abs(y[2] - y[4]) < 1e-5                                   # continuous at 0
    assert_close(y[5:], x[5:] + 0.5)
    assert_close(y[:2], torch.sigmoid(x[:2]))


def test_log_g_equals_log_of_g_and_has_finite_gradients_everywhere():
    x = torch.linspace(-40, 40, 801, dtype=torch.float64, requires_grad=True)
    assert_close(parallel.log_g(x), parallel.g(x).log())
    (grad,) = torch.autograd.grad(parallel.log_g(x).sum(), x)
    assert torch.isfinite(grad).all()


def test_log_space_scan_equals_the_loop_with_and_without_h0():
    torch.manual_seed(1)
    a = torch.rand(50, 3, 4, dtype=torch.float64) * 0.98 + 0.01
    b = torch.rand(50, 3, 4, dtype=torch.float64) + 0.01
    h0 = torch.rand(3, 4, dtype=torch.float64) + 0.1
    assert_close(parallel.log_space_scan(a.log(), b.log()), parallel.linear_recurrence(a, b),
                 rtol=1e-12, atol=1e-12)
    assert_close(parallel.log_space_scan(a.log(), b.log(), h0.log()),
                 parallel.linear_recurrence(a, b, h0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero-h0", "positive-h0"])
def test_parallel_equals_sequential_outputs_and_gradients_float64(cls, with_h0):
    model = float64_model(cls)
    x = torch.randn(200, 3, 5, dtype=torch.float64, requires_grad=True)
    h0 = (torch.rand(3, 7, dtype=torch.float64) + 0.1).requires_grad_() if with_h0 else None
    seq, seq_last = model(x, h0, mode="sequential")
    par, par_last = model(x, h0, mode="parallel")
    assert seq.shape == par.shape == (200, 3, 7) and par_last.shape == (3, 7)
    assert_close(par, seq, rtol=1e-10, atol=1e-12)
    assert_close(par_last, par[-1])
    leaves = [x, *model.parameters()] + ([h0] if with_h0 else [])
    for got, expected in zip(grads(par, leaves), grads(seq, leaves), strict=True):
        assert_close(got, expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_parallel_equals_sequential_float32_long_sequence(cls):
    torch.manual_seed(0)
    model = cls(16, 32)
    x = torch.randn(2048, 2, 16)
    seq, _ = model(x, mode="sequential")
    par, _ = model(x, mode="parallel")
    # The scan subtracts two large logs (log A_t ~ -t): float32 loses a few digits at long T.
    assert_close(par, seq, rtol=2e-3, atol=1e-4)


def test_mingru_step_is_the_equation():
    torch.manual_seed(0)
    k_z, k_h, h = torch.randn(3, 4, 6).unbind(0)
    z = torch.sigmoid(k_z)
    expected = (1 - z) * h + z * parallel.g(k_h)
    assert_close(parallel.mingru_step(k_z, k_h, h), expected)


def test_minlstm_gates_are_normalised():
    torch.manual_seed(0)
    k_f, k_i, k_h = torch.randn(3, 4, 6).unbind(0)
    ones = torch.ones(4, 6)
    # With h = g(k_h) the state cannot move: h' = (f' + i') h = h.
    assert_close(parallel.minlstm_step(k_f, k_i, k_h, parallel.g(k_h)), parallel.g(k_h))
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    assert_close(f / (f + i) + i / (f + i), ones)


def test_parameter_counts():
    assert sum(p.numel() for p in MinGRU(10, 20).parameters()) == 2 * 20 * (10 + 1)
    assert sum(p.numel() for p in MinLSTM(10, 20).parameters()) == 3 * 20 * (10 + 1)


def test_mingru_gates_ignore_the_hidden_state():
    """The defining property: the output at t does not depend on h0 through the gates, only
    through the product of (1 - z): changing h0 shifts h_t by A_t (h0' - h0), exactly."""
    model = float64_model(MinGRU)
    x = torch.randn(20, 3, 5, dtype=torch.float64)
    h0 = torch.rand(3, 7, dtype=torch.float64) + 0.1
    out0, _ = model(x, h0)
    out1, _ = model(x, 2 * h0)
    k_z, _ = torch.nn.functional.linear(x, model.weight, model.bias).chunk(2, dim=-1)
    A = torch.cumprod(1 - torch.sigmoid(k_z), dim=0)
    assert_close(out1 - out0, A * h0, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_bad_input_and_state_give_clear_errors(cls):
    model = cls(5, 7)
    with pytest.raises(ValueError, match=r"expected input of shape \(T, B, 5\).*got \(4, 5\)"):
        model(torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(3, 7\)"):
        model(torch.randn(4, 3, 5), torch.ones(7))
    with pytest.raises(ValueError, match="positive h0"):
        model(torch.randn(4, 3, 5), -torch.ones(3, 7))
    with pytest.raises(ValueError, match="mode should be"):
        model(torch.randn(4, 3, 5), mode="scan")
    out, _ = model(torch.randn(4, 3, 5), -torch.ones(3, 7), mode="sequential")
    assert out.shape == (4, 3, 7)                      # any h0 is fine step by step


def test_scan_speed_bench_prints_a_table_and_ends_with_the_ratio(tmp_path):
    import json
    import re
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "gpu-test.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "scan_speed.py"), "--lengths",
                          "32,64", "--batch", "2", "--hidden", "8", "--repeats", "1",
                          "--json", str(out), "--max-load", "1000"],  # a format check, no timing
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert re.fullmatch(r"ratio sequential/parallel minGRU at T=64: \d+\.\d\d", lines[-1])
    assert any(line.split()[:1] == ["32"] for line in lines)
    record = json.loads(out.read_text())
    assert [row["T"] for row in record["rows"]] == [32, 64]
    assert record["headline"]["T"] == 64
