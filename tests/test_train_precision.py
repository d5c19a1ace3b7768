"""Mixed precision in ``fit``: what runs is probed, and the choice follows from it.

Whether ``nn.LSTM`` runs under CPU autocast depends on the CPU (oneDNN's bf16 LSTM needs
AVX512), so every decision is tested in both branches with a stubbed probe, and the real
probe is checked against the real kernel on whatever CPU runs the tests. ``.ci/run`` runs
this file a second time under an emulated AVX2-only CPU (``-m precision``), so both real
branches run in CI on any machine.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import warnings

import pytest
import torch
from torch import nn

from rnnlib.train import fit, precision
from rnnlib.train.precision import LayerRun, Precision, choose

pytestmark = pytest.mark.precision
CUDA = torch.device("cuda")  # only its .type is read: choose() runs on a CPU here
CPU = torch.device("cpu")
QUIET = {"device": "cpu", "quiet": True, "seed": 0}


class LSTMRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 12, batch_first=True)
        self.out = nn.Linear(12, 1)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(h[:, -1]).squeeze(-1)


def data(n: int = 64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, 3, generator=g)
    return [(x[i:i + 16], x[i:i + 16, :, 0].sum(dim=1)) for i in range(0, n, 16)]


def stub(**dtypes):
    """A probe that reports each amp name's result for one LSTM layer called "lstm":
    a dtype, or an error string."""
    def runs(name: str) -> list[LayerRun]:
        result = dtypes[name]
        if isinstance(result, str):
            return [LayerRun("lstm", "LSTM", None, result)]
        return [LayerRun("lstm", "LSTM", result)]
    return runs


def lstm_runs_under_autocast(dtype: torch.dtype) -> bool:
    """The ground truth, without the probe: nn.LSTM forward and backward under autocast."""
    lstm = nn.LSTM(3, 4)
    try:
        with torch.autocast("cpu", dtype=dtype):
            out, _ = lstm(torch.randn(5, 2, 3))
        out.float().sum().backward()
    except RuntimeError:
        return False
    return True


# -- The real probe, on this CPU ----------------------------------------------------------------

@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_probe_of_nn_lstm_agrees_with_running_it_on_this_cpu(amp):
    """Either branch, as this CPU has it: on an AVX2-only CPU (or under the emulation that
    .ci/run uses) the bf16 LSTM fails and the probe says so; with AVX512 both run."""
    [run] = precision.probe(LSTMRegressor(), amp, CPU)
    assert run.layer == "lstm" and run.kind == "LSTM"
    assert run.ran == lstm_runs_under_autocast(precision.DTYPES[amp])
    if run.ran:
        assert run.dtype == precision.DTYPES[amp]
    else:
        assert run.dtype is None and "primitive" in run.error


def test_probe_of_nn_gru_under_bf16_reports_bf16_products_though_its_output_is_float32():
    """CPU autocast runs nn.GRU's matrix products (aten.addmm) in bf16 and hands back float32:
    the probe reports what ran, not the output's dtype. Nested layers are found by name."""
    model = nn.ModuleDict({"encoder": nn.Sequential(nn.GRU(3, 4)), "head": nn.Linear(4, 1)})
    [run] = precision.probe(model, "bf16", CPU)
    assert (run.layer, run.kind, run.dtype, run.output, run.error) == (
        "encoder.0", "GRU", torch.bfloat16, torch.float32, None)
    assert "addmm" in run.kernel and "products in bfloat16" in str(run)
    assert precision.probe(nn.GRU(8, 16), "bf16", "cpu")[0].dtype == torch.bfloat16


def test_probe_of_nn_rnn_reports_its_products_in_the_autocast_dtype():
    for amp in ("bf16", "fp16"):
        [run] = precision.probe(nn.RNN(3, 4), amp, CPU)
        assert run.ran and run.dtype == precision.DTYPES[amp] and "addmm" in run.kernel


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_only_the_padded_lstm_takes_onednn_the_packed_one_runs_its_products_on_any_cpu(amp):
    """Both branches on whatever CPU runs this (and under .ci/run's AVX2 emulation): the padded
    nn.LSTM is oneDNN's fused kernel and runs only where oneDNN has it; a packed batch of
    unequal lengths runs step by step, its products in the autocast dtype, everywhere."""
    padded, packed = precision.probe(LSTMRegressor(), amp, CPU, packed=True)
    assert (padded.path, packed.path) == ("padded", "packed")
    assert padded.ran == lstm_runs_under_autocast(precision.DTYPES[amp])
    if padded.ran:
        assert padded.kernel == "mkldnn_rnn_layer" and padded.dtype == precision.DTYPES[amp]
    assert packed.ran and packed.dtype == precision.DTYPES[amp] and "addmm" in packed.kernel
    assert "mkldnn" not in packed.kernel and packed.output == torch.float32


def test_probe_leaves_no_gradients_and_no_change_in_the_random_numbers():
    model = nn.LSTM(3, 5, num_layers=2, dropout=0.5)  # dropout draws random numbers
    torch.manual_seed(1)
    expected = torch.rand(3)
    torch.manual_seed(1)
    precision._probed.clear()
    precision.probe(model, "bf16", CPU)
    assert torch.equal(torch.rand(3), expected)
    assert all(p.grad is None for p in model.parameters())


# -- fit on this CPU: both branches of the LSTM under bf16 ----------------------------------------

def test_fit_with_amp_bf16_trains_an_lstm_in_bf16_or_falls_back_saying_why():
    """The real thing on this CPU: bf16 where oneDNN runs it, else float32 with a warning."""
    model = LSTMRegressor()
    dtypes = []
    model.lstm.register_forward_hook(lambda m, i, out: dtypes.append(out[0].dtype))
    runs = lstm_runs_under_autocast(torch.bfloat16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(model, data(), loss_fn=nn.MSELoss(), lr=2e-2, epochs=3, amp="bf16",
                      **QUIET)
    warned = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if runs:
        assert history.settings["amp"] == "bf16" and set(dtypes) == {torch.bfloat16}
        assert not warned
    else:
        assert history.settings["amp"] is None and set(dtypes) == {torch.float32}
        assert len(warned) == 1 and "nn.LSTM 'lstm'" in warned[0] and "AVX512" in warned[0]
    assert history.settings["amp_asked"] == "bf16"
    assert all(math.isfinite(x) for x in history.loss)
    assert history.train_loss[-1] < history.train_loss[0]


def test_fit_falls_back_to_float32_naming_the_layer_the_cpu_and_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(precision, "probe",
                        lambda model, amp, device, **kw: stub(bf16="could not create a primitive "
                                                              "descriptor")(amp))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    model = LSTMRegressor()
    with pytest.warns(RuntimeWarning) as caught:
        history = fit(model, data(), loss_fn=nn.MSELoss(), epochs=1, amp="bf16",
                      **{**QUIET, "quiet": False})
    message = str(caught[0].message)
    for fragment in ("amp='bf16' was asked", "nn.LSTM 'lstm'", "AVX512", "AVX2",
                     "float32 instead", "amp=None"):
        assert fragment in message, message
    assert history.settings["amp"] is None
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("fit: cpu") and "float32 (amp='bf16' was asked" in line


def test_fit_uses_bf16_where_the_probe_says_every_layer_runs(monkeypatch):
    monkeypatch.setattr(precision, "probe",
                        lambda model, amp, device, **kw: [LayerRun("gru", "GRU", torch.bfloat16)])

    class GRURegressor(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 8, batch_first=True)
            self.out = nn.Linear(8, 1)

        def forward(self, x):
            return self.out(self.gru(x)[0][:, -1]).squeeze(-1)

    model = GRURegressor()
    dtypes = []
    model.out.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    history = fit(model, data(), loss_fn=nn.MSELoss(), epochs=1, amp="bf16", **QUIET)
    assert history.settings["amp"] == "bf16" and set(dtypes) == {torch.bfloat16}


# -- Decisions for every device, with a stubbed probe -----------------------------------------

def test_amp_auto_on_the_cpu_is_float32_and_suggests_bf16_only_where_it_runs_natively(
        monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    model = LSTMRegressor()
    chosen = choose("auto", model, CPU, runs=stub(bf16=torch.bfloat16), describe_cpu=True)
    assert chosen.dtype is None and "amp='bf16' may be faster" in chosen.line()
    failing = choose("auto", model, CPU, runs=stub(bf16="no kernel"), describe_cpu=True)
    assert failing.dtype is None and failing.line() == "float32"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    emulated = choose("auto", model, CPU, runs=stub(bf16=torch.bfloat16), describe_cpu=True)
    assert emulated.line() == "float32"  # no bf16 instructions: bf16 would be emulated


def test_amp_auto_suggests_bf16_only_to_a_model_with_a_recurrent_layer_that_gains(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    no_rnn = choose("auto", nn.Linear(3, 1), CPU, runs=lambda amp: [], describe_cpu=True)
    assert no_rnn.line() == "float32"
    in_fp32 = choose("auto", LSTMRegressor(), CPU, runs=stub(bf16=torch.float32),
                     describe_cpu=True)
    assert in_fp32.line() == "float32"


def test_amp_auto_on_a_recent_gpu_adds_a_scaler_when_cudnn_runs_the_lstm_in_fp16():
    """Under bf16 autocast, autocast hands cuDNN's RNN fp16 (AutocastRNN.cpp): fp16 without a
    scaler would let small gradients underflow, so the scaler comes with it."""
    chosen = choose("auto", LSTMRegressor(), CUDA, runs=stub(bf16=torch.float16),
                    gpu_has_bf16=True)
    assert chosen.dtype == torch.bfloat16 and chosen.scaler
    assert "compute in fp16" in chosen.line() and "gradient scaler" in chosen.line()
    plain = choose("auto", LSTMRegressor(), CUDA, runs=stub(bf16=torch.bfloat16),
                   gpu_has_bf16=True)
    assert plain == Precision(torch.bfloat16, scaler=False, requested="auto")


def test_amp_auto_on_an_older_gpu_is_fp16_with_a_scaler():
    chosen = choose("auto", LSTMRegressor(), CUDA, runs=stub(fp16=torch.float16),
                    gpu_has_bf16=False)
    assert chosen.dtype == torch.float16 and chosen.scaler


def test_amp_auto_never_picks_a_precision_that_cannot_run():
    falls_to_fp16 = choose("auto", LSTMRegressor(), CUDA,
                           runs=stub(bf16="no kernel", fp16=torch.float16), gpu_has_bf16=True)
    assert falls_to_fp16.dtype == torch.float16 and falls_to_fp16.scaler
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto: a note in the device line, no warning
        nothing = choose("auto", LSTMRegressor(), CUDA,
                         runs=stub(bf16="no kernel", fp16="no kernel"), gpu_has_bf16=True)
    assert nothing.dtype is None and "float32 instead" in nothing.note


def test_fp16_asked_always_comes_with_a_scaler_and_none_means_float32():
    assert choose("fp16", LSTMRegressor(), CUDA, runs=stub(fp16=torch.float16)).scaler
    assert choose(None, LSTMRegressor(), CPU) == Precision(None)


def test_an_unknown_amp_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="'auto', 'bf16', 'fp16' or None"):
        choose("float16", LSTMRegressor(), CPU)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="emulates an x86 CPU")
def test_the_avx2_emulation_that_ci_uses_really_takes_the_bf16_lstm_away():
    """`make test-avx2` (run by .ci/run) is only worth something if its variables turn this
    CPU into an AVX2-only one: torch's capability, and oneDNN without its bf16 LSTM."""
    script = ("import torch; from rnnlib.train import probe; "
              "[run] = probe(torch.nn.LSTM(3, 4), 'bf16', 'cpu'); "
              "print(torch.backends.cpu.get_cpu_capability(), run.ran)")
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
           "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    assert out == ["AVX2", "False"]
