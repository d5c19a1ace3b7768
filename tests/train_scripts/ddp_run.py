"""Train a tiny model with ``fit``, under torchrun or alone; tests/test_train.py compares them.

    torchrun --standalone --nproc_per_node=2 ddp_run.py --out DIR --batch-size 8 --name ddp
    python ddp_run.py --out DIR --batch-size 16 --name single

Under torchrun each process gets its share of every batch (DistributedSampler), so two
processes with batches of 8 see the same global batches of 16 as one process alone. Each
process saves its final weights, history and dropout masks to DIR/NAME-rank{RANK}.pt.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from torch import nn

from rnnlib.train import end_torchrun_worker, fit


class Regressor(nn.Module):
    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(3, 8, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(self.dropout(h[:, -1])).squeeze(-1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--dropout", type=float, default=0.0)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    x = torch.randn(96, 6, 3)
    y = x[:, :, 0].sum(dim=1)
    dataset = torch.utils.data.TensorDataset(x[:64], y[:64])
    train = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[64:], y[64:]),
                                      batch_size=args.batch_size)
    model = Regressor(args.dropout)
    masks = []  # which units dropout zeroed, at every training step
    model.dropout.register_forward_hook(
        lambda module, inputs, output: masks.append(output == 0) if module.training else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    out = Path(args.out)
    history = fit(model, train, loss_fn=nn.MSELoss(), optimizer=optimizer, epochs=3,
                  val_data=val, clip_norm=5.0, checkpoint=out / f"{args.name}-checkpoint.pt",
                  log_every=2, seed=0, device="cpu", quiet=True)
    rank = int(os.environ.get("RANK", 0))
    torch.save({"model": model.state_dict(), "history": history.to_dict(),
                "world": int(os.environ.get("WORLD_SIZE", 1)), "masks": masks},
               out / f"{args.name}-rank{rank}.pt")


if __name__ == "__main__":
    main()
    end_torchrun_worker()
