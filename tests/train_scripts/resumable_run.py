"""A small training run that tests/test_train.py starts in a subprocess.

It can kill itself with SIGKILL part-way, as a culled Binder session or a closed laptop would
be killed: no exception, no clean-up. Run again with --resume, it continues from its
checkpoint. At the end it saves the final weights and history to --out. The test calls
``main`` in its own process for the runs that are not killed.

    python resumable_run.py --task shuffled|stateful --checkpoint C --out O [--kill-at N]
"""

from __future__ import annotations

import argparse
import os
import signal

import torch
from torch import nn

from rnnlib.train import accuracy, fit

EPOCHS = 3
CHECKPOINT_EVERY = 3


class Regressor(nn.Module):
    """LSTM with dropout, so that the random numbers (dropout masks) matter on resume."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 16, batch_first=True)
        self.dropout = nn.Dropout(0.2)
        self.out = nn.Linear(16, 1)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.out(self.dropout(h[:, -1])).squeeze(-1)


class CharModel(nn.Module):
    """A tiny character model for truncated BPTT: takes and returns the carried state."""

    def __init__(self, vocab: int = 7):
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.out = nn.Linear(16, vocab)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)
        return self.out(h), state


class KillAt:
    """The batches of ``data``; asked for batch number ``n`` (counting over all epochs from 1),
    the process kills itself with SIGKILL."""

    def __init__(self, data, n: int):
        self.data, self.n, self.count = data, n, 0

    def __iter__(self):
        for batch in self.data:
            self.count += 1
            if self.count == self.n:
                os.kill(os.getpid(), signal.SIGKILL)
            yield batch

    def __len__(self):
        return len(self.data)


def char_lm_loss(logits, targets):
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=["shuffled", "stateful"], required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    if args.task == "shuffled":
        x = torch.randn(160, 8, 3)
        y = x[:, :, 0].sum(dim=1)
        train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:128], y[:128]),
                                            batch_size=16, shuffle=True)
        val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[128:], y[128:]),
                                          batch_size=16)
        model, loss_fn, metrics, stateful = Regressor(), nn.MSELoss(), None, False
    else:
        # 4 parallel streams of a noisy repeating pattern, cut into 8 windows of 6 steps
        stream = (torch.arange(4 * 49).reshape(4, 49) % 7 + (torch.rand(4, 49) < 0.1)) % 7
        windows = [(stream[:, t:t + 6], stream[:, t + 1:t + 7]) for t in range(0, 48, 6)]
        train, val = windows, windows[:3]
        model, loss_fn, stateful = CharModel(), char_lm_loss, True
        metrics = {"accuracy": accuracy}

    history = fit(model, KillAt(train, args.kill_at) if args.kill_at else train,
                  loss_fn=loss_fn, lr=1e-2, epochs=EPOCHS, val_data=val, metrics=metrics,
                  clip_norm=1.0, stateful=stateful, checkpoint=args.checkpoint,
                  checkpoint_every=CHECKPOINT_EVERY, resume=args.resume, log_every=3, seed=7,
                  device="cpu", quiet=True)
    torch.save({"model": model.state_dict(), "history": history.to_dict()}, args.out)


if __name__ == "__main__":
    main()
