"""Scoring a model: the mean loss and metrics over some data, and ``accuracy``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from rnnlib.train import arguments
from rnnlib.train.device import named_device, to_device
from rnnlib.train.precision import Precision, choose
from rnnlib.train.steps import LossFn, as_pair, compute_loss, forward, shape


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable, *, loss_fn: LossFn,
             metrics: Mapping[str, LossFn] | None = None, device: str | torch.device | None = None,
             amp: str | None = None, stateful: bool = False) -> dict[str, float]:
    """The mean loss and metrics of ``model`` over ``data``, weighted by target elements.

    Returns ``{"loss": ..., name: ...}`` for each of ``metrics``. The model is put in eval mode
    (no dropout) and back in the mode it was in. ``device`` defaults to where the model is.
    ``amp`` as for ``fit`` (default float32).
    """
    arguments.check_evaluate(model=model, data=data, loss_fn=loss_fn, metrics=metrics,
                             device=device, amp=amp, stateful=stateful)
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device
    device = named_device(device)
    model.to(device)
    precision = choose(amp, model, device)
    arguments.preflight_batches(model, data, name="data", loss_fn=loss_fn,
                                metrics=metrics or {}, device=device,
                                autocast=precision.autocast(device), stateful=stateful,
                                train=False)
    return run(model, data, loss_fn, metrics or {}, device, precision, stateful, world=1)


@torch.no_grad()
def run(model: nn.Module, batches: Iterable, loss_fn: LossFn, metrics: Mapping[str, LossFn],
        device: torch.device, precision: Precision, stateful: bool,
        world: int) -> dict[str, float]:
    """The sums stay on the device; one read-back at the end (all-reduced under torchrun)."""
    was_training = model.training
    model.eval()
    totals = torch.zeros(len(metrics) + 2, device=device, dtype=torch.float64)
    state = None
    for batch in batches:
        inputs, targets = as_pair(batch)
        inputs = to_device(inputs, device, keep_lengths=True)
        targets = to_device(targets, device)
        with precision.autocast(device):
            output, state = forward(model, inputs, state, stateful)
            loss = compute_loss(loss_fn, output, targets)
        n = targets.numel() if isinstance(targets, torch.Tensor) else 1
        values = [loss] + [metric(output, targets) for metric in metrics.values()]
        totals[:-1] += torch.stack([torch.as_tensor(v, device=device).double() for v in values]) * n
        totals[-1] += n
    model.train(was_training)
    if world > 1:
        torch.distributed.all_reduce(totals)
    *sums, count = totals.tolist()
    if count == 0:
        raise ValueError("the validation data gave no batches")
    return dict(zip(["loss", *metrics], [s / count for s in sums], strict=True))


def accuracy(output: torch.Tensor, targets: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """The fraction of right answers, as a 0-d tensor (a ``metrics`` entry for ``fit``).

    - Classes: ``output`` of scores ``(..., C)`` and integer ``targets`` of shape ``(...)``:
      right where the highest score is the target class.
    - Binary: ``output`` and float ``targets`` of the same shape: right where
      ``output > threshold`` agrees with ``targets > 0.5``. The default threshold 0 is for
      logits (``BCEWithLogitsLoss``); use 0.5 for a model that ends in a sigmoid.
    """
    if not isinstance(output, torch.Tensor) or not isinstance(targets, torch.Tensor):
        raise TypeError(f"accuracy: output and targets should be tensors, got "
                        f"{type(output).__name__} and {type(targets).__name__}")
    if output.dim() == targets.dim() + 1 and not targets.is_floating_point() \
            and output.shape[:-1] == targets.shape:
        return (output.argmax(dim=-1) == targets).float().mean()
    if output.shape == targets.shape:
        return ((output > threshold) == (targets > 0.5)).float().mean()
    raise ValueError(f"accuracy: expected scores (..., C) with class targets (...), or binary "
                     f"outputs with targets of the same shape; got output {shape(output)} "
                     f"and targets {shape(targets)} ({targets.dtype})")
