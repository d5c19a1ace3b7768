"""Tests of rnnlib.train.fit, the course's training loop (and rnnlib.plots.plot_history).

Everything runs on the CPU in seconds: tiny LSTMs, tiny data, one torch thread. The tests that
need a process of their own (killed with SIGKILL, or run under torchrun) start the scripts in
tests/train_scripts/. The CUDA tests at the end run only where a GPU is (bench/gpu.sh).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

from rnnlib import train
from rnnlib.train import (
    CheckpointError,
    History,
    TrainingDiverged,
    accuracy,
    distributed,
    fit,
    precision,
    progress,
)
from rnnlib.train import checkpoint as checkpoints

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "train_scripts"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


# -- Small models and data -------------------------------------------------------------------

class Regressor(nn.Module):
    """(B, T, 3) -> (B,): an LSTM reads the sequence, a linear layer reads its last state."""

    def __init__(self, dropout: float = 0.0, features: int = 3):
        super().__init__()
        self.lstm = nn.LSTM(features, 12, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(12, 1)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(self.dropout(h[:, -1])).squeeze(-1)


def regression_data(n: int = 96, batch_size: int = 16, shuffle: bool = True, seed: int = 0):
    """y = sum of the first feature over time: learnable in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, 3, generator=g)
    y = x[:, :, 0].sum(dim=1)
    dataset = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def model_and_data(seed: int = 0, dropout: float = 0.0, **data):
    torch.manual_seed(seed)
    return Regressor(dropout), regression_data(**data)


def same_weights(a: nn.Module | dict, b: nn.Module | dict) -> bool:
    a = a.state_dict() if isinstance(a, nn.Module) else a
    b = b.state_dict() if isinstance(b, nn.Module) else b
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def without_times(history: dict) -> dict:
    return {k: v for k, v in history.items() if k != "epoch_time"}


def run_script(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run a helper script with this Python, one torch thread, rnnlib from this checkout (and
    the offline guard that conftest.py put on PYTHONPATH). On a timeout the whole process
    group goes (torchrun's workers too), and the test fails saying so."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path, "RNNLIB_THREADS": "1"}
    if Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"  # torchrun's processes talk over loopback only
    command = [sys.executable, *args]
    with subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            pytest.fail(f"{' '.join(args)} ran over {timeout} s; its last output:\n{err[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def script_main(name: str):
    """The ``main`` of a helper script, to run it in this process (no start-up cost)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


QUIET = {"device": "cpu", "quiet": True, "seed": 0}


# -- Training, history, reproducibility -------------------------------------------------------

def test_fit_learns_and_returns_history_as_json_ready_data():
    model, data = model_and_data()
    history = fit(model, data, loss_fn=nn.MSELoss(), lr=2e-2, epochs=4, val_data=data,
                  log_every=5, **QUIET)
    assert isinstance(history, History)
    steps = 4 * len(data)
    assert len(history.loss) == len(history.grad_norm) == len(history.lr) == steps
    assert history.epoch_steps == [6, 12, 18, 24]
    assert len(history.train_loss) == len(history.val_loss) == len(history.epoch_time) == 4
    assert history.train_loss[-1] < 0.5 * history.train_loss[0], "the model should learn"
    assert history.val_loss[-1] < history.val_loss[0]
    assert history.stopped == "epochs"
    # the epoch's training loss is the mean of its steps' losses
    assert history.train_loss[1] == pytest.approx(sum(history.loss[6:12]) / 6)
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again == history


def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not():
    results = []
    for seed in (3, 3, 4):
        model, data = model_and_data(dropout=0.3)  # dropout and shuffling use the seed
        fit(model, data, loss_fn=nn.MSELoss(), epochs=2, **{**QUIET, "seed": seed})
        results.append(model)
    assert same_weights(results[0], results[1])
    assert not same_weights(results[0], results[2])


def test_steps_caps_training_and_a_later_call_with_more_steps_continues(tmp_path):
    checkpoint = tmp_path / "run.pt"
    model, data = model_and_data(dropout=0.2)  # 6 batches an epoch
    history = fit(model, data, loss_fn=nn.MSELoss(), steps=9, checkpoint=checkpoint, **QUIET)
    assert len(history.loss) == 9 and history.stopped == "steps"
    assert history.epoch_steps == [6, 9]  # a record for the part of epoch 2 done
    model, data = model_and_data(dropout=0.2)
    history = fit(model, data, loss_fn=nn.MSELoss(), steps=15, checkpoint=checkpoint,
                  resume=True, **QUIET)
    assert history.epoch_steps == [6, 9, 12, 15]
    reference, data = model_and_data(dropout=0.2)
    fit(reference, data, loss_fn=nn.MSELoss(), steps=15, **QUIET)
    assert same_weights(model, reference)


def test_resume_with_more_epochs_equals_one_longer_run(tmp_path):
    checkpoint = tmp_path / "run.pt"
    model, data = model_and_data(dropout=0.2)
    fit(model, data, loss_fn=nn.MSELoss(), epochs=2, checkpoint=checkpoint, **QUIET)
    model, data = model_and_data(dropout=0.2)  # a fresh process would start like this
    resumed = fit(model, data, loss_fn=nn.MSELoss(), epochs=4, checkpoint=checkpoint,
                  resume=True, **QUIET)
    reference_model, data = model_and_data(dropout=0.2)
    reference = fit(reference_model, data, loss_fn=nn.MSELoss(), epochs=4, **QUIET)
    assert same_weights(model, reference_model)
    assert without_times(resumed.to_dict()) == without_times(reference.to_dict())


@pytest.mark.parametrize("task", ["shuffled", "stateful"])
def test_run_killed_with_sigkill_resumes_to_the_same_weights_and_history(tmp_path, task,
                                                                          monkeypatch):
    """Killed part-way (mid-epoch, 2 steps after its last checkpoint), then resumed: the same
    weights and history as a run that was never interrupted. "shuffled": a shuffled
    DataLoader and dropout (data order and random numbers restored); "stateful": truncated
    BPTT with the carried state restored. The killed run has a process of its own; the
    others run here, with the same single thread."""
    monkeypatch.setenv("RNNLIB_THREADS", "1")
    main = script_main("resumable_run")
    checkpoint, out = tmp_path / "b.pt", tmp_path / "resumed.pt"
    # the first batch read is fit's preflight check; training batches 1-19 are the next 19
    killed = run_script(str(SCRIPTS / "resumable_run.py"), "--task", task, "--checkpoint",
                        str(checkpoint), "--out", str(out), "--kill-at", "21")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists()
    saved = train.load_checkpoint(checkpoint)  # checkpoints every 3 steps and at epoch ends
    assert (saved["epoch"], saved["batch"], len(saved["history"]["loss"])) == (2, 2, 18)
    assert [p.name for p in tmp_path.iterdir()] == ["b.pt"]  # no temporary file left
    main(["--task", task, "--checkpoint", str(checkpoint), "--out", str(out), "--resume"])
    reference = tmp_path / "reference.pt"
    main(["--task", task, "--checkpoint", str(tmp_path / "a.pt"), "--out", str(reference)])
    a, b = torch.load(reference), torch.load(out)
    assert same_weights(a["model"], b["model"])
    assert without_times(a["history"]) == without_times(b["history"])
    assert len(b["history"]["loss"]) == 24


# -- Checkpoints ------------------------------------------------------------------------------

def test_checkpoint_loads_with_weights_only_and_holds_the_history(tmp_path):
    model, data = model_and_data()
    history = fit(model, data, loss_fn=nn.MSELoss(), epochs=1, checkpoint=tmp_path / "c.pt",
                  **QUIET)
    raw = torch.load(tmp_path / "c.pt", weights_only=True)  # no pickled code needed
    assert raw["history"] == history.to_dict()
    assert same_weights(raw["model"], model)
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_checkpoint_gives_a_clear_error_and_is_left_alone(tmp_path, damage):
    path = tmp_path / "c.pt"
    model, data = model_and_data()
    fit(model, data, loss_fn=nn.MSELoss(), epochs=1, checkpoint=path, **QUIET)
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2] if damage == "truncated" else b"not a checkpoint")
    damaged = path.read_bytes()
    model, data = model_and_data()
    with pytest.raises(CheckpointError) as error:
        fit(model, data, loss_fn=nn.MSELoss(), epochs=2, checkpoint=path, resume=True, **QUIET)
    message = str(error.value)
    assert str(path) in message and "Delete it" in message and "corrupt" in message
    assert path.read_bytes() == damaged  # not replaced: the user decides what to do with it


def test_failed_checkpoint_write_keeps_the_last_good_one(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    model, data = model_and_data()
    fit(model, data, loss_fn=nn.MSELoss(), epochs=1, checkpoint=path, **QUIET)
    good = path.read_bytes()

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        fit(model, data, loss_fn=nn.MSELoss(), epochs=3, checkpoint=path, resume=True, **QUIET)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_checkpoint_of_another_model_is_refused_clearly(tmp_path):
    path = tmp_path / "c.pt"
    model, data = model_and_data()
    fit(model, data, loss_fn=nn.MSELoss(), epochs=1, checkpoint=path, **QUIET)
    other = nn.Sequential(nn.Flatten(), nn.Linear(18, 1), nn.Flatten(0))
    with pytest.raises(CheckpointError, match="different model"):
        fit(other, data, loss_fn=nn.MSELoss(), epochs=2, checkpoint=path, resume=True, **QUIET)


# -- NaN/inf, clipping, gradient norms -------------------------------------------------------

def test_nan_in_the_data_stops_training_with_advice_and_a_clean_checkpoint(tmp_path):
    model, data = model_and_data(shuffle=False)
    batches = list(data)
    batches[2] = (batches[2][0].clone(), batches[2][1])
    batches[2][0][0, 0, 0] = float("nan")  # step 3
    path = tmp_path / "c.pt"
    with pytest.raises(TrainingDiverged) as error:
        fit(model, batches, loss_fn=nn.MSELoss(), lr=1e-3, epochs=3, log_every=4,
            checkpoint=path, checkpoint_every=2, **QUIET)
    message = str(error.value)
    assert isinstance(error.value, FloatingPointError)
    assert "step 3" in message and "nan" in message
    assert "smaller learning rate" in message and "clip_norm" in message
    assert "isfinite" in message and str(path) in message
    saved = train.load_checkpoint(path)  # written at step 2, before the NaN; not at step 4
    assert len(saved["history"]["loss"]) == 2
    assert all(torch.isfinite(t).all() for t in saved["model"].values())


def test_clipping_caps_the_update_and_the_recorded_norm_is_the_true_one():
    """With plain SGD (lr=1) the step is minus the gradient: its size shows what was applied."""
    norms, moved = {}, {}
    for clip in (None, 0.01):
        model, data = model_and_data(shuffle=False)
        before = [p.detach().clone() for p in model.parameters()]
        history = fit(model, data, loss_fn=nn.MSELoss(), steps=1, clip_norm=clip,
                      optimizer=torch.optim.SGD(model.parameters(), lr=1.0), **QUIET)
        step = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before,
                                                                       strict=True)])
        norms[clip], moved[clip] = history.grad_norm[0], step.norm().item()
    assert norms[None] == pytest.approx(moved[None], rel=1e-4)  # the norm recorded is real
    assert norms[0.01] == pytest.approx(norms[None], rel=1e-5)  # recorded before clipping
    assert norms[0.01] > 0.01  # so clipping fired ...
    assert moved[0.01] == pytest.approx(0.01, rel=1e-3)  # ... and capped the step


# -- Mixed precision ---------------------------------------------------------------------------

def test_amp_auto_trains_in_float32_on_the_cpu():
    model, data = model_and_data()
    history = fit(model, data, loss_fn=nn.MSELoss(), epochs=1, **QUIET)
    assert history.settings["amp"] is None


def test_fp16_with_a_gradient_scaler_on_the_cpu(tmp_path):
    # linear layers have fp16 autocast kernels on every CPU: the scaler path, with an MLP
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(18, 16), nn.Tanh(), nn.Linear(16, 1),
                          nn.Flatten(0))
    dtypes = []
    model[1].register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    history = fit(model, regression_data(), loss_fn=nn.MSELoss(), lr=1e-2, epochs=3,
                  amp="fp16", checkpoint=tmp_path / "c.pt", **QUIET)
    assert set(dtypes) == {torch.float16}
    assert history.settings["amp"] == "fp16"
    assert history.train_loss[-1] < history.train_loss[0]
    scaler = train.load_checkpoint(tmp_path / "c.pt")["scaler"]
    assert scaler is not None and scaler["scale"] > 0


# -- Bad input: errors that name the shapes ---------------------------------------------------

def test_mse_with_broadcasting_shapes_is_refused_naming_both_shapes():
    class Column(Regressor):  # returns (B, 1) against targets (B,)
        def forward(self, x):
            return super().forward(x).unsqueeze(-1)

    torch.manual_seed(0)
    with pytest.raises(ValueError) as error:
        fit(Column(), regression_data(), loss_fn=nn.MSELoss(), **QUIET)
    message = str(error.value)
    assert "(16, 1)" in message and "(16,)" in message and "MSELoss" in message


def test_cross_entropy_on_unflattened_sequences_names_the_shapes():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5))  # (B, T) -> (B, T, 5)
    batches = [(torch.randint(0, 5, (8, 7)), torch.randint(0, 5, (8, 7)))]
    with pytest.raises(ValueError) as error:
        fit(model, batches, loss_fn=nn.CrossEntropyLoss(), **QUIET)
    message = str(error.value)
    assert "(8, 7, 5)" in message and "(8, 7)" in message and "CrossEntropyLoss" in message
    assert "reshape(-1, C)" in message


def test_inputs_the_model_cannot_take_are_named():
    torch.manual_seed(0)
    batches = [(torch.randn(16, 6, 4), torch.randn(16))]  # 4 features, the LSTM takes 3
    with pytest.raises(ValueError, match=r"inputs of shape \(16, 6, 4\)"):
        fit(Regressor(), batches, loss_fn=nn.MSELoss(), **QUIET)


def test_batches_that_are_not_pairs_are_refused():
    batches = [(torch.randn(4, 6, 3), torch.randn(4), torch.randn(4))]
    with pytest.raises(ValueError, match=r"pair \(inputs, targets\), got a tuple of 3"):
        fit(Regressor(), batches, loss_fn=nn.MSELoss(), **QUIET)


def test_model_returning_a_state_needs_stateful_true():
    torch.manual_seed(0)
    batches = [(torch.randn(4, 6, 3), torch.randn(4, 6, 5))]
    with pytest.raises(ValueError, match="stateful=True"):
        fit(nn.LSTM(3, 5, batch_first=True), batches, loss_fn=nn.MSELoss(), **QUIET)


def test_a_generator_is_refused_because_it_cannot_be_read_every_epoch():
    with pytest.raises(TypeError, match="read only once"):
        fit(Regressor(), (b for b in regression_data()), loss_fn=nn.MSELoss(), **QUIET)


# -- Validation, early stopping, metrics ------------------------------------------------------

def test_early_stopping_stops_and_restores_the_best_weights():
    # validation targets are the negated training targets: the better the fit, the worse the
    # validation loss, so epoch 1 is the best and training stops `patience` epochs later
    model, data = model_and_data(shuffle=False)
    val = [(x, -y) for x, y in data]
    history = fit(model, data, loss_fn=nn.MSELoss(), lr=2e-2, epochs=10, val_data=val,
                  patience=2, **QUIET)
    assert history.stopped == "early stopping"
    assert history.best_epoch == 1 and len(history.val_loss) == 3
    assert history.val_loss[0] < min(history.val_loss[1:])
    one_epoch, data = model_and_data(shuffle=False)
    fit(one_epoch, data, loss_fn=nn.MSELoss(), lr=2e-2, epochs=1, **QUIET)
    assert same_weights(model, one_epoch)


def test_patience_left_at_the_epoch_limit_still_ends_with_the_best_weights():
    model, data = model_and_data(shuffle=False)
    val = [(x, -y) for x, y in data]  # as above: epoch 1 is the best
    history = fit(model, data, loss_fn=nn.MSELoss(), lr=2e-2, epochs=3, val_data=val,
                  patience=5, **QUIET)
    assert history.stopped == "epochs" and history.best_epoch == 1
    one_epoch, data = model_and_data(shuffle=False)
    fit(one_epoch, data, loss_fn=nn.MSELoss(), lr=2e-2, epochs=1, **QUIET)
    assert same_weights(model, one_epoch)


def test_validation_metrics_are_weighted_by_target_elements():
    model = nn.Identity()
    scores = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    val = [(scores[:2], torch.tensor([0, 1])), (scores[2:], torch.tensor([1]))]  # 2/2, 0/1
    results = train.evaluate(model, val, loss_fn=nn.CrossEntropyLoss(),
                             metrics={"accuracy": accuracy}, device="cpu")
    assert results["accuracy"] == pytest.approx(2 / 3)


def test_accuracy_for_classes_and_for_binary_logits():
    assert accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])).item() == 0.5
    logits, labels = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([1.0, 0.0, 0.0])
    assert accuracy(logits, labels).item() == pytest.approx(2 / 3)
    assert accuracy(torch.sigmoid(logits), labels, threshold=0.5).item() == pytest.approx(2 / 3)


# -- Truncated BPTT and packed inputs ---------------------------------------------------------

def test_stateful_carries_the_detached_state_and_resets_it_each_epoch():
    seen = []

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(2, 3, batch_first=True)

        def forward(self, x, state=None):
            seen.append(None if state is None else (state.clone(), state.requires_grad))
            out, new_state = self.rnn(x, state)
            self.last = new_state.detach().clone()
            return out, new_state

    torch.manual_seed(0)
    model = Recorder()
    batches = [(torch.randn(4, 5, 2), torch.randn(4, 5, 3)) for _ in range(3)]
    states = []
    model.register_forward_hook(lambda m, i, o: states.append(m.last))
    fit(model, batches, loss_fn=nn.MSELoss(), epochs=2, stateful=True, val_data=batches[:2],
        **QUIET)
    # first fit's preflight check (the first training and validation batch, from no state),
    # then per epoch: 3 training batches, then 2 validation batches
    assert [s is None for s in seen] == [True, True] + [True, False, False, True, False] * 2
    seen, states = seen[2:], states[2:]
    for i in (1, 2, 4):
        state, requires_grad = seen[i]
        assert not requires_grad and torch.equal(state, states[i - 1])


def test_inputs_may_be_a_tuple_with_lengths_that_stay_on_the_cpu():
    class Packed(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 8, batch_first=True)
            self.out = nn.Linear(8, 1)

        def forward(self, padded, lengths):
            assert lengths.device.type == "cpu" and lengths.dtype == torch.int64
            packed = nn.utils.rnn.pack_padded_sequence(padded, lengths, batch_first=True,
                                                       enforce_sorted=False)
            _, (h, _) = self.lstm(packed)
            return self.out(h[-1]).squeeze(-1)

    torch.manual_seed(0)
    batches = [((torch.randn(4, 6, 3), torch.tensor([6, 2, 4, 1])), torch.randn(4))] * 3
    history = fit(Packed(), batches, loss_fn=nn.MSELoss(), epochs=2, **QUIET)
    assert len(history.loss) == 6


# -- No host-device synchronisation per step ---------------------------------------------------

def test_loss_is_read_back_per_log_interval_not_per_step(monkeypatch):
    """Count the calls that copy a tensor's value to Python (each one a sync on a GPU): as
    many for 60 steps as for 12, because the read-backs happen every `log_every` steps."""
    calls = []
    for name in ("item", "tolist", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _original=original, **kwargs):
            calls.append(1)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    counts = []
    for steps in (12, 60):  # both within the first epoch (the epoch's end reads back too)
        model, data = model_and_data(n=480, batch_size=8)
        data = list(data)  # (a DataLoader reads a seed with .item() every epoch)
        calls.clear()
        fit(model, data, loss_fn=nn.MSELoss(), steps=steps, log_every=100, clip_norm=1.0,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.01), **QUIET)
        counts.append(len(calls))
    assert counts[0] == counts[1] and counts[0] <= 2, counts


# -- Output: quiet in tests, one device line otherwise; plots -----------------------------------

def test_quiet_prints_nothing_and_loud_says_device_threads_and_precision(capsys):
    model, data = model_and_data()
    fit(model, data, loss_fn=nn.MSELoss(), epochs=1, **QUIET)
    assert capsys.readouterr().out == ""
    fit(model, data, loss_fn=nn.MSELoss(), epochs=1, device="cpu", quiet=False, threads=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("fit: cpu") and "1 CPU thread" in lines[0]
    assert "float32" in lines[0]
    assert lines[1].startswith("epoch 1/1 | train loss")
    assert torch.get_num_threads() == 1


def test_plot_history_draws_loss_grad_norm_and_metrics_from_a_json_dict():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(18, 2))
    data = [(x, (y > 0).long()) for x, y in regression_data()]
    history = fit(model, data, loss_fn=nn.CrossEntropyLoss(), epochs=2, val_data=data,
                  metrics={"accuracy": accuracy}, clip_norm=1.0, **QUIET)
    from rnnlib.plots import plot_history

    fig = plot_history(json.loads(json.dumps(history.to_dict())), title="run")
    loss_ax, norm_ax, metric_ax = fig.axes
    assert loss_ax.get_xlabel() == "optimizer step" and "loss" in loss_ax.get_ylabel()
    assert len(loss_ax.lines[0].get_xdata()) == 12  # every step's loss
    assert norm_ax.get_yscale() == "log" and len(norm_ax.lines) == 2  # norms + clip line
    assert metric_ax.get_legend().get_texts()[0].get_text() == "accuracy"


def test_live_plot_is_drawn_in_a_notebook(monkeypatch):
    drawn = []

    class FakeLivePlot:
        def update(self, history):
            drawn.append(len(history.train_loss))

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "live_plot", FakeLivePlot)
    model, data = model_and_data()
    fit(model, data, loss_fn=nn.MSELoss(), epochs=2, device="cpu", quiet=False)
    assert drawn[-2:] == [1, 2]  # redrawn at the end of every epoch


def test_live_plot_redraws_within_an_epoch_at_most_every_few_seconds(monkeypatch):
    clock, drawn = [100.0], []

    class FakeLivePlot:
        def update(self, history):
            drawn.append(clock[0])

    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "live_plot", FakeLivePlot)
    monkeypatch.setattr(progress, "perf_counter", lambda: clock[0])
    shown = progress.Progress(quiet=False)
    shown.start(total=100, done=0)
    for _ in range(40):  # a read-back of the loss every second
        clock[0] += 1.0
        shown.loss(1.0, history=None)
    shown.close()
    gaps = [b - a for a, b in zip(drawn, drawn[1:], strict=False)]
    assert drawn and min(gaps) >= progress.REDRAW_EVERY_S, drawn
    assert len(drawn) >= 40 // progress.REDRAW_EVERY_S - 1, drawn  # and it does redraw


# -- torchrun --------------------------------------------------------------------------------

def test_torchrun_two_processes_match_each_other_and_one_process(tmp_path, monkeypatch):
    """Two processes with batches of 8 (gloo, CPU) equal one process with batches of 16."""
    monkeypatch.setenv("RNNLIB_THREADS", "1")
    script = str(SCRIPTS / "ddp_run.py")
    ddp = run_script("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                     script, "--out", str(tmp_path), "--batch-size", "8", "--name", "ddp")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    script_main("ddp_run")(["--out", str(tmp_path), "--batch-size", "16", "--name", "one"])
    rank0, rank1 = torch.load(tmp_path / "ddp-rank0.pt"), torch.load(tmp_path / "ddp-rank1.pt")
    alone = torch.load(tmp_path / "one-rank0.pt")
    assert rank0["world"] == 2
    assert same_weights(rank0["model"], rank1["model"])
    for name, value in alone["model"].items():
        torch.testing.assert_close(rank0["model"][name], value, atol=1e-5, rtol=1e-4)
    assert rank0["history"]["val_loss"] == pytest.approx(alone["history"]["val_loss"], rel=1e-4)
    assert rank0["history"]["loss"] == pytest.approx(alone["history"]["loss"], rel=1e-4)
    assert (tmp_path / "ddp-checkpoint.pt").exists()  # written by the first process


def test_dealt_out_batches_give_every_process_the_same_number_of_steps():
    batches = list(range(7))
    shares = [list(distributed.DealtOut(batches, r, 3, whole_rounds=True)) for r in range(3)]
    assert shares == [[0, 3], [1, 4], [2, 5]]
    shares = [list(distributed.DealtOut(batches, r, 3, whole_rounds=False)) for r in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]  # validation sees every batch


# -- CUDA (run by bench/gpu.sh on a GPU machine) ------------------------------------------------

@cuda
def test_cuda_amp_auto_follows_the_probe_and_trains():
    """Whatever dtype cuDNN's LSTM computes in under bf16 autocast (the PyTorch source says
    fp16), fit's choice follows the measurement: a scaler exactly when a layer runs in fp16."""
    model, data = model_and_data()
    model.cuda()
    [run] = precision.probe(model, "bf16", torch.device("cuda"))
    print(f"CUDA probe under bf16 autocast: {run}")  # bench/gpu.sh records this line
    history = fit(model, data, loss_fn=nn.MSELoss(), lr=2e-2, epochs=3, device="cuda",
                  quiet=True, seed=0)
    major = torch.cuda.get_device_capability()[0]
    assert history.settings["amp"] == ("bf16" if major >= 8 else "fp16")
    chosen = precision.choose("auto", model, torch.device("cuda"))
    assert chosen.scaler == (major < 8 or run.dtype == torch.float16)
    assert history.train_loss[-1] < history.train_loss[0]


@cuda
def test_cuda_fp16_with_a_gradient_scaler_trains_an_lstm(tmp_path):
    model, data = model_and_data()
    history = fit(model, data, loss_fn=nn.MSELoss(), lr=2e-2, epochs=3, amp="fp16",
                  device="cuda", checkpoint=tmp_path / "c.pt", quiet=True, seed=0)
    assert history.train_loss[-1] < history.train_loss[0]
    assert train.load_checkpoint(tmp_path / "c.pt")["scaler"]["scale"] > 0


@cuda
def test_cuda_no_synchronisation_per_step():
    """torch's sync debug mode warns at every host-device synchronisation: the number of
    warnings must not grow with the number of steps (bf16: no gradient scaler). Both runs stay
    within the first epoch, whose end reads back too."""
    import warnings

    counts = []
    for steps in (10, 40):
        # no recurrent layer: cuDNN's RNNs compute in fp16 under autocast, and the gradient
        # scaler that then comes with them reads one flag back from the GPU every step
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(18, 64), nn.Tanh(), nn.Linear(64, 1),
                              nn.Flatten(0))
        data = regression_data(n=640)  # 40 batches, pinned by fit on CUDA
        model.cuda()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
        fit(model, data, loss_fn=nn.MSELoss(), optimizer=optimizer, steps=2, amp="bf16",
            device="cuda", quiet=True)  # warm-up: cuDNN plans, optimizer state
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit(model, data, loss_fn=nn.MSELoss(), optimizer=optimizer, steps=steps,
                    log_every=1000, clip_norm=1.0, amp="bf16", device="cuda", quiet=True)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        counts.append(sum("synchroniz" in str(w.message) for w in caught))
    assert counts[0] == counts[1], counts


@cuda
def test_cuda_dataloader_gets_pinned_memory():
    data = regression_data()
    assert not data.pin_memory
    share = distributed.this_process_share(data, torch.device("cuda"), 0, 1, 0, train=True)
    assert share.pin_memory and share.batch_size == data.batch_size


# -- Promises that earlier versions broke: each test failed on them --------------------------

def test_resume_mid_epoch_with_a_loader_generator_replays_the_same_order(tmp_path):
    """A DataLoader given its own generator= shuffles with it, not with torch's: fit seeds
    that generator per epoch too, so a resumed run (a fresh loader, a fresh generator) replays
    the interrupted epoch's order."""
    def run(steps: int, **kwargs):
        model, _ = model_and_data(dropout=0.2)
        x = torch.randn(96, 6, 3, generator=torch.Generator().manual_seed(1))
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(x, x[:, :, 0].sum(dim=1)), batch_size=16,
            shuffle=True, generator=torch.Generator().manual_seed(0))
        history = fit(model, loader, loss_fn=nn.MSELoss(), steps=steps, **QUIET, **kwargs)
        return model, history

    checkpoint = tmp_path / "run.pt"
    run(9, checkpoint=checkpoint)  # stops 3 batches into epoch 2
    resumed, resumed_history = run(15, checkpoint=checkpoint, resume=True)
    reference, reference_history = run(15)
    assert same_weights(resumed, reference)
    assert resumed_history.loss == reference_history.loss


def test_patience_with_training_ended_by_steps_still_ends_with_the_best_weights():
    model, data = model_and_data(shuffle=False)
    val = [(x, -y) for x, y in data]  # epoch 1 is the best, as above
    history = fit(model, data, loss_fn=nn.MSELoss(), lr=2e-2, steps=3 * len(data),
                  val_data=val, patience=5, **QUIET)
    assert history.stopped == "steps" and history.best_epoch == 1
    one_epoch, data = model_and_data(shuffle=False)
    fit(one_epoch, data, loss_fn=nn.MSELoss(), lr=2e-2, epochs=1, **QUIET)
    assert same_weights(model, one_epoch)


def test_torchrun_processes_draw_different_dropout_masks_but_keep_equal_weights(tmp_path,
                                                                               monkeypatch):
    """Each process must drop its own units: with one mask for all, DDP would average the
    gradients of one thinned network, as if the batch were smaller."""
    monkeypatch.setenv("RNNLIB_THREADS", "1")
    ddp = run_script("-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                     str(SCRIPTS / "ddp_run.py"), "--out", str(tmp_path), "--batch-size", "8",
                     "--name", "dropout", "--dropout", "0.5")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"dropout-rank{r}.pt") for r in (0, 1))
    assert len(rank0["masks"]) == len(rank1["masks"]) == 12  # 4 steps per epoch, 3 epochs
    assert all(not torch.equal(a, b) for a, b in zip(rank0["masks"], rank1["masks"],
                                                      strict=True))
    assert same_weights(rank0["model"], rank1["model"])


def test_stale_temporary_files_of_a_killed_writer_are_removed_and_live_ones_kept(tmp_path):
    path = tmp_path / "c.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f".c.pt.{dead}.tmp").write_bytes(b"half a checkpoint")  # its writer is gone
    alive = tmp_path / f".c.pt.{os.getppid()}.tmp"  # a running process, maybe writing
    alive.write_bytes(b"being written")
    model, data = model_and_data()
    fit(model, data, loss_fn=nn.MSELoss(), epochs=1, checkpoint=path, **QUIET)
    assert sorted(p.name for p in tmp_path.iterdir()) == [alive.name, "c.pt"]


def test_fit_reads_in_one_screen():
    """The loop a learner is sent to read (notebook 08): about 100 lines without its docstring,
    blank lines and comments; the machinery lives in the modules named for it."""
    import ast
    import inspect

    from rnnlib.train import loop

    source = inspect.getsource(loop).splitlines()
    fit_node = next(n for n in ast.parse("\n".join(source)).body
                    if isinstance(n, ast.FunctionDef) and n.name == "fit")
    body = source[fit_node.body[0].end_lineno:fit_node.end_lineno]
    code = [line for line in body if line.strip() and not line.strip().startswith("#")]
    assert len(code) <= 100, f"fit's body has {len(code)} lines of code"
