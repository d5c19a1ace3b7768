"""How fast is the teaching LSTM? rnnlib.scratch.LSTM against torch.nn.LSTM, forward + backward.

For each sequence length T, one process times both models on the same input with the same
weights, alternating them so that a noisy (shared) machine slows both alike, and reports the
median of several repeats. A third column times the same LSTM written with ``x_proj[t]``
indexing in the time loop instead of ``x_proj.unbind(0)``: each ``x_proj[t]`` sends back a
gradient as large as the whole (T, B, 4H) tensor, so its backward grows like T squared.

    python bench/cells_speed.py                 # CPU, 1 thread: the course's reference figure
    python bench/cells_speed.py --repeats 11 --device cuda

The last line is the headline: the ratio scratch / nn.LSTM at T = 400 (the course's target is
at most 2 on a CPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch starts its thread pool

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from rnnlib import scratch  # noqa: E402
from rnnlib.course import describe_device, load_average, require_quiet_machine  # noqa: E402


def lstm_indexing_loop(model: scratch.LSTM, x: torch.Tensor) -> torch.Tensor:
    """The scratch LSTM's first layer, but looping with ``x_proj[t]``: do not do this.

    x: (T, B, I). Returns the outputs (T, B, H). Same numbers as ``model(x)[0]``; only the
    backward pass differs: T SelectBackward nodes, each adding a (T, B, 4H) gradient.
    """
    x_proj = F.linear(x, model.weight_ih_l0, model.bias_ih_l0)       # (T, B, 4H)
    h = x.new_zeros(x.size(1), model.hidden_size)
    c = x.new_zeros(x.size(1), model.hidden_size)
    outputs = []
    for t in range(x_proj.size(0)):
        h, c = scratch.lstm_step(x_proj[t], h, c, model.weight_hh_l0, model.bias_hh_l0)
        outputs.append(h)
    return torch.stack(outputs)


def forward_backward(run, model: nn.Module, x: torch.Tensor, device: torch.device) -> float:
    """Seconds for one forward and backward pass of ``run(model, x)``."""
    for p in model.parameters():
        p.grad = None
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    output = run(model, x)
    output.sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def layer_output(model, x):
    return model(x)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per model and T")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--lengths", default="25,50,100,200,400", help="values of T")
    parser.add_argument("--indexing-lengths", default="50,100,200",
                        help="values of T for the x[t] indexing loop (it is slow: keep them few)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--max-load", type=float, default=None,
                        help="refuse to time above this 1-minute load average (default: CPUs / 2)")
    args = parser.parse_args()
    print(require_quiet_machine(args.max_load, "before"))
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA GPU here")
    lengths = [int(t) for t in args.lengths.split(",") if t]
    slow_lengths = {int(t) for t in args.indexing_lengths.split(",") if t}

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    B, I, H = args.batch, args.input_size, args.hidden_size
    reference = nn.LSTM(I, H).to(device)
    mine = scratch.LSTM(I, H).to(device)
    mine.load_state_dict(reference.state_dict())
    print(f"torch {torch.__version__} | {describe_device(device)} | {torch.get_num_threads()} "
          f"thread(s) | B={B} I={I} H={H} | forward+backward, median of {args.repeats}")

    variants = {"nn.LSTM": (reference, layer_output), "scratch": (mine, layer_output),
                "x[t] loop": (mine, lstm_indexing_loop)}
    header = f"{'T':>5} {'nn.LSTM ms':>11} {'scratch ms':>11} {'scratch/nn':>11} " \
             f"{'x[t] loop ms':>13} {'x[t]/scratch':>13}"
    print(header)
    print("-" * len(header))
    ratios = {}
    for T in lengths:
        x = torch.randn(T, B, I, device=device)
        active = [v for v in variants if v != "x[t] loop" or T in slow_lengths]
        times = {v: [] for v in active}
        for v in active:                      # warm-up, untimed
            forward_backward(variants[v][1], variants[v][0], x, device)
        for _ in range(args.repeats):
            for v in active:                  # alternate, so that noise hits all alike
                model, run = variants[v]
                times[v].append(forward_backward(run, model, x, device))
        ms = {v: 1000 * statistics.median(times[v]) for v in active}
        ratios[T] = ms["scratch"] / ms["nn.LSTM"]
        slow = (f"{ms['x[t] loop']:13.1f} {ms['x[t] loop'] / ms['scratch']:13.2f}"
                if "x[t] loop" in ms else f"{'-':>13} {'-':>13}")
        print(f"{T:5d} {ms['nn.LSTM']:11.1f} {ms['scratch']:11.1f} {ratios[T]:11.2f} {slow}",
              flush=True)
    headline = 400 if 400 in ratios else max(ratios)
    load = load_average()  # this run itself adds about one per thread
    print(f"load average after: {load:.2f}" if load is not None else "load average after: unknown")
    print(f"ratio scratch/nn.LSTM forward+backward at T={headline}: {ratios[headline]:.2f}")


if __name__ == "__main__":
    main()
