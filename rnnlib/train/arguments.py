"""Bad input gets a clear error before any work starts.

``check_fit`` and ``check_evaluate`` look at every argument alone (type, range) and together
(combinations that make no sense). ``preflight`` then runs the first batch of the data through
the model and the loss, once, without training, and checks what came out: the shapes the loss
compares, the range of the targets, and any silent broadcast between output and targets, a
wrong result that PyTorch would never report. Every error names the argument, what was
expected and what came.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader, Dataset, RandomSampler

from rnnlib import course
from rnnlib.train import precision as amp_choices
from rnnlib.train.device import to_device
from rnnlib.train.steps import as_pair, compute_loss, describe, forward, shape

ELEMENTWISE_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss,
                      nn.BCEWithLogitsLoss)
ELEMENTWISE_FUNCTIONS = (nn.functional.mse_loss, nn.functional.l1_loss,
                         nn.functional.smooth_l1_loss, nn.functional.huber_loss,
                         nn.functional.binary_cross_entropy,
                         nn.functional.binary_cross_entropy_with_logits)
BINARY_LOSSES = (nn.BCELoss, nn.BCEWithLogitsLoss, nn.functional.binary_cross_entropy,
                 nn.functional.binary_cross_entropy_with_logits)
CLASS_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.functional.cross_entropy,
                nn.functional.nll_loss)


# -- One argument at a time ------------------------------------------------------------------

def _type_name(value: Any) -> str:
    return f"{type(value).__name__} ({value!r})" if isinstance(value, numbers.Number | str) \
        else type(value).__name__


def whole_number(name: str, value: Any, minimum: int, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} should be a whole number >= {minimum}"
                        f"{' or None' if optional else ''}, got {_type_name(value)}")
    if value < minimum:
        raise ValueError(f"{name} should be >= {minimum}, got {value}")


def positive_number(name: str, value: Any, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} should be a number > 0{' or None' if optional else ''}, got "
                        f"{_type_name(value)}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} should be a finite number > 0, got {value}")


def flag(name: str, value: Any, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, bool):
        raise TypeError(f"{name} should be True or False{' or None' if optional else ''}, got "
                        f"{_type_name(value)}")


def batches(name: str, data: Any, optional: bool = False) -> None:
    """Something that gives ``(inputs, targets)`` batches every time it is read."""
    if data is None:
        if optional:
            return
        raise TypeError(f"{name} should give (inputs, targets) batches (a DataLoader or a list "
                        f"of batches), got None")
    if isinstance(data, Iterator):
        raise TypeError(f"{name} is an iterator (e.g. a generator), which can be read only "
                        f"once; pass something that can be read every epoch: a list of "
                        f"batches or a DataLoader")
    if isinstance(data, torch.Tensor):
        raise TypeError(f"{name} is a tensor of shape {tuple(data.shape)}: iterating it gives "
                        f"rows, not batches. Pass (inputs, targets) batches: a DataLoader over "
                        f"a TensorDataset(x, y), or a list of (x, y) pairs")
    if isinstance(data, Dataset) and not isinstance(data, DataLoader):
        raise TypeError(f"{name} is a {type(data).__name__}, which gives single examples, not "
                        f"batches: wrap it, DataLoader(dataset, batch_size=...)")
    if isinstance(data, str | bytes | Mapping) or not isinstance(data, Iterable):
        raise TypeError(f"{name} should give (inputs, targets) batches (a DataLoader or a list "
                        f"of batches), got {type(data).__name__}")
    try:
        empty = len(data) == 0
    except TypeError:  # no length: found out when it is read
        empty = False
    if empty:
        raise ValueError(f"{name} is empty: it gives no batches (with drop_last=True, is it "
                         f"smaller than one batch?)")


def callable_loss(name: str, fn: Any) -> None:
    if isinstance(fn, type):
        raise TypeError(f"{name} is the class {fn.__name__}, not a loss: pass an instance, "
                        f"e.g. {fn.__name__}()")
    if not callable(fn):
        raise TypeError(f"{name} should be a function (output, targets) -> a 0-d tensor, e.g. "
                        f"nn.CrossEntropyLoss(), got {_type_name(fn)}")


def metric_functions(metrics: Any) -> None:
    if metrics is None:
        return
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics should be a dict of name -> function(output, targets), e.g. "
                        f"{{'accuracy': accuracy}}, got {type(metrics).__name__}")
    for name, fn in metrics.items():
        if not isinstance(name, str) or name in ("", "loss"):
            raise ValueError(f"metrics: each name should be a non-empty string other than "
                             f"'loss', got {name!r}")
        callable_loss(f"metrics[{name!r}]", fn)


def device_name(device: Any) -> None:
    if device is None or isinstance(device, torch.device):
        return
    if not isinstance(device, str):
        raise TypeError(f"device should be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got "
                        f"{_type_name(device)}")
    if device.strip().lower() not in course.DEVICES:
        try:
            torch.device(device)
        except RuntimeError:
            raise ValueError(f"device should be 'auto', 'cpu', 'cuda', 'mps' or a device such "
                             f"as 'cuda:1', got {device!r}") from None


def amp_name(amp: Any) -> None:
    if amp not in amp_choices.AMP_CHOICES or isinstance(amp, bool):
        raise ValueError(f"amp should be 'auto', 'bf16', 'fp16' or None (float32), got {amp!r}")


def path_name(name: str, path: Any) -> None:
    if path is None:
        return
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{name} should be a file path (str or pathlib.Path), got "
                        f"{_type_name(path)}")
    if os.fspath(path) in ("", ".") or os.path.isdir(path):
        raise ValueError(f"{name} should name a file, got {os.fspath(path)!r}, which is a folder")


def a_model(model: Any) -> None:
    if isinstance(model, type):
        raise TypeError(f"model is the class {model.__name__}: pass an instance, "
                        f"{model.__name__}(...)")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model should be a torch.nn.Module, got {type(model).__name__}")


# -- All of fit's arguments, alone and together ----------------------------------------------

def check_fit(*, model, train_data, loss_fn, optimizer, lr, epochs, steps, val_data, metrics,
              clip_norm, amp, scheduler, patience, stateful, checkpoint, checkpoint_every,
              resume, log_every, seed, device, threads, quiet) -> None:
    a_model(model)
    batches("train_data", train_data)
    batches("val_data", val_data, optional=True)
    callable_loss("loss_fn", loss_fn)
    metric_functions(metrics)
    positive_number("lr", lr)
    whole_number("epochs", epochs, 1)
    whole_number("steps", steps, 1)
    positive_number("clip_norm", clip_norm)
    amp_name(amp)
    whole_number("patience", patience, 1)
    flag("stateful", stateful)
    path_name("checkpoint", checkpoint)
    whole_number("checkpoint_every", checkpoint_every, 1)
    flag("resume", resume)
    whole_number("log_every", log_every, 1, optional=False)
    whole_number("seed", seed, 0)
    device_name(device)
    whole_number("threads", threads, 1)
    flag("quiet", quiet, optional=True)
    _optimizer_and_scheduler(model, optimizer, lr, scheduler)
    if patience is not None and val_data is None:
        raise ValueError("early stopping (patience=...) watches the validation loss: "
                         "pass val_data too")
    if checkpoint is None and (resume or checkpoint_every is not None):
        asked = "resume=True" if resume else f"checkpoint_every={checkpoint_every}"
        raise ValueError(f"{asked} needs a checkpoint file: pass checkpoint='run.pt' too")
    if stateful and isinstance(getattr(train_data, "sampler", None), RandomSampler):
        raise ValueError("stateful=True carries the state from one batch to the next, so the "
                         "batches must continue each other in order; train_data is a "
                         "DataLoader with shuffle=True: use shuffle=False (or a list of "
                         "windows from rnnlib.data.bptt_batches)")
    if stateful and int(os.environ.get("WORLD_SIZE", 1)) > 1:
        raise ValueError("stateful=True (truncated BPTT) is not supported under torchrun: "
                         "sharding the batches between processes would break the carried state")


def _optimizer_and_scheduler(model: nn.Module, optimizer: Any, lr: Any, scheduler: Any) -> None:
    if optimizer is None:
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError(f"model ({type(model).__name__}) has no parameters to train "
                             f"(none with requires_grad=True)")
    else:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer should be a torch.optim.Optimizer, e.g. "
                            f"torch.optim.Adam(model.parameters()), got "
                            f"{type(optimizer).__name__}")
        if lr is not None:
            raise ValueError(f"lr={lr} and an optimizer were both given: the optimizer has its "
                             f"own learning rate; pass lr to the optimizer instead")
        mine = {id(p) for p in model.parameters()}
        theirs = [p for group in optimizer.param_groups for p in group["params"]]
        strangers = sum(id(p) not in mine for p in theirs)
        if strangers:
            raise ValueError(f"the optimizer updates {strangers} tensor(s) that are not "
                             f"parameters of the model: was it made for another model (or "
                             f"before the model was re-created)? Make it from "
                             f"model.parameters()")
    if scheduler is None:
        return
    if not (callable(getattr(scheduler, "step", None)) and hasattr(scheduler, "state_dict")):
        raise TypeError(f"scheduler should be a torch.optim.lr_scheduler, got "
                        f"{type(scheduler).__name__}")
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("scheduler: ReduceLROnPlateau needs a validation loss at every "
                         "step(); fit steps the scheduler after every optimizer step, without "
                         "arguments. Use a schedule of steps (OneCycleLR, CosineAnnealingLR, "
                         "StepLR...) or early stopping (patience=...)")
    if optimizer is None or getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError("scheduler should be made for the optimizer that fit uses: pass that "
                         "optimizer too, optimizer=..., the one the scheduler was made with")


def check_evaluate(*, model, data, loss_fn, metrics, device, amp, stateful) -> None:
    a_model(model)
    batches("data", data)
    callable_loss("loss_fn", loss_fn)
    metric_functions(metrics)
    device_name(device)
    amp_name(amp)
    flag("stateful", stateful)


# -- The first batch, through the model and the loss -----------------------------------------

def preflight(model: nn.Module, train_data: Iterable, val_data: Iterable | None, *,
              loss_fn: Callable, metrics: Mapping[str, Callable], device: torch.device,
              autocast: Any, stateful: bool) -> None:
    """The first batch of ``train_data`` (and of ``val_data``) through the model, the loss and
    the metrics, checked before anything is trained (``preflight_batches``)."""
    for name, data in (("train_data", train_data), ("val_data", val_data)):
        if data is not None:
            preflight_batches(model, data, name=name, loss_fn=loss_fn, metrics=metrics,
                              device=device, autocast=autocast, stateful=stateful,
                              train=name == "train_data")


def preflight_batches(model: nn.Module, data: Iterable, *, name: str, loss_fn: Callable,
              metrics: Mapping[str, Callable], device: torch.device, autocast: Any,
              stateful: bool, train: bool) -> None:
    """Run ``data``'s first batch through the model, the loss and the metrics, and check them.

    Nothing is trained and no trace is left: eval mode (no dropout, no batch-norm updates),
    the random generators restored, and no gradients stored.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), \
                torch.set_grad_enabled(train):
            first = next(iter(data), None)
            if first is None:
                raise ValueError(f"{name} gave no batches: is it empty, or smaller than one "
                                 f"batch with drop_last=True?")
            inputs, targets = as_pair(first)
            inputs = to_device(inputs, device, keep_lengths=True)
            targets = to_device(targets, device)
            with autocast:
                output, _ = forward(model, inputs, None, stateful)
                _check_loss(loss_fn, output, targets, train, name)
                for metric, fn in metrics.items():
                    value = _watched(fn, output, targets, f"metrics[{metric!r}]")
                    if torch.as_tensor(value).numel() != 1:
                        raise ValueError(f"metrics[{metric!r}] should return one number, got "
                                         f"{shape(value)} for {describe(output, targets, fn)}")
    finally:
        model.train(was_training)


def _check_loss(loss_fn: Callable, output: Any, targets: Any, train: bool, name: str) -> None:
    where = describe(output, targets, loss_fn)
    if isinstance(output, torch.Tensor) and isinstance(targets, torch.Tensor):
        if _is(loss_fn, ELEMENTWISE_LOSSES, ELEMENTWISE_FUNCTIONS) and output.shape != targets.shape:
            raise ValueError(f"{where}: this loss compares output and targets element by "
                             f"element, so their shapes must be equal (PyTorch would broadcast "
                             f"them and train on the wrong thing). E.g. output.squeeze(-1) in "
                             f"the model, or targets.unsqueeze(-1) in the data.")
        if _is(loss_fn, BINARY_LOSSES, BINARY_LOSSES) and targets.numel() and \
                (not targets.is_floating_point() or targets.min() < 0 or targets.max() > 1):
            raise ValueError(f"{where}: binary cross-entropy needs float targets in [0, 1], got "
                             f"{targets.dtype} from {targets.min().item()} to "
                             f"{targets.max().item()} in the first batch of {name}")
        if _is(loss_fn, CLASS_LOSSES, CLASS_LOSSES) and not targets.is_floating_point() \
                and output.dim() >= 2 and targets.numel():
            ignore = getattr(loss_fn, "ignore_index", -100)
            real = targets[targets != ignore]
            classes = output.shape[1]
            if real.numel() and (real.min() < 0 or real.max() >= classes):
                raise ValueError(f"{where}: class targets should be in 0..{classes - 1} (the "
                                 f"output has {classes} scores per row), got "
                                 f"{real.min().item()}..{real.max().item()} in the first batch "
                                 f"of {name}")
    loss = _watched(loss_fn, output, targets, "loss_fn")
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise ValueError(f"{where}: the loss should be one number (a 0-d tensor), got "
                         f"{shape(loss)}; use reduction='mean'")
    if not loss.is_floating_point():
        raise ValueError(f"{where}: the loss should be a float tensor, got {loss.dtype}")
    if train and not loss.requires_grad:
        raise ValueError(f"{where}: the loss does not depend on the model's parameters (it "
                         f"has no gradient). Did the model or the loss detach the output, take "
                         f"argmax, or call .item()/.numpy() on it?")


def _is(loss_fn: Any, classes: tuple, functions: tuple) -> bool:
    return isinstance(loss_fn, tuple(c for c in classes if isinstance(c, type))) or \
        any(loss_fn is f for f in functions if not isinstance(f, type))


def _watched(fn: Callable, output: Any, targets: Any, name: str) -> Any:
    """``fn(output, targets)``, refusing any operation inside it that broadcasts a tensor
    shaped like the output against one shaped like the targets into a bigger result: (B, 1)
    minus (B,) gives (B, B), a loss over every pair of rows that trains on the wrong thing."""
    shapes = {getattr(output, "shape", None), getattr(targets, "shape", None)}
    if len(shapes) != 2 or None in shapes:
        return compute_loss(fn, output, targets)
    with _BroadcastWatch(shapes) as watch:
        value = compute_loss(fn, output, targets)
    if watch.found:
        a, b, result = watch.found
        raise ValueError(f"{describe(output, targets, fn)}: {name} broadcasts a tensor of shape "
                         f"{tuple(a)} against one of shape {tuple(b)} into {tuple(result)}, so "
                         f"it compares every row with every other row. Make the shapes equal "
                         f"first, e.g. output.squeeze(-1) in the model or targets.unsqueeze(-1) "
                         f"in the data.")
    return value


class _BroadcastWatch(TorchFunctionMode):
    def __init__(self, shapes: set):
        super().__init__()
        self.shapes, self.found = shapes, None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        operands = [a for a in args[:2] if isinstance(a, torch.Tensor)]
        if self.found is None and len(operands) == 2 and \
                {operands[0].shape, operands[1].shape} == self.shapes:
            try:
                result = torch.broadcast_shapes(operands[0].shape, operands[1].shape)
            except RuntimeError:
                result = None
            if result is not None and math.prod(result) > max(o.numel() for o in operands):
                self.found = (operands[0].shape, operands[1].shape, result)
        return func(*args, **kwargs)
