"""Train a small GRU on the adding problem with rnnlib.train.fit, on one process or several.

    python scripts/ddp_demo.py                                              # one process
    torchrun --standalone --nproc_per_node=2 scripts/ddp_demo.py            # two CPU processes
    python -m torch.distributed.run --standalone --nproc_per_node=2 scripts/ddp_demo.py

Under torchrun every process runs this same file. torchrun gives each one its RANK (0, 1, ...)
and the WORLD_SIZE in environment variables; ``fit`` reads them and then:

1. joins the others (``init_process_group``: gloo between CPU processes, NCCL between GPUs);
2. wraps the model in DistributedDataParallel: the same starting weights everywhere, and after
   each ``backward()`` the gradients are averaged across processes (an all-reduce);
3. gives each process its own slice of every epoch (a DistributedSampler), so each batch of
   ``--batch-size`` is per process and one step sees ``world * batch_size`` examples;
4. lets only rank 0 print and write the checkpoint.

This script joins the group itself (so that it can still compare the processes' weights after
training) and prints what each process saw. Notebook 10 runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # rnnlib from this checkout
from rnnlib import data  # noqa: E402
from rnnlib.train import end_torchrun_worker, fit  # noqa: E402


class AddingGRU(nn.Module):
    """(B, T, 2) -> (B,): a GRU, then a linear layer on the last hidden state."""

    def __init__(self, hidden: int):
        super().__init__()
        self.gru = nn.GRU(2, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(x)
        return self.out(h[:, -1]).squeeze(-1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=2048, help="training sequences")
    parser.add_argument("--length", type=int, default=20, help="T of the adding problem")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--checkpoint", default=None, help="file for rank 0's checkpoint")
    args = parser.parse_args(argv)

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world > 1:
        dist.init_process_group("gloo")  # CPU processes; fit would use NCCL between GPUs
    torch.manual_seed(0)  # the same data and starting weights in every process
    x, y = data.adding_problem(args.sequences + 512, args.length, seed=0)
    train = DataLoader(TensorDataset(x[:args.sequences], y[:args.sequences]),
                       batch_size=args.batch_size,
                       shuffle=True)
    val = DataLoader(TensorDataset(x[args.sequences:], y[args.sequences:]), batch_size=256)
    model = AddingGRU(args.hidden)

    started = time.perf_counter()
    history = fit(model, train, loss_fn=nn.MSELoss(), lr=3e-3, epochs=args.epochs,
                  val_data=val, clip_norm=1.0, checkpoint=args.checkpoint, seed=0,
                  device="cpu", quiet=rank != 0, log_every=10)
    seconds = time.perf_counter() - started
    steps = len(history.loss)
    print(f"rank {rank} of {world}: {steps} steps of {args.batch_size} sequences each "
          f"({steps * args.batch_size} sequences seen by this process) in {seconds:.1f} s",
          flush=True)

    # Are the weights the same in every process? They should be: same start, same averaged
    # gradients, same optimizer. Gather one number per process and compare.
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    if world > 1:
        dist.barrier()
        gathered = [torch.zeros_like(checksum) for _ in range(world)]
        dist.all_gather(gathered, checksum)
        if rank == 0:
            same = all(torch.equal(g, gathered[0]) for g in gathered)
            print(f"weights identical in all {world} processes: {same}")
        dist.destroy_process_group()
    if rank == 0:
        print(f"final validation MSE {history.val_loss[-1]:.4f} (always answering 1: 0.1667)")
        if args.checkpoint:
            print(f"checkpoint written by rank 0 only: {Path(args.checkpoint).name}")


if __name__ == "__main__":
    main()
    end_torchrun_worker()
