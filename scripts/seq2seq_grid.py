"""The recorded run of notebook 11: the plain and the attention encoder-decoder on digit-string
reversal, several seeds, exact match against input length.

Each seed draws its own strings (``data.reversal_pairs`` with that seed), splits them 80/10/10
as the notebook does, trains the plain model and the additive-attention model with the
notebook's settings through ``rnnlib.train.fit``, and records the exact match of greedy
decoding on the **validation** strings, overall and per input length (the test strings are
the notebook's, scored once there). It also records dates (attention) per seed.

    python scripts/seq2seq_grid.py                      # 3 seeds, 1 thread, results/seq2seq-grid.json
    python scripts/seq2seq_grid.py --quick --out /tmp/q.json   # a test, seconds
    python scripts/seq2seq_grid.py --seeds 1 --out /tmp/s1.json   # one seed per process...
    python scripts/seq2seq_grid.py --merge /tmp/s0.json /tmp/s1.json /tmp/s2.json   # ...joined
    python scripts/seq2seq_grid.py --reverse-steps 2000   # train longer than the notebook can

The JSON file names the machine, the command and the settings. Wall times depend on what else
the machine was doing and are recorded only as a note.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rnnlib import course, data, seq2seq, train  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "results" / "seq2seq-grid.json"
# The notebook's parameters cell (learner mode).
SETTINGS = {"hidden": 64, "embed": 32, "batch": 64, "lr": 0.003, "clip_norm": 1.0,
            "n_reverse": 20000, "min_length": 4, "max_length": 40, "reverse_steps": 900,
            "n_dates": 10000, "date_steps": 300}
QUICK = {"n_reverse": 600, "reverse_steps": 5, "n_dates": 300, "date_steps": 5,
         "max_length": 12, "hidden": 16}


def splits(pairs):
    train_i, val_i, test_i = data.split_indices(len(pairs), (0.8, 0.1, 0.1), seed=0)
    return ([pairs[i] for i in train_i], [pairs[i] for i in val_i], [pairs[i] for i in test_i])


def run_task(pairs, attention, steps, max_out, s, seed):
    train_pairs, val_pairs, _ = splits(pairs)
    source = seq2seq.Codec([x for x, _ in train_pairs])
    target = seq2seq.Codec([y for _, y in train_pairs])
    torch.manual_seed(seed)
    model = seq2seq.Seq2Seq(len(source), len(target), s["embed"], s["hidden"], attention)
    batches = seq2seq.make_batches(train_pairs, source, target, s["batch"], seed=seed)
    started = time.perf_counter()
    history = train.fit(model, batches, loss_fn=seq2seq.sequence_loss, steps=steps,
                        epochs=1000, lr=s["lr"], clip_norm=s["clip_norm"], seed=seed,
                        device="cpu", quiet=True)
    outputs, _ = seq2seq.translate(model, [x for x, _ in val_pairs], source, target, max_out)
    expected = [y for _, y in val_pairs]
    return {"attention": attention or "none", "seed": seed, "steps": steps,
            "final_train_loss": history.loss[-1],
            "val_exact": seq2seq.exact_match(outputs, expected),
            "val_exact_by_length": {str(k): v for k, v in seq2seq.accuracy_by_length(
                outputs, expected, [len(x) for x, _ in val_pairs]).items()},
            "wall_s_note": round(time.perf_counter() - started, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a test of the script")
    parser.add_argument("--reverse-steps", type=int, default=SETTINGS["reverse_steps"],
                        help="training steps of both reversal models (the notebook's: "
                             f"{SETTINGS['reverse_steps']})")
    parser.add_argument("--merge", type=Path, nargs="+", help="join part files (one per seed)")
    args = parser.parse_args(argv)
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        merged = {**parts[0], "seeds": [s for p in parts for s in p["seeds"]],
                  "command": "merged from the parts below (--merge)",
                  "parts": [{"command": p["command"], "machine": p["machine"]} for p in parts],
                  "runs": [r for p in parts for r in p["runs"]]}
        args.out.write_text(json.dumps(merged, indent=1) + "\n")
        print(f"wrote {args.out}")
        return 0
    torch.set_num_threads(1)
    if args.reverse_steps < 1:
        parser.error(f"--reverse-steps should be a positive number of steps, got {args.reverse_steps}")
    s = {**SETTINGS, "reverse_steps": args.reverse_steps, **(QUICK if args.quick else {})}
    machine = {"platform": platform.platform(), "processor": platform.processor(),
               "python": platform.python_version(), "torch": torch.__version__,
               "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "device": "cpu", "date": datetime.datetime.now(datetime.UTC).strftime(
                   "%Y-%m-%dT%H:%M:%SZ")}
    runs = []
    for seed in args.seeds:
        course.seed_everything(seed)
        reverse = data.reversal_pairs(s["n_reverse"], s["min_length"], s["max_length"], seed=seed)
        for attention in (None, "additive"):
            runs.append({"task": "reverse", **run_task(reverse, attention, s["reverse_steps"],
                                                        s["max_length"] + 1, s, seed)})
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "val_exact_by_length"}),
                  flush=True)
        dates = data.date_pairs(s["n_dates"], seed=seed)
        runs.append({"task": "dates", **run_task(dates, "additive", s["date_steps"], 11, s, seed)})
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "val_exact_by_length"}),
              flush=True)
    result = {"machine": machine, "seeds": args.seeds, "quick": args.quick,
              "command": "python scripts/seq2seq_grid.py " + " ".join(argv or sys.argv[1:]),
              "settings": s, "split": "80/10/10 by data.split_indices(seed=0); validation only",
              "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
