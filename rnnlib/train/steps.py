"""The pieces of one training step, with errors that say what was expected and what came."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def shape(x: Any) -> str:
    """``(16, 1)`` for a tensor, ``((16, 6, 3), (16,))`` for a tuple of them."""
    if isinstance(x, torch.Tensor):
        return str(tuple(x.shape))
    if isinstance(x, PackedSequence):
        return f"PackedSequence{tuple(x.data.shape)}"
    if isinstance(x, tuple | list):
        return "(" + ", ".join(shape(item) for item in x) + ")"
    return type(x).__name__


def as_pair(batch: Any) -> tuple[Any, Any]:
    """A batch is ``(inputs, targets)``."""
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        what = f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, tuple | list) \
            else f"a {type(batch).__name__}"
        raise ValueError(f"each batch should be a pair (inputs, targets), got {what}: "
                         f"{shape(batch)}. A Dataset's __getitem__ should return (x, y).")
    return batch[0], batch[1]


def forward(net: nn.Module, inputs: Any, state: Any, stateful: bool) -> tuple[Any, Any]:
    """``net(*inputs)``, or ``net(*inputs, state)`` -> ``(output, state)`` with ``stateful``."""
    unpack = isinstance(inputs, tuple | list) and not isinstance(inputs, PackedSequence)
    args = tuple(inputs) if unpack else (inputs,)
    try:
        result = net(*args, state) if stateful else net(*args)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        carried = f" and carried state {shape(state)}" if stateful else ""
        hint = (" (with stateful=True the batch size must not change between batches: "
                "use drop_last=True)" if stateful and state is not None else "")
        raise ValueError(f"the model failed on inputs of shape {shape(inputs)}{carried}: "
                         f"{error}{hint}") from error
    if stateful:
        if not (isinstance(result, tuple | list) and len(result) == 2):
            raise ValueError(f"with stateful=True the model should return (output, state), "
                             f"got {shape(result)}")
        return result[0], result[1]
    if not isinstance(result, torch.Tensor):
        raise ValueError(f"the model returned {shape(result)}, not a tensor: if it returns "
                         f"(output, state), pass stateful=True or return only the output")
    return result, None


def compute_loss(loss_fn: LossFn, output: torch.Tensor, targets: Any) -> torch.Tensor:
    """``loss_fn(output, targets)``; a failure names the shapes and the usual fix."""
    try:
        return loss_fn(output, targets)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise ValueError(f"{describe(output, targets, loss_fn)}: the loss failed ({error}). For "
                         f"CrossEntropyLoss the output is (N, C) scores and the targets (N,) "
                         f"class indices; for sequences, flatten: output.reshape(-1, C), "
                         f"targets.reshape(-1).") from error


def describe(output: Any, targets: Any, loss_fn: Any) -> str:
    name = repr(loss_fn) if isinstance(loss_fn, nn.Module) else getattr(
        loss_fn, "__name__", type(loss_fn).__name__)
    return f"model output of shape {shape(output)}, targets of shape {shape(targets)}, loss {name}"


def grad_norm(params: list[torch.Tensor], clip_norm: float | None) -> torch.Tensor:
    """The L2 norm of all gradients together, measured before clipping them to ``clip_norm``."""
    if clip_norm is not None:
        return nn.utils.clip_grad_norm_(params, clip_norm)  # returns the norm before
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:  # the loss did not depend on any parameter
        return torch.zeros((), device=params[0].device)
    return nn.utils.get_total_norm(grads)


def detach(state: Any) -> Any:
    """Cut the carried state loose from the graph of the batch that made it."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach(s) for s in state)
    return state


def backward_and_update(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: Any,
                        params: list[torch.Tensor], clip_norm: float | None) -> torch.Tensor:
    """Backward, measure (and clip) the gradients, update; returns the norm before clipping.

    With fp16's gradient scaler the loss is scaled up before backward, so that small
    gradients survive fp16's range, and the gradients are unscaled before they are measured;
    the scaler skips the update when a gradient overflowed, and lowers its scale. To know
    whether one did, ``scaler.step`` reads one flag back from the GPU: the one wait per step
    that a scaler costs.
    """
    if scaler is None:
        loss.backward()
        norm = grad_norm(params, clip_norm)
        optimizer.step()
        return norm
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # the true gradients again, to measure and clip
    norm = grad_norm(params, clip_norm)
    scaler.step(optimizer)
    scaler.update()
    return norm
