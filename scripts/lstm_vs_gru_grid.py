"""The full experiment of notebook 06: RNN vs LSTM vs GRU, several tasks, several seeds.

Trains a tanh RNN, an LSTM (forget bias +1) and a GRU on

- the adding problem at several lengths T (``adding_T25``, ``adding_T50``, ``adding_T100``),
- a character language model on a slice of Shakespeare (``charlm``),
- the movie-review sentiment task (``sentiment``), ranked on its validation sentences (the test
  sentences are notebook 07's, scored once there),

each twice: at the **same hidden size** H as the LSTM, and at the **same number of recurrent
parameters** as the LSTM (a larger H for the GRU and the RNN, see ``matched_hidden``). On the
adding problem the LSTM also runs with PyTorch's default forget bias (``lstm_b0``), the
comparison Jozefowicz et al. (2015) made, and at T = 100 the RNN, LSTM and GRU (same H) also
run at two more learning rates (a sweep judged on a validation set). Every configuration runs
with several seeds; seed s gives every cell the same data stream, so cells pair by seed.

Per run it records the final metric, the parameter counts and the steps (or epochs) until the
smoothed training loss, or the validation accuracy, first reached a target. The wall times of
these runs depend on what else the machine was doing and are not meant for any conclusion:
speed comes only from the ``timing`` task (``run_timing``), which times every configuration in
turns (round-robin), on one thread, records the load average before and after, and refuses to
save (exit status 1) when the 1-minute load is above ``--max-load`` (default: half the CPUs).
Run it alone, on a quiet machine. The JSON file names the machine and the command of every part.

    python scripts/lstm_vs_gru_grid.py                       # everything, 1 thread
    python scripts/lstm_vs_gru_grid.py --tasks adding --lengths 25 50 --out /tmp/a.json
    python scripts/lstm_vs_gru_grid.py --tasks charlm sentiment --out /tmp/b.json
    python scripts/lstm_vs_gru_grid.py --tasks timing --out /tmp/t.json   # alone, quiet machine
    python scripts/lstm_vs_gru_grid.py --merge results/lstm-vs-gru-grid.json /tmp/t.json
    python scripts/lstm_vs_gru_grid.py --quick --out /tmp/q.json          # a test, seconds

``--merge`` joins part files, or a merged file and new parts: a later file replaces the runs of
the tasks it supplies (``adding_T100``, ``sentiment``, ``timing``...) and ``parts`` keeps the
command, machine and wall seconds of every part still in use. The accuracy parts are
deterministic for one thread on one machine and may run under load; the timing may not.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rnnlib import course, data, train  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "results" / "lstm-vs-gru-grid.json"
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per cell: 1, 3 (r, z, n), 4 (i, f, g, o)

# Settings of each task (the --quick grid shrinks them).
# The adding problem: 800 steps up to T = 50, 1500 from T = 100 on (at 800 steps 2 of 3 LSTM
# seeds were still on the plateau at T = 100; 1500 was chosen on the validation set, seed
# 20_000 + T, never on the test set, seed 10_000 + T). At the lengths in ``sweep_lengths``
# the RNN, the LSTM and the GRU (same H) also run with each learning rate of ``lrs``.
ADDING = {"lengths": [25, 50, 100], "hidden": 32, "batch": 64, "steps": 800, "long_steps": 1500,
          "long_from": 100, "lr": 1e-2, "lrs": [3e-3, 1e-2, 3e-2], "sweep_lengths": [100],
          "test_n": 1000, "target": 0.05, "solved": 0.01, "smooth": 50}
CHARLM = {"train_chars": 200_000, "val_chars": 40_000, "embed": 32, "hidden": 128, "batch": 32,
          "seq_len": 64, "epochs": 3, "lr": 3e-3, "clip": 1.0, "target": 2.2, "smooth": 25}
# split_seed: notebook 07's SPLIT_SEED, so that 07's test sentences stay unread here too.
SENTIMENT = {"embed": 64, "hidden": 64, "batch": 64, "epochs": 4, "lr": 2e-3, "clip": 1.0,
             "dropout": 0.3, "target": 0.70, "split_seed": 2026}


# ----------------------------------------------------------------------------- parameter counts

def recurrent_params(kind: str, input_size: int, hidden: int) -> int:
    """Weights and biases of one layer: blocks x H x (I + H + 2), as torch.nn counts them."""
    return BLOCKS[kind] * hidden * (input_size + hidden + 2)


def matched_hidden(kind: str, input_size: int, target: int) -> int:
    """The hidden size whose recurrent parameter count is closest to ``target``."""
    # blocks * (H^2 + (I + 2) H) = target: the positive root, then the nearer integer around it
    b, c = input_size + 2, target / BLOCKS[kind]
    root = (-b + math.sqrt(b * b + 4 * c)) / 2
    candidates = [max(1, math.floor(root)), math.ceil(root)]
    return min(candidates, key=lambda h: abs(recurrent_params(kind, input_size, h) - target))


def configurations(input_size: int, hidden: int, lstm_b0: bool = False) -> list[dict]:
    """The (cell, H, match) triples of one task: LSTM at H, the others at H and at matched params."""
    target = recurrent_params("lstm", input_size, hidden)
    configs = [{"model": "lstm", "hidden": hidden, "match": "both"}]
    for kind in ("gru", "rnn"):
        configs.append({"model": kind, "hidden": hidden, "match": "hidden"})
        configs.append({"model": kind, "hidden": matched_hidden(kind, input_size, target),
                        "match": "params"})
    if lstm_b0:
        configs.append({"model": "lstm_b0", "hidden": hidden, "match": "hidden"})
    return configs


def make_cell(kind: str, input_size: int, hidden: int) -> nn.Module:
    """nn.RNN/LSTM/GRU, batch_first; 'lstm' gets forget bias +1, 'lstm_b0' PyTorch's default."""
    cell = CELLS[kind.split("_")[0]](input_size, hidden, batch_first=True)
    if kind == "lstm":  # effective forget bias b_if + b_hf = 1 (notebook 04)
        with torch.no_grad():
            cell.bias_ih_l0[hidden:2 * hidden] = 0.0
            cell.bias_hh_l0[hidden:2 * hidden] = 1.0
    return cell


def last_state(state):
    return state[0] if isinstance(state, tuple) else state  # LSTM (h_n, c_n); others h_n


class Adder(nn.Module):
    """x (B, T, 2) -> cell -> Linear on the last output -> (B,) predicted sums."""

    def __init__(self, kind: str, hidden: int):
        super().__init__()
        self.rnn, self.head = make_cell(kind, 2, hidden), nn.Linear(hidden, 1)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.head(output[:, -1]).squeeze(-1)


class CharLM(nn.Module):
    """x (B, L) ids -> Embedding -> cell -> Linear: (B, L, V) logits, and the carried state."""

    def __init__(self, kind: str, vocab_size: int, embed: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn, self.head = make_cell(kind, embed, hidden), nn.Linear(hidden, vocab_size)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


class Sentiment(nn.Module):
    """(B, T) ids and (B,) lengths -> Embedding -> packed cell -> Linear on h_n: (B,) logits."""

    def __init__(self, kind: str, vocab_size: int, embed: int, hidden: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed, padding_idx=0)
        nn.init.normal_(self.embedding.weight[1:], std=0.1)
        self.rnn, self.head = make_cell(kind, embed, hidden), nn.Linear(hidden, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, padded, lengths):
        _, state = self.rnn(data.pack(self.dropout(self.embedding(padded)), lengths))
        return self.head(self.dropout(last_state(state)[-1])).squeeze(-1)


# ----------------------------------------------------------------------------- measuring

def first_below(values: list[float], target: float, window: int) -> int | None:
    """The first step (1-based) at which the mean of the last ``window`` values is < target."""
    v = np.asarray(values, dtype=float)
    if len(v) < window:
        return None
    means = np.convolve(v, np.ones(window) / window, mode="valid")  # means[i]: steps i+1..i+window
    hits = np.nonzero(means < target)[0]
    return int(hits[0] + window) if len(hits) else None


def thin(values: list[float], every: int) -> list[float]:
    """Means of consecutive blocks of ``every`` values: a short curve for the JSON file."""
    v = np.asarray(values, dtype=float)
    n = len(v) // every
    return [round(float(x), 5) for x in v[: n * every].reshape(n, every).mean(axis=1)] if n else []


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def adding_steps(settings: dict, length: int) -> int:
    """Training steps of the adding problem at length T (more from ``long_from`` on)."""
    return settings["long_steps"] if length >= settings["long_from"] else settings["steps"]


def record(task: str, config: dict, seed: int, model: nn.Module, history, seconds: float,
           metric: str, value: float, steps_to_target: int | None, curve_every: int,
           lr: float) -> dict:
    steps = len(history.loss)
    return {
        "task": task, **config, "seed": seed, "lr": lr,
        "params_recurrent": count(model.rnn), "params_total": count(model),
        "metric": metric, "value": value,
        "epochs": len(history.epoch_time), "steps": steps, "train_seconds": round(seconds, 3),
        "seconds_per_epoch": round(float(np.mean(history.epoch_time)), 3),
        "steps_to_target": steps_to_target,
        "seconds_to_target": None if steps_to_target is None
        else round(seconds * steps_to_target / steps, 3),
        "curve": thin(history.loss, curve_every), "curve_every": curve_every,
        "val_curve": history.val_metrics.get("accuracy", history.val_loss),
    }


# ----------------------------------------------------------------------------- the tasks

def run_adding(settings: dict, seeds: list[int], log) -> list[dict]:
    """Every configuration at the shared learning rate, then the sweep's other rates.

    Each run records its validation MSE (``val_mse``: the set on which learning rates and
    step counts are chosen) and its test MSE (``value``: reported, never used to choose).
    """
    s, runs = settings, []
    mse_loss = nn.MSELoss()
    for T in s["lengths"]:
        steps = adding_steps(s, T)
        x_val, y_val = data.adding_problem(n=s["test_n"], length=T, seed=20_000 + T)
        x_test, y_test = data.adding_problem(n=s["test_n"], length=T, seed=10_000 + T)
        jobs = [(config, s["lr"]) for config in configurations(2, s["hidden"], lstm_b0=True)]
        if T in s["sweep_lengths"]:
            jobs += [({"model": kind, "hidden": s["hidden"],
                       "match": "both" if kind == "lstm" else "hidden"}, lr)
                     for lr in s["lrs"] if lr != s["lr"] for kind in ("rnn", "lstm", "gru")]
        for seed in seeds:
            x, y = data.adding_problem(n=steps * s["batch"], length=T, seed=1000 * seed + T)
            batches = list(zip(x.split(s["batch"]), y.split(s["batch"]), strict=True))
            for config, lr in jobs:
                torch.manual_seed(seed)
                model = Adder(config["model"], config["hidden"])
                start = time.perf_counter()
                history = train.fit(model, batches, loss_fn=mse_loss, lr=lr, steps=steps,
                                    log_every=50, seed=seed, quiet=True)
                seconds = time.perf_counter() - start
                val = train.evaluate(model, [(x_val, y_val)], loss_fn=mse_loss)["loss"]
                mse = train.evaluate(model, [(x_test, y_test)], loss_fn=mse_loss)["loss"]
                hit = first_below(history.loss, s["target"], s["smooth"])
                rec = record(f"adding_T{T}", config, seed, model, history, seconds,
                             "test_mse", mse, hit, curve_every=10, lr=lr)
                rec["val_mse"] = val
                runs.append(rec)
                log(rec)
    return runs


def char_lm_loss(logits, y):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def run_charlm(settings: dict, seeds: list[int], log) -> list[dict]:
    s, runs = settings, []
    text = data.load_shakespeare()
    train_text, val_text, _ = data.split_sequence(text, (0.9, 0.05, 0.05))
    vocab = data.Vocab(data.char_tokenize(train_text))
    train_ids = vocab.encode(train_text[: s["train_chars"]])
    val_ids = vocab.encode(val_text[: s["val_chars"]])
    train_batches = list(data.bptt_batches(data.batchify(train_ids, s["batch"]), s["seq_len"]))
    val_batches = list(data.bptt_batches(data.batchify(val_ids, s["batch"]), s["seq_len"]))
    for seed in seeds:
        for config in configurations(s["embed"], s["hidden"]):
            torch.manual_seed(seed)
            model = CharLM(config["model"], len(vocab), s["embed"], config["hidden"])
            start = time.perf_counter()
            history = train.fit(model, train_batches, loss_fn=char_lm_loss, lr=s["lr"],
                                epochs=s["epochs"], val_data=val_batches, clip_norm=s["clip"],
                                stateful=True, log_every=25, seed=seed, quiet=True)
            seconds = time.perf_counter() - start
            hit = first_below(history.loss, s["target"], s["smooth"])
            runs.append(record("charlm", config, seed, model, history, seconds,
                               "val_loss_nats", history.val_loss[-1], hit, curve_every=5,
                               lr=s["lr"]))
            log(runs[-1])
    return runs


def run_sentiment(settings: dict, seeds: list[int], log, limit: int | None = None) -> list[dict]:
    """Ranked on the validation sentences: the test sentences belong to notebook 07's final
    evaluation, and are not read here."""
    s, runs = settings, []
    sentences = data.load_sentiment()
    train_idx, val_idx, _ = data.split_indices(len(sentences), (0.8, 0.1, 0.1),
                                               seed=s["split_seed"])
    if limit:
        train_idx, val_idx = train_idx[:limit], val_idx[: limit // 8]
    tokens = [data.word_tokenize(t) for t in sentences.texts]
    vocab = data.Vocab([t for i in train_idx for t in tokens[i]], min_freq=2)

    def pairs(indices):
        return [(torch.tensor(vocab.encode(tokens[i])), torch.tensor(float(sentences.labels[i])))
                for i in indices]

    train_set, val_set = pairs(train_idx), pairs(val_idx)
    loader = torch.utils.data.DataLoader
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        train_loader = loader(train_set, batch_size=s["batch"], shuffle=True, generator=g,
                              collate_fn=data.collate_padded)
        val_loader = loader(val_set, batch_size=256, collate_fn=data.collate_padded)
        for config in configurations(s["embed"], s["hidden"]):
            torch.manual_seed(seed)
            model = Sentiment(config["model"], len(vocab), s["embed"], config["hidden"],
                              s["dropout"])
            start = time.perf_counter()
            history = train.fit(model, train_loader, loss_fn=nn.BCEWithLogitsLoss(), lr=s["lr"],
                                epochs=s["epochs"], val_data=val_loader, clip_norm=s["clip"],
                                metrics={"accuracy": train.accuracy}, seed=seed, quiet=True)
            seconds = time.perf_counter() - start
            accs = history.val_metrics["accuracy"]
            reached = next((e for e, a in enumerate(accs, 1) if a >= s["target"]), None)
            rec = record("sentiment", config, seed, model, history, seconds, "val_accuracy",
                         accs[-1], None, curve_every=10, lr=s["lr"])
            if reached is not None:  # time to target: the epochs until validation reached it
                rec["epochs_to_target"] = reached
                rec["seconds_to_target"] = round(float(sum(history.epoch_time[:reached])), 3)
            else:
                rec["epochs_to_target"] = None
            runs.append(rec)
            log(rec)
    return runs


def run_timing(adding: dict, charlm: dict, sentiment: dict, rounds: int, steps: int,
               log) -> list[dict]:
    """Seconds per training step (forward, backward, Adam) of every configuration.

    Only this task measures speed: the wall times of the training runs above depend on what
    else the machine was doing, and are not used for any conclusion. Here every configuration
    of every task is built first, then timed in turns, round-robin: round 1 times each
    configuration for ``steps`` steps, then round 2 does the same, and so on, ``rounds``
    times. A burst of other work then slows one round of every configuration alike instead of
    all rounds of one. Each configuration keeps its median round (and its fastest, as a check)
    and its ``cpu_share``, the CPU time of this process over the wall time: the load average
    misses a hypervisor taking the CPU away (steal), this share does not. ``main`` refuses to
    save the result when the load average says other work was running, and records the lowest
    share for the notebook to judge.
    """
    problems = []
    for T in adding["lengths"]:
        x, y = data.adding_problem(n=adding["batch"], length=T, seed=T)
        problems.append((f"adding_T{T}", 2, adding["hidden"], adding_steps(adding, T),
                         lambda kind, h: Adder(kind, h), nn.MSELoss(), [((x,), y)]))
    text = data.load_shakespeare()[: 20_000]
    vocab = data.Vocab(data.char_tokenize(text))
    ids = data.batchify(vocab.encode(text), charlm["batch"])
    x, y = next(data.bptt_batches(ids, charlm["seq_len"]))
    per_epoch = (charlm["train_chars"] // charlm["batch"] - 1 + charlm["seq_len"] - 1) // charlm["seq_len"]
    problems.append(("charlm", charlm["embed"], charlm["hidden"], per_epoch,
                     lambda kind, h: _Stateless(CharLM(kind, len(vocab), charlm["embed"], h)),
                     char_lm_loss, [((x,), y)]))
    sentences = data.load_sentiment()
    train_idx = data.split_indices(len(sentences), (0.8, 0.1, 0.1),
                                   seed=sentiment["split_seed"])[0]
    tokens = [data.word_tokenize(sentences.texts[i]) for i in train_idx]
    words = data.Vocab([t for s in tokens for t in s], min_freq=2)
    g = np.random.default_rng(0)
    batches = []
    for _ in range(8):  # eight random training batches, of the lengths an epoch has
        pick = g.choice(len(tokens), sentiment["batch"], replace=False)
        (padded, lengths), labels = data.collate_padded(
            [(torch.tensor(words.encode(tokens[i])), float(sentences.labels[train_idx[i]]))
             for i in pick])
        batches.append(((padded, lengths), labels.float()))
    problems.append(("sentiment", sentiment["embed"], sentiment["hidden"],
                     math.ceil(len(train_idx) / sentiment["batch"]),
                     lambda kind, h: Sentiment(kind, len(words), sentiment["embed"], h,
                                               sentiment["dropout"]),
                     nn.BCEWithLogitsLoss(), batches))
    jobs = []  # (task, config, steps per epoch, model, optimizer, loss, batches)
    for task, input_size, hidden, per_epoch, build, loss_fn, batches in problems:
        for config in configurations(input_size, hidden):
            torch.manual_seed(0)
            model = build(config["model"], config["hidden"])
            jobs.append((task, config, per_epoch, model,
                         torch.optim.Adam(model.parameters(), lr=1e-3), loss_fn, batches))

    def step(job, i):
        _, _, _, model, optimizer, loss_fn, batches = job
        inputs, targets = batches[i % len(batches)]
        optimizer.zero_grad()
        loss_fn(model(*inputs), targets).backward()
        optimizer.step()

    for job in jobs:  # warm up: first calls allocate memory and pick kernels
        for i in range(3):
            step(job, i)
    times = [[] for _ in jobs]
    cpu = [[] for _ in jobs]  # CPU seconds of this process in each round
    for _ in range(rounds):
        for k, job in enumerate(jobs):
            start, start_cpu = time.perf_counter(), time.process_time()
            for i in range(steps):
                step(job, i)
            cpu[k].append(time.process_time() - start_cpu)
            times[k].append((time.perf_counter() - start) / steps)
    out = []
    for (task, config, per_epoch, *_), seconds, busy in zip(jobs, times, cpu, strict=True):
        median = float(np.median(seconds))
        out.append({"task": task, **config, "seconds_per_step": round(median, 6),
                    "fastest_seconds_per_step": round(min(seconds), 6),
                    "rounds": len(seconds), "steps_per_epoch": per_epoch,
                    "seconds_per_epoch": round(median * per_epoch, 3),
                    # near 1: nothing took the core away (the load average misses steal)
                    "cpu_share": round(sum(busy) / (sum(seconds) * steps), 3)})
        log(out[-1])
    return out


class _Stateless(nn.Module):
    """A CharLM without its carried state, for timing one window."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)[0]


# ----------------------------------------------------------------------------- main

def machine() -> dict:
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    cpu_model = None
    try:
        cpu_model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu_model,
            "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": "cpu", "load_average_at_start": load,
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


def public_command(command: str) -> str:
    """The command with its --out and --merge paths cut to file names (no machine paths)."""
    words, out, keep_name = command.split(), [], False
    for word in words:
        if word.startswith("--"):
            keep_name = word in ("--out", "--merge")
            out.append(word)
        else:
            out.append(Path(word).name if keep_name else word)
    return " ".join(out)


def supplied(result: dict) -> list[str]:
    """The run tasks (``adding_T100``, ``sentiment``, ...) and ``timing`` that a file holds."""
    tasks = dict.fromkeys(r["task"] for r in result["runs"])
    return [*tasks, *(["timing"] if result.get("timing") else [])]


def merge(paths: list[Path]) -> dict:
    """Join part files (or merged files) into one; a later file replaces an earlier one's runs.

    What a file supplies is counted per run task (``adding_T100``, ``sentiment``) and for the
    timing, so a re-run of one part replaces that part only. ``parts`` keeps, for every part
    still supplying something, its command, machine, wall seconds and what it supplies.
    """
    parts: list[dict] = []   # each with "supplies", "runs", "timing"
    settings: dict = {}
    for path in paths:
        result = json.loads(path.read_text())
        if "parts" in result:  # a merged file: split its runs and timing back into its parts
            pieces = [{**part, "runs": [r for r in result["runs"] if r["task"] in part["supplies"]],
                       "timing": result.get("timing", []) if "timing" in part["supplies"] else []}
                      for part in result["parts"]]
        else:
            pieces = [{"command": public_command(result["command"]), "machine": result["machine"],
                       "wall_seconds": result["wall_seconds"], "supplies": supplied(result),
                       "runs": result["runs"], "timing": result.get("timing", [])}]
            if "timing_load" in result:
                pieces[0]["timing_load"] = result["timing_load"]
        new = {task for piece in pieces for task in piece["supplies"]}
        for part in parts:  # what the new file supplies replaces the older parts' runs
            part["supplies"] = [t for t in part["supplies"] if t not in new]
            part["runs"] = [r for r in part["runs"] if r["task"] not in new]
            if "timing" in new:
                part["timing"] = []
        parts = [part for part in parts if part["supplies"]] + pieces
        for task, values in result["settings"].items():
            if task == "adding" and task in settings:  # parts with different lengths T
                old = settings[task]
                lengths = sorted(set(old["lengths"]) | set(values["lengths"]))
                per_length = {**old.get("steps_per_length", {str(T): old["steps"] for T in old["lengths"]}),
                              **values.get("steps_per_length", {str(T): values["steps"]
                                                                 for T in values["lengths"]})}
                values = {**old, **values, "lengths": lengths, "steps_per_length": per_length,
                          "sweep_lengths": sorted(set(old.get("sweep_lengths", []))
                                                  | set(values.get("sweep_lengths", [])))}
            settings[task] = values
    return {"machine": parts[-1]["machine"], "seeds": result["seeds"], "quick": result["quick"],
            "command": "merged from the parts below (--merge); a later part replaces the "
                       "runs of the tasks it supplies",
            "tasks": list(dict.fromkeys(t for p in parts for t in p["supplies"])),
            "settings": settings,
            "runs": [r for p in parts for r in p["runs"]],
            "timing": [t for p in parts for t in p["timing"]],
            "parts": [{k: v for k, v in p.items() if k not in ("runs", "timing")} for p in parts],
            "complete": True}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["adding", "charlm", "sentiment", "timing"],
                        choices=["adding", "charlm", "sentiment", "timing"])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per configuration")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a test of the script")
    parser.add_argument("--lengths", type=int, nargs="+", help="adding-problem lengths T")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-load", type=float, default=None,
                        help="timing: refuse to save when the 1-minute load average, before or "
                             "after, is above this (default: half the CPUs)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--merge", nargs="+", type=Path, help="join part files into --out")
    args = parser.parse_args(argv)

    if args.merge:
        merged = merge(args.merge)
        args.out.write_text(json.dumps(merged, indent=1) + "\n")
        print(f"merged {len(merged['runs'])} runs and {len(merged['timing'])} timings into "
              f"{args.out}")
        return

    torch.set_num_threads(args.threads)
    adding, charlm, sentiment = dict(ADDING), dict(CHARLM), dict(SENTIMENT)
    limit = None
    if args.lengths:
        adding["lengths"] = args.lengths
    if args.quick:
        adding.update(lengths=[10], hidden=8, steps=60, long_from=10, long_steps=80, test_n=100,
                      smooth=10, sweep_lengths=[10], lrs=[1e-2, 3e-2])
        charlm.update(train_chars=8_000, val_chars=2_000, hidden=16, epochs=1, smooth=5)
        sentiment.update(hidden=8, epochs=1)
        limit = 400
    adding["sweep_lengths"] = [T for T in adding["sweep_lengths"] if T in adding["lengths"]]
    adding["steps_per_length"] = {str(T): adding_steps(adding, T) for T in adding["lengths"]}
    seeds = list(range(args.seeds))
    started = time.perf_counter()
    if "timing" in args.tasks:  # before anything runs: a busy machine is refused at once
        print(course.require_quiet_machine(args.max_load, "before"), flush=True)

    def save() -> None:  # after every run, so that a stopped grid keeps what it did
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_suffix(".partial")
        partial.write_text(json.dumps(result, indent=1) + "\n")
        partial.replace(args.out)

    def log(r: dict) -> None:
        extra = f"T {r['task']}" if r["task"].startswith("adding") else r["task"]
        print(f"[{time.perf_counter() - started:7.1f} s] {extra:11s} {r['model']:7s} "
              f"H={r['hidden']:<4d} ({r['match']:6s}) lr {r['lr']:g} seed {r['seed']}: "
              f"{r['metric']} {r['value']:.4f} (wall times here depend on the load: see the "
              f"timing task)", flush=True)
        result["runs"].append(r)
        save()

    result = {"machine": machine(), "seeds": seeds, "quick": args.quick, "tasks": args.tasks,
              "command": public_command(" ".join(["python", "scripts/lstm_vs_gru_grid.py",
                                                  *(sys.argv[1:] if argv is None else argv)])),
              "settings": {}, "wall_seconds": {}, "runs": [], "complete": False}
    for task in args.tasks:
        t0 = time.perf_counter()
        if task == "adding":
            result["settings"]["adding"] = adding
            run_adding(adding, seeds, log)
        elif task == "charlm":
            result["settings"]["charlm"] = charlm
            run_charlm(charlm, seeds, log)
        elif task == "sentiment":
            result["settings"]["sentiment"] = sentiment
            run_sentiment(sentiment, seeds, log, limit)
        else:
            limit_load = args.max_load if args.max_load is not None else (os.cpu_count() or 2) / 2
            before = course.require_quiet_machine(args.max_load, "before")
            load_before = course.load_average()
            settings = {"rounds": 3 if args.quick else 9, "steps": 3 if args.quick else 10}
            timing = run_timing(adding, charlm, sentiment, **settings,
                                log=lambda r: print(f"timing {r['task']:11s} {r['model']:5s} "
                                                    f"H={r['hidden']:<4d} "
                                                    f"{r['seconds_per_step'] * 1e3:7.2f} ms/step "
                                                    f"(median of {r['rounds']} rounds)",
                                                    flush=True))
            after = course.require_quiet_machine(args.max_load, "after")  # exits: not saved
            print(f"timing: {before}, {after} (limit {limit_load:.2f})", flush=True)
            result["settings"]["timing"] = settings
            result["timing"] = timing
            result["timing_load"] = {"before": load_before, "after": course.load_average(),
                                     "max_load": limit_load, "cpu_count": os.cpu_count(),
                                     "cpu_share": min(t["cpu_share"] for t in timing)}
            save()
        result["wall_seconds"][task] = round(time.perf_counter() - t0, 1)
    try:
        result["machine"]["load_average_at_end"] = os.getloadavg()
    except OSError:
        pass
    result["complete"] = True
    save()
    print(f"wrote {len(result['runs'])} runs to {args.out} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
