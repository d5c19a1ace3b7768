"""What does rnnlib.train.fit cost over a bare, hand-written PyTorch loop?

The same small LSTM classifier, the same batches, the same number of steps, the same work per
step (forward, cross-entropy, backward, gradient-norm clipping, Adam), trained by ``fit`` and
by the shortest correct loop we can write. The two alternate in one process (bare first in
even repeats, fit first in odd ones) so that a machine getting busier or cooler hurts both
alike; each repeat gives a ratio fit/bare, and the headline is their median.

    python bench/trainer_overhead.py                  # CPU, 1 thread
    python bench/trainer_overhead.py --device cuda    # GPU

The last line ends with the median ratio (the goal: <= 1.03 on a CPU, <= 1.05 on a GPU).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import os
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # rnnlib from this checkout

from rnnlib.course import describe_device, load_average, require_quiet_machine  # noqa: E402
from rnnlib.train import fit  # noqa: E402


class Classifier(nn.Module):
    """(B, T, F) -> (B, C): an LSTM, then a linear layer on the last hidden state."""

    def __init__(self, features: int, hidden: int, classes: int):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.out = nn.Linear(hidden, classes)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(h[:, -1])


def bare_loop(model, batches, steps, device, clip_norm, amp_dtype):
    """The baseline: what one would write by hand, with nothing left out that fit does."""
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext()
    model.train()
    for x, y in itertools.islice(itertools.cycle(batches), steps):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast:
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
    return loss.item()  # one read-back at the end (which also waits for the GPU)


def fit_loop(model, batches, steps, device, clip_norm, amp):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = fit(model, batches, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer,
                  steps=steps, clip_norm=clip_norm, amp=amp, device=device, quiet=True,
                  log_every=50)
    return history.loss[-1]


def timed(run, *args) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of this process) for one run.

    On a shared machine other processes steal the CPU, which the wall clock counts and the
    process's CPU time does not: the two ratios agreeing says the machine was quiet enough.
    """
    if args[3].type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    run(*args)
    if args[3].type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=40, help="sequence length T")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--amp", choices=["bf16", "fp16"], default=None,
                        help="autocast in both loops (default: float32)")
    parser.add_argument("--max-load", type=float, default=None,
                        help="refuse to time above this 1-minute load average (default: CPUs / 2)")
    args = parser.parse_args()
    print(require_quiet_machine(args.max_load, "before"))

    os.environ["RNNLIB_THREADS"] = str(args.threads)  # fit then keeps the same count
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[args.amp]
    if args.amp == "fp16":
        sys.exit("fp16 needs a gradient scaler, which the bare loop here leaves out: use bf16")
    torch.manual_seed(0)
    features, classes, clip_norm = 16, 10, 1.0
    batches = [(torch.randn(args.batch, args.length, features),
                torch.randint(0, classes, (args.batch,))) for _ in range(50)]
    initial = Classifier(features, args.hidden, classes)

    def run(which: str) -> tuple[float, float]:
        model = copy.deepcopy(initial).to(device)  # the same start for every run
        if which == "bare":
            return timed(bare_loop, model, batches, args.steps, device, clip_norm, amp_dtype)
        return timed(fit_loop, model, batches, args.steps, device, clip_norm, args.amp)

    run("bare"), run("fit")  # warm-up: allocator, oneDNN/cuDNN plans, lazy imports
    print(f"trainer overhead: {describe_device(device)}, torch {torch.__version__}, "
          f"{args.threads} thread(s), LSTM {features}->{args.hidden}, B={args.batch}, "
          f"T={args.length}, {args.steps} steps, precision {args.amp or 'float32'}")
    print(f"{'repeat':>6}  {'bare (s)':>9}  {'fit (s)':>9}  {'ratio':>6}    "
          f"{'bare cpu (s)':>12}  {'fit cpu (s)':>11}  {'cpu ratio':>9}")
    ratios, cpu_ratios, bare_seconds = [], [], []
    for repeat in range(args.repeats):
        order = ("bare", "fit") if repeat % 2 == 0 else ("fit", "bare")
        times = {which: run(which) for which in order}
        (bare, bare_cpu), (fitted, fit_cpu) = times["bare"], times["fit"]
        ratios.append(fitted / bare)
        cpu_ratios.append(fit_cpu / bare_cpu)
        bare_seconds.append(bare)
        print(f"{repeat + 1:>6}  {bare:>9.3f}  {fitted:>9.3f}  {ratios[-1]:>6.3f}    "
              f"{bare_cpu:>12.3f}  {fit_cpu:>11.3f}  {cpu_ratios[-1]:>9.3f}")
    print(f"bare loop: {1e3 * min(bare_seconds) / args.steps:.2f} ms per step at best; "
          f"median ratio of CPU times {statistics.median(cpu_ratios):.3f}")
    load = load_average()  # this run itself adds about one per thread
    print(f"load average after: {load:.2f}" if load is not None else "load average after: unknown")
    print(f"trainer_overhead {device.type}: median ratio fit/bare (wall clock) = "
          f"{statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
