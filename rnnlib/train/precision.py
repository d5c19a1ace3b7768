"""Mixed precision: which dtype ``fit`` trains in, decided from what really runs here.

Autocast runs matrix products in a 16-bit dtype (bf16 or fp16) and keeps sums in float32.
Whether that works, and in which dtype a recurrent layer then really computes, depends on the
layer, on the path its input takes and on the kernels the machine has (torch 2.13, watched op by
op with a ``TorchDispatchMode``):

- on a CPU, an ``nn.LSTM`` given a plain (padded) tensor runs as one fused oneDNN kernel per
  layer (``mkldnn_rnn_layer``). oneDNN's bf16 LSTM needs AVX512: on an AVX2-only CPU (most
  laptops) it fails under bf16 autocast with "could not create a primitive descriptor"; its fp16
  LSTM needs AVX512-FP16 or AMX-FP16. A packed batch whose lengths differ does not take that
  kernel: it runs step by step, its matrix products (``aten.addmm``) in the autocast dtype, on
  any CPU. ``nn.GRU`` and ``nn.RNN`` always run step by step on a CPU, their matrix products in
  the autocast dtype; ``nn.GRU`` hands back a float32 output all the same, so the output's dtype
  says nothing about what ran;
- on CUDA, autocast hands cuDNN's RNN kernel fp16 inputs and weights whatever dtype is asked
  (``_cudnn_rnn_cast_reflatten`` in PyTorch's ``aten/src/ATen/cudnn/AutocastRNN.cpp`` casts
  to ``kHalf``). Under bf16 autocast an ``nn.LSTM`` therefore computes in fp16, whose small
  range needs a gradient scaler.

So ``fit`` does not guess: ``probe`` runs each of the model's recurrent layers once, forward
and backward on a two-step input, under the autocast asked for, on a padded batch and (with
``packed=True``, as ``fit`` asks) on a packed batch of unequal lengths, and records the dtype
its matrix products ran in, as seen by the dispatcher, or the error it raised (cached, once per
layer configuration, path, device and dtype). ``choose`` turns that into a ``Precision``: the
autocast dtype, whether a gradient scaler is needed, and a note for the device line. Other
layers (linear, embedding, convolution) have autocast kernels on every CPU and GPU that PyTorch
supports.

Where a precision that was asked for cannot run on either path, ``fit`` falls back to float32,
says why in its device line and in a ``RuntimeWarning`` (the layer, the CPU capability, the
fix), and trains: the same notebook then runs on every learner's machine. ``amp="auto"`` never
picks a precision that cannot run.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

AMP_CHOICES = ("auto", "bf16", "fp16", None)
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
NAMES = {dtype: name for name, dtype in DTYPES.items()}


@dataclass(frozen=True)
class LayerRun:
    """How one recurrent layer ran under autocast on one path ("padded" or "packed"): its
    matrix products in ``dtype`` (through ``kernel``), or not at all (``error``)."""

    layer: str  # its name in the model, e.g. "encoder.lstm" ("" for the model itself)
    kind: str  # "LSTM", "GRU" or "RNN"
    dtype: torch.dtype | None
    error: str | None = None
    path: str = "padded"
    kernel: str = ""  # the op that ran the products: "mkldnn_rnn_layer", "addmm", ...
    output: torch.dtype | None = None  # the dtype of the layer's output

    @property
    def ran(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        where = f"nn.{self.kind} {self.layer!r}" if self.layer else f"nn.{self.kind}"
        where += f", {self.path}"
        if not self.ran:
            return f"{where}: failed: {self.error}"
        text = f"{where}: matrix products in {_short(self.dtype)}"
        text += f" ({self.kernel})" if self.kernel else ""
        if self.output is not None and self.output != self.dtype:
            text += f", output {_short(self.output)}"
        return text


def _short(dtype: torch.dtype | None) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass(frozen=True)
class Precision:
    """What ``fit`` trains in: ``dtype`` (None: float32), a gradient scaler or not, and why."""

    dtype: torch.dtype | None
    scaler: bool = False
    note: str = ""
    requested: str | None = None

    @property
    def name(self) -> str | None:
        """"bf16", "fp16", or None for float32 (as ``History.settings["amp"]``)."""
        return NAMES.get(self.dtype)

    def autocast(self, device: torch.device):
        """The context to run forward passes in: autocast to ``dtype``, or nothing."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)

    def make_scaler(self, device: torch.device) -> torch.amp.GradScaler | None:
        return torch.amp.GradScaler(device.type) if self.scaler else None

    def line(self) -> str:
        """The precision part of ``fit``'s device line."""
        text = (f"{self.name} autocast" if self.dtype else "float32") + \
            (" + gradient scaler" if self.scaler else "")
        return f"{text} ({self.note})" if self.note else text


# -- Probing the recurrent layers ------------------------------------------------------------

_probed: dict[tuple, tuple[torch.dtype | None, str, torch.dtype | None, str | None]] = {}
# The ops that carry a recurrent layer's matrix products, on every backend torch 2.13 has.
PRODUCTS = {"addmm", "mm", "bmm", "baddbmm", "matmul", "linear", "mkldnn_rnn_layer",
            "_cudnn_rnn", "miopen_rnn", "_lstm_mps"}


class _WatchProducts(TorchDispatchMode):
    """Records the dtype of every matrix product the dispatcher runs, after autocast's casts."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._overloadpacket.__name__
        if name in PRODUCTS:
            first = next((a for a in args if isinstance(a, torch.Tensor)
                          and a.is_floating_point()), None)
            if first is not None:
                self.seen.append((name, first.dtype))
        return func(*args, **(kwargs or {}))


def recurrent_layers(model: nn.Module) -> Iterator[tuple[str, nn.RNNBase]]:
    """The model's ``torch.nn`` RNN/LSTM/GRU layers: the ones with fused kernels of their own."""
    for name, module in model.named_modules():
        if isinstance(module, nn.RNNBase):
            yield name, module


def _configuration(layer: nn.RNNBase) -> tuple:
    return (layer.mode, layer.input_size, layer.hidden_size, layer.num_layers, layer.bias,
            layer.batch_first, layer.bidirectional, layer.proj_size)


def _run_once(layer: nn.RNNBase, device: torch.device, dtype: torch.dtype,
              path: str) -> tuple[torch.dtype, str, torch.dtype]:
    """Forward and backward through ``layer`` under autocast on a padded batch (2 steps, 1
    sequence) or a packed one (lengths 2 and 1); returns the dtype its matrix products ran in
    (the lowest precision seen), the op that ran them, and the output's dtype.

    The gradients are returned, not accumulated into ``.grad``, forward hooks are not called,
    and the random generators are restored afterwards (dropout between layers draws from them):
    the probe leaves no trace.
    """
    batch = 2 if path == "packed" else 1
    shape = (batch, 2, layer.input_size) if layer.batch_first else (2, batch, layer.input_size)
    params = [p for p in layer.parameters() if p.requires_grad]
    watch = _WatchProducts()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        x = torch.randn(shape, device=device, requires_grad=True)
        given = x
        if path == "packed":  # unequal lengths: equal ones would take the padded kernel
            given = nn.utils.rnn.pack_padded_sequence(
                x, torch.tensor([2, 1]), batch_first=layer.batch_first, enforce_sorted=False)
        with watch:
            with torch.autocast(device.type, dtype=dtype):
                out, _ = layer.forward(given)   # forward(): the model's hooks see nothing
            out = out.data if path == "packed" else out
            torch.autograd.grad(out.float().sum(), [x, *params], allow_unused=True)
    products = [d for _, d in watch.seen]
    ran_in = min(products, key=lambda d: torch.finfo(d).bits) if products else out.dtype
    kernels = dict.fromkeys(name for name, _ in watch.seen)
    return ran_in, ", ".join(k for k in kernels if not k.endswith("_backward")), out.dtype


def probe(model: nn.Module, amp: str, device: torch.device | str | None = None, *,
          packed: bool = False) -> list[LayerRun]:
    """Run each of ``model``'s recurrent layers once under ``amp`` autocast on ``device``.

    Returns one ``LayerRun`` per layer (two with ``packed=True``: the padded path, then the
    packed one): the dtype its matrix products ran in, or the error it raised. Notebook 10
    shows it; ``fit`` calls it through ``choose``. ``device`` defaults to where the model's
    parameters are.
    """
    if amp not in DTYPES:
        raise ValueError(f"amp should be 'bf16' or 'fp16' to probe, got {amp!r}")
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device
    device = torch.device(device)
    dtype, runs = DTYPES[amp], []
    paths = ("padded", "packed") if packed else ("padded",)
    for name, layer in recurrent_layers(model):
        for path in paths:
            key = (device.type, dtype, path, _configuration(layer))
            if key not in _probed:
                try:
                    _probed[key] = (*_run_once(layer, device, dtype, path), None)
                except RuntimeError as error:
                    first_sentence = str(error).strip().splitlines()[0].split(". ")[0]
                    _probed[key] = (None, "", None, first_sentence.rstrip("."))
            ran_in, kernel, output, error = _probed[key]
            runs.append(LayerRun(name, type(layer).__name__, ran_in, error, path, kernel,
                                 output))
    return runs


# -- Choosing --------------------------------------------------------------------------------

def choose(amp: str | None, model: nn.Module, device: torch.device, *,
           runs: Callable[[str], list[LayerRun]] | None = None,
           gpu_has_bf16: bool | None = None, describe_cpu: bool = False) -> Precision:
    """The precision ``fit`` trains ``model`` in on ``device``, for ``amp``:

    - ``None``: float32.
    - ``"bf16"`` / ``"fp16"``: that autocast, if every recurrent layer runs under it (padded
      and packed, since a model may feed it either), and a
      gradient scaler for fp16, or when a layer computes in fp16 anyway (cuDNN's RNNs under
      bf16). If a layer fails: float32, with a ``RuntimeWarning`` that says why.
    - ``"auto"``: on CUDA bf16 where the GPU has it (compute capability 8.0, Ampere, and newer;
      bf16 has float32's range), else fp16 with a scaler; float32 if neither runs. On a CPU
      and on MPS float32: bf16 is faster only on CPUs with bf16 instructions and slower where
      it is emulated, and float32 keeps learners' results comparable. With
      ``describe_cpu=True`` the note then says whether ``amp="bf16"`` may be faster here.

    ``runs(amp)`` and ``gpu_has_bf16`` replace the probe and the GPU query (the tests decide
    for a GPU on a CPU that way).
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp should be one of 'auto', 'bf16', 'fp16' or None, got {amp!r}")
    if runs is None:
        def runs(name: str) -> list[LayerRun]:
            return probe(model, name, device, packed=True)
    if amp is None:
        return Precision(None)
    if amp == "auto" and device.type != "cuda":
        note = _cpu_bf16_note(runs) if describe_cpu and device.type == "cpu" else ""
        return Precision(None, note=note, requested="auto")
    if amp == "auto":
        if gpu_has_bf16 is None:
            gpu_has_bf16 = torch.cuda.get_device_capability(device)[0] >= 8
        candidates = ["bf16", "fp16"] if gpu_has_bf16 else ["fp16"]
    else:
        candidates = [amp]
    failures: list[LayerRun] = []
    for name in candidates:
        layer_runs = runs(name)
        failures = [run for run in layer_runs if not run.ran]
        if failures:
            continue
        in_fp16 = [run for run in layer_runs if run.dtype == torch.float16]
        in_fp32 = [run for run in layer_runs if run.dtype == torch.float32]
        notes = []
        if name == "bf16" and in_fp16:
            notes.append(f"{_names(in_fp16)} compute in fp16 under autocast (cuDNN's RNN "
                         f"kernel), so gradients are scaled")
        if in_fp32:
            notes.append(f"{_names(in_fp32)} run in float32: autocast has no entry for them "
                         f"on {device.type}")
        return Precision(DTYPES[name], scaler=name == "fp16" or bool(in_fp16),
                         note="; ".join(notes), requested=amp)
    note = _why_not(amp, candidates[-1], failures, device)
    if amp != "auto":  # asked for by name: say so even when fit is quiet
        warnings.warn(f"fit: {note}", RuntimeWarning, stacklevel=3)
    return Precision(None, note=note, requested=amp)


def _names(layer_runs: list[LayerRun]) -> str:
    names = (f"nn.{run.kind} {run.layer!r}" if run.layer else f"nn.{run.kind}"
             for run in layer_runs)
    return ", ".join(dict.fromkeys(names))


def _why_not(amp: str, tried: str, failures: list[LayerRun], device: torch.device) -> str:
    """A message naming the layer, what this machine lacks, and the fix."""
    layer = failures[0]
    where = "this CPU" if device.type == "cpu" else f"this {device.type} device"
    need = ""
    if device.type == "cpu" and layer.kind == "LSTM":
        need = {"bf16": "oneDNN's bf16 LSTM kernel needs AVX512",
                "fp16": "oneDNN's fp16 LSTM kernel needs AVX512-FP16 or AMX-FP16"}[tried]
        need = f" ({need}; torch sees this CPU as {torch.backends.cpu.get_cpu_capability()})"
    asked = "amp='auto'" if amp == "auto" else f"amp={amp!r} was asked, but"
    return (f"{asked} {_names([layer])} cannot run under {tried} autocast on {where}{need}, "
            f"given a {layer.path} batch: "
            f"training in float32 instead (the layer said: {layer.error}). Pass amp=None to "
            f"train in float32 without this message.")


def _cpu_bf16_note(runs: Callable[[str], list[LayerRun]]) -> str:
    """Suggest bf16 only on a CPU with bf16 instructions, for a model with recurrent layers that
    all run and compute in bf16 there (a model without one has nothing to gain that the probe
    can vouch for)."""
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or \
        getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    native = native and torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    layer_runs = runs("bf16") if native else []
    if layer_runs and all(run.ran and run.dtype == torch.bfloat16 for run in layer_runs):
        return "amp='bf16' may be faster: this CPU has bf16 instructions"
    return ""
