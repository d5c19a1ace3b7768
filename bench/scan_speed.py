"""Parallel in time, measured: minGRU's log-space scan against its own step-by-step form and nn.GRU.

For each sequence length T, one process first checks that the parallel (log-space scan) and
the sequential (one step at a time) minGRU give the same outputs, then times forward + backward
of three models on the same input, alternating them so that a noisy (shared) machine slows all
alike, and reports medians:

- ``parallel``: ``rnnlib.parallel.MinGRU(mode="parallel")``, cumsum + logcumsumexp over time;
- ``sequential``: the same module and weights, ``mode="sequential"``, a Python loop over t;
- ``nn.GRU``: PyTorch's GRU (oneDNN on a CPU, cuDNN on a GPU), same input and hidden size.

    python bench/scan_speed.py                                   # CPU, 1 thread
    python bench/scan_speed.py --device cuda --repeats 11        # GPU (goal: ratio >= 10)
    python bench/scan_speed.py --device cuda --json results/gpu-scan_speed.json  # for notebook 10

The last line ends with the headline: the ratio sequential / parallel minGRU at T = 4096 (or
at the longest T measured). On a CPU with one thread expect it below 1: the scan does more
arithmetic than the loop (logs, exps, two scans) and a single core has no parallelism to give
it in return. A GPU runs the scan in O(log T) parallel rounds and the loop in T launches.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch starts its thread pool

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from rnnlib.course import describe_device, load_average, require_quiet_machine  # noqa: E402
from rnnlib.parallel import MinGRU  # noqa: E402

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}
# How close the two minGRU forms must be: the scan subtracts two logs of size ~T, so at long T
# float32 keeps fewer digits than a step-by-step loop (relative to the outputs' scale ~1).
TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-2, torch.bfloat16: 1e-1}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def forward_backward(run, x: torch.Tensor, params: list[torch.Tensor],
                     device: torch.device) -> float:
    """Seconds for one forward and backward pass of ``run(x)``."""
    for p in params:
        p.grad = None
    sync(device)
    start = time.perf_counter()
    run(x).float().sum().backward()
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="256,512,1024,2048,4096", help="values of T")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=128, help="hidden size = input size")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per model and T")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--json", default=None,
                        help="also write the table to this JSON file (notebook 10 shows "
                             "results/gpu-*.json)")
    parser.add_argument("--max-load", type=float, default=None,
                        help="refuse to time above this 1-minute load average (default: CPUs / 2)")
    args = parser.parse_args()
    print(require_quiet_machine(args.max_load, "before"))
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA GPU here")
    lengths = [int(t) for t in args.lengths.split(",") if t]

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    B, H = args.batch, args.hidden
    mingru = MinGRU(H, H).to(device, dtype)
    gru = nn.GRU(H, H).to(device, dtype)
    print(f"torch {torch.__version__} | {describe_device(device)} | {torch.get_num_threads()} "
          f"thread(s) | B={B} I=H={H} {args.dtype} | forward+backward, median of {args.repeats}")

    runs = {
        "parallel": (lambda x: mingru(x, mode="parallel")[0], list(mingru.parameters())),
        "sequential": (lambda x: mingru(x, mode="sequential")[0], list(mingru.parameters())),
        "nn.GRU": (lambda x: gru(x)[0], list(gru.parameters())),
    }
    header = (f"{'T':>5} {'parallel ms':>12} {'sequential ms':>14} {'nn.GRU ms':>10} "
              f"{'seq/par':>8} {'GRU/par':>8} {'max |diff|':>11}")
    print(header)
    print("-" * len(header))
    ratios, rows = {}, []
    for T in lengths:
        x = torch.randn(T, B, H, device=device, dtype=dtype)
        with torch.no_grad():  # the two forms of minGRU must agree before we time them
            par, seq = runs["parallel"][0](x).float(), runs["sequential"][0](x).float()
        diff = (par - seq).abs().max().item()
        scale = seq.abs().max().item()
        if not diff <= TOLERANCE[dtype] * max(scale, 1.0):
            sys.exit(f"T={T}: parallel and sequential minGRU differ by {diff:.3g} "
                     f"(outputs up to {scale:.3g}): the scan is wrong, not timing it")
        times = {k: [] for k in runs}
        for run, params in runs.values():  # warm-up, untimed
            forward_backward(run, x, params, device)
        for _ in range(args.repeats):
            for k, (run, params) in runs.items():  # alternate, so noise hits all alike
                times[k].append(forward_backward(run, x, params, device))
        ms = {k: 1000 * statistics.median(v) for k, v in times.items()}
        ratios[T] = ms["sequential"] / ms["parallel"]
        rows.append({"T": T, "parallel_ms": ms["parallel"], "sequential_ms": ms["sequential"],
                     "nn_gru_ms": ms["nn.GRU"], "max_abs_diff": diff})
        print(f"{T:5d} {ms['parallel']:12.1f} {ms['sequential']:14.1f} {ms['nn.GRU']:10.1f} "
              f"{ratios[T]:8.2f} {ms['nn.GRU'] / ms['parallel']:8.2f} {diff:11.2e}", flush=True)
    headline = 4096 if 4096 in ratios else max(ratios)
    if args.json:
        record = {"bench": "scan_speed", "device": describe_device(device),
                  "torch": torch.__version__, "threads": torch.get_num_threads(), "batch": B,
                  "hidden": H, "dtype": args.dtype, "repeats": args.repeats, "rows": rows,
                  "headline": {"T": headline, "sequential_over_parallel": ratios[headline]}}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    load = load_average()  # this run itself adds about one per thread
    print(f"load average after: {load:.2f}" if load is not None else "load average after: unknown")
    print(f"ratio sequential/parallel minGRU at T={headline}: {ratios[headline]:.2f}")


if __name__ == "__main__":
    main()
