"""The full experiment of notebook 06: RNN vs LSTM vs GRU, several tasks, several seeds.

Trains a tanh RNN, an LSTM (forget bias +1) and a GRU on

- the adding problem at several lengths T (``adding_T25``, ``adding_T50``, ...),
- a character language model on a slice of Shakespeare (``charlm``),
- the movie-review sentiment task (``sentiment``),

each twice: at the **same hidden size** H as the LSTM, and at the **same number of recurrent
parameters** as the LSTM (a larger H for the GRU and the RNN, see ``matched_hidden``). On the
adding problem the LSTM also runs with PyTorch's default forget bias (``lstm_b0``), the
comparison Jozefowicz et al. (2015) made. Every configuration runs with several seeds.

Per run it records the final metric, the parameter counts, the wall time per epoch, and the
steps (or epochs) until the smoothed training loss, or the validation accuracy, first reached a
target. Wall times of whole runs depend on what else the machine was doing, so the ``timing``
task also times every configuration in turns and keeps its fastest round (``run_timing``). The
JSON file names the machine, since the times depend on it, and is written after every run.
Notebook 06 loads it and reruns a small part live.

    python scripts/lstm_vs_gru_grid.py                       # everything, 1 thread (~30 min)
    python scripts/lstm_vs_gru_grid.py --tasks adding --lengths 25 50 --out /tmp/a.json
    python scripts/lstm_vs_gru_grid.py --tasks charlm sentiment --out /tmp/b.json  # in parallel
    python scripts/lstm_vs_gru_grid.py --tasks timing --lengths 25 50 100 --out /tmp/t.json
    python scripts/lstm_vs_gru_grid.py --merge /tmp/a.json /tmp/b.json /tmp/t.json  # join them
    python scripts/lstm_vs_gru_grid.py --quick --out /tmp/q.json          # a test, ~20 s

The file in results/ was made the second way: three parts (adding T = 25 and 50; T = 100;
char LM and sentiment), two at a time, then the timing alone, then --merge.
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
from rnnlib import data, train  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "results" / "lstm-vs-gru-grid.json"
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}  # weight blocks per cell: 1, 3 (r, z, n), 4 (i, f, g, o)

# Settings of each task (the --quick grid shrinks them).
ADDING = {"lengths": [25, 50, 100], "hidden": 32, "batch": 64, "steps": 800, "lr": 1e-2,
          "test_n": 1000, "target": 0.05, "smooth": 50}
CHARLM = {"train_chars": 200_000, "val_chars": 40_000, "embed": 32, "hidden": 128, "batch": 32,
          "seq_len": 64, "epochs": 3, "lr": 3e-3, "clip": 1.0, "target": 2.2, "smooth": 25}
SENTIMENT = {"embed": 64, "hidden": 64, "batch": 64, "epochs": 4, "lr": 2e-3, "clip": 1.0,
             "dropout": 0.3, "target": 0.70}


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


def record(task: str, config: dict, seed: int, model: nn.Module, history, seconds: float,
           metric: str, value: float, steps_to_target: int | None, curve_every: int) -> dict:
    steps = len(history.loss)
    return {
        "task": task, **config, "seed": seed,
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
    s, runs = settings, []
    for T in s["lengths"]:
        x_test, y_test = data.adding_problem(n=s["test_n"], length=T, seed=10_000 + T)
        for seed in seeds:
            x, y = data.adding_problem(n=s["steps"] * s["batch"], length=T, seed=1000 * seed + T)
            batches = list(zip(x.split(s["batch"]), y.split(s["batch"]), strict=True))
            for config in configurations(2, s["hidden"], lstm_b0=True):
                torch.manual_seed(seed)
                model = Adder(config["model"], config["hidden"])
                start = time.perf_counter()
                history = train.fit(model, batches, loss_fn=nn.MSELoss(), lr=s["lr"],
                                    steps=s["steps"], log_every=50, seed=seed, quiet=True)
                seconds = time.perf_counter() - start
                mse = train.evaluate(model, [(x_test, y_test)], loss_fn=nn.MSELoss())["loss"]
                hit = first_below(history.loss, s["target"], s["smooth"])
                runs.append(record(f"adding_T{T}", config, seed, model, history, seconds,
                                   "test_mse", mse, hit, curve_every=10))
                log(runs[-1])
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
                               "val_loss_nats", history.val_loss[-1], hit, curve_every=5))
            log(runs[-1])
    return runs


def run_sentiment(settings: dict, seeds: list[int], log, limit: int | None = None) -> list[dict]:
    s, runs = settings, []
    sentences = data.load_sentiment()
    train_idx, val_idx, test_idx = data.split_indices(len(sentences), (0.8, 0.1, 0.1), seed=0)
    if limit:
        train_idx, val_idx, test_idx = train_idx[:limit], val_idx[: limit // 8], test_idx[: limit // 8]
    tokens = [data.word_tokenize(t) for t in sentences.texts]
    vocab = data.Vocab([t for i in train_idx for t in tokens[i]], min_freq=2)

    def pairs(indices):
        return [(torch.tensor(vocab.encode(tokens[i])), torch.tensor(float(sentences.labels[i])))
                for i in indices]

    train_set, val_set, test_set = pairs(train_idx), pairs(val_idx), pairs(test_idx)
    loader = torch.utils.data.DataLoader
    for seed in seeds:
        g = torch.Generator().manual_seed(seed)
        train_loader = loader(train_set, batch_size=s["batch"], shuffle=True, generator=g,
                              collate_fn=data.collate_padded)
        val_loader = loader(val_set, batch_size=256, collate_fn=data.collate_padded)
        test_loader = loader(test_set, batch_size=256, collate_fn=data.collate_padded)
        for config in configurations(s["embed"], s["hidden"]):
            torch.manual_seed(seed)
            model = Sentiment(config["model"], len(vocab), s["embed"], config["hidden"],
                              s["dropout"])
            start = time.perf_counter()
            history = train.fit(model, train_loader, loss_fn=nn.BCEWithLogitsLoss(), lr=s["lr"],
                                epochs=s["epochs"], val_data=val_loader, clip_norm=s["clip"],
                                metrics={"accuracy": train.accuracy}, seed=seed, quiet=True)
            seconds = time.perf_counter() - start
            test = train.evaluate(model, test_loader, loss_fn=nn.BCEWithLogitsLoss(),
                                  metrics={"accuracy": train.accuracy})
            accs = history.val_metrics["accuracy"]
            reached = next((e for e, a in enumerate(accs, 1) if a >= s["target"]), None)
            rec = record("sentiment", config, seed, model, history, seconds, "test_accuracy",
                         test["accuracy"], None, curve_every=10)
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
    """Seconds per training step of every configuration, robust to a busy machine.

    The wall times of the runs above depend on what else the machine was doing at the time (on
    a shared CPU they can vary tenfold). Here all configurations of a task are timed in turns,
    ``rounds`` times ``steps`` steps each (forward, backward, Adam), and each keeps its fastest
    round: the time it takes when it gets the CPU to itself. Seconds per epoch are that times
    the steps of an epoch.
    """
    out = []
    problems = []
    for T in adding["lengths"]:
        x, y = data.adding_problem(n=adding["batch"], length=T, seed=T)
        problems.append((f"adding_T{T}", 2, adding["hidden"], adding["steps"],
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
    train_idx = data.split_indices(len(sentences), (0.8, 0.1, 0.1), seed=0)[0]
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
    for task, input_size, hidden, per_epoch, build, loss_fn, batches in problems:
        configs = configurations(input_size, hidden)
        models = []
        for config in configs:
            torch.manual_seed(0)
            model = build(config["model"], config["hidden"])
            models.append((model, torch.optim.Adam(model.parameters(), lr=1e-3)))
        best = [math.inf] * len(configs)

        def step(model, optimizer, i, batches=batches, loss_fn=loss_fn):
            inputs, targets = batches[i % len(batches)]
            optimizer.zero_grad()
            loss_fn(model(*inputs), targets).backward()
            optimizer.step()

        for model, optimizer in models:  # warm up
            for i in range(3):
                step(model, optimizer, i)
        for _ in range(rounds):
            for k, (model, optimizer) in enumerate(models):
                start = time.perf_counter()
                for i in range(steps):
                    step(model, optimizer, i)
                best[k] = min(best[k], (time.perf_counter() - start) / steps)
        for config, seconds in zip(configs, best, strict=True):
            out.append({"task": task, **config, "seconds_per_step": round(seconds, 6),
                        "steps_per_epoch": per_epoch,
                        "seconds_per_epoch": round(seconds * per_epoch, 3)})
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["adding", "charlm", "sentiment", "timing"],
                        choices=["adding", "charlm", "sentiment", "timing"])
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per configuration")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a test of the script")
    parser.add_argument("--lengths", type=int, nargs="+", help="adding-problem lengths T")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--merge", nargs="+", type=Path, help="join part files into --out")
    args = parser.parse_args(argv)

    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        settings: dict = {}
        for part in parts:
            for task, values in part["settings"].items():
                if task == "adding" and task in settings:  # parts with different lengths T
                    values = {**values, "lengths": sorted(set(settings[task]["lengths"])
                                                          | set(values["lengths"]))}
                settings[task] = values
        merged = {**parts[0], "command": "merged from the parts below (--merge)", "runs": [r for p in parts for r in p["runs"]],
                  "tasks": list(dict.fromkeys(t for p in parts for t in p["tasks"])),
                  "settings": settings,
                  "wall_seconds": {f"{k} ({p['command']})": v for p in parts
                                   for k, v in p["wall_seconds"].items()},
                  "timing": [t for p in parts for t in p.get("timing", [])],
                  "parts": [{"command": p["command"], "machine": p["machine"]} for p in parts],
                  "complete": all(p.get("complete") for p in parts)}
        args.out.write_text(json.dumps(merged, indent=1) + "\n")
        print(f"merged {len(merged['runs'])} runs into {args.out}")
        return

    torch.set_num_threads(args.threads)
    adding, charlm, sentiment = dict(ADDING), dict(CHARLM), dict(SENTIMENT)
    limit = None
    if args.lengths:
        adding["lengths"] = args.lengths
    if args.quick:
        adding.update(lengths=[10], hidden=8, steps=60, test_n=100, smooth=10)
        charlm.update(train_chars=8_000, val_chars=2_000, hidden=16, epochs=1, smooth=5)
        sentiment.update(hidden=8, epochs=1)
        limit = 400
    seeds = list(range(args.seeds))
    started = time.perf_counter()

    def save() -> None:  # after every run, so that a stopped grid keeps what it did
        args.out.parent.mkdir(parents=True, exist_ok=True)
        partial = args.out.with_suffix(".partial")
        partial.write_text(json.dumps(result, indent=1) + "\n")
        partial.replace(args.out)

    def log(r: dict) -> None:
        extra = f"T {r['task']}" if r["task"].startswith("adding") else r["task"]
        print(f"[{time.perf_counter() - started:7.1f} s] {extra:11s} {r['model']:7s} "
              f"H={r['hidden']:<4d} ({r['match']:6s}) seed {r['seed']}: {r['metric']} "
              f"{r['value']:.4f}, {r['seconds_per_epoch']:.2f} s/epoch, "
              f"to target {r['seconds_to_target']} s", flush=True)
        result["runs"].append(r)
        save()

    result = {"machine": machine(), "seeds": seeds, "quick": args.quick, "tasks": args.tasks,
              "command": " ".join(["python", "scripts/lstm_vs_gru_grid.py", *sys.argv[1:]]),
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
            result["settings"]["timing"] = {"rounds": 3 if args.quick else 7,
                                            "steps": 3 if args.quick else 10}
            result["timing"] = run_timing(adding, charlm, sentiment, **result["settings"]["timing"],
                                          log=lambda r: print(f"timing {r['task']:11s} "
                                                              f"{r['model']:5s} H={r['hidden']:<4d}"
                                                              f" {r['seconds_per_step'] * 1e3:7.2f}"
                                                              f" ms/step", flush=True))
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
