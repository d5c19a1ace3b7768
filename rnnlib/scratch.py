"""The vanilla RNN, the LSTM and the GRU written from their equations, drop-in for ``torch.nn``.

Notebooks 02 (RNN), 04 (LSTM) and 05 (GRU) build these in the open; later notebooks import them
from here. Each recurrent step is one small function whose lines are the equations:

- ``rnn_step``   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)            (or relu)
- ``lstm_step``  gates i, f, g, o;  c' = f * c + i * g;  h' = o * tanh(c')
- ``gru_step``   gates r, z;  n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h

The cells (``RNNCell``, ``LSTMCell``, ``GRUCell``) run one step; the layers (``RNN``, ``LSTM``,
``GRU``) loop the same step function over time, over layers and over both directions. Nothing
inside calls ``torch.nn.RNN``/``LSTM``/``GRU``, their cells or their fused kernels: only matrix
products (``F.linear``), ``sigmoid``, ``tanh``, ``relu`` and elementwise arithmetic, so autograd
derives the backward pass through time for us.

Drop-in compatible with the ``torch.nn`` namesakes: the same constructor arguments, the same
parameter names and shapes (``weight_ih_l0``, ``bias_hh_l1_reverse``, gate blocks stacked in
PyTorch's order), the same initialisation, the same ``forward(input, hx=None)`` and return
values. So weights move both ways::

    mine = rnnlib.scratch.LSTM(8, 16, num_layers=2)
    theirs = torch.nn.LSTM(8, 16, num_layers=2)
    mine.load_state_dict(theirs.state_dict())     # and theirs.load_state_dict(mine.state_dict())

and the tests prove that outputs, final states and every gradient agree with ``torch.nn``.

Two choices that matter for speed, both kept plain:

1. The input's share of every gate, ``W_ih x_t + b_ih``, does not depend on the previous state,
   so a layer computes it for all time steps in one big matrix product before the loop. Only
   ``W_hh h + b_hh`` has to wait for the previous step.
2. The loop walks over ``x_proj.unbind(0)``, the T time slices as a tuple of views. Writing
   ``x_proj[t]`` instead works, but in the backward pass each ``x_proj[t]`` hands back a
   gradient as large as the whole sequence, (T, B, G*H) mostly zeros, and T of them are added
   up: backward becomes quadratic in T (``bench/cells_speed.py`` shows it). ``unbind`` hands
   back all T slices' gradients in one piece. Outputs are collected in a list and stacked once.

Not supported: ``PackedSequence`` input (pad the batch, or use ``torch.nn``, which packs) and
LSTM projections (``proj_size > 0``). Both raise an error that says so.
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU",
           "rnn_step", "lstm_step", "gru_step"]

NONLINEARITIES = ("tanh", "relu")


# --------------------------------------------------------------------------------------------
# One time step: the equations. Cells and layers both call these.
#
# ``x_proj`` is the input's share of the gates, W_ih x + b_ih, computed by the caller: a cell
# computes it for one step, a layer for all time steps at once. B is the batch size, H the hidden
# size; every tensor below is (B, H) or, for the stacked gates, (B, G*H).
# --------------------------------------------------------------------------------------------

def rnn_step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None,
             nonlinearity: str = "tanh") -> Tensor:
    r"""One step of the Elman RNN: :math:`h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})`.

    Args:
        x_proj: (B, H), the input's share ``W_ih x + b_ih``.
        h: (B, H), the previous hidden state.
        weight_hh: (H, H). bias_hh: (H,) or None.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Returns:
        h': (B, H), the next hidden state.
    """
    a = x_proj + F.linear(h, weight_hh, bias_hh)   # W_ih x + b_ih + W_hh h + b_hh
    return torch.tanh(a) if nonlinearity == "tanh" else torch.relu(a)


def lstm_step(x_proj: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor,
              bias_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    r"""One step of the LSTM, gate blocks in PyTorch's order i, f, g, o.

    .. math::
        i  &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi})   && \text{input gate} \\
        f  &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf})   && \text{forget gate} \\
        g  &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg})    && \text{candidate cell} \\
        o  &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho})   && \text{output gate} \\
        c' &= f \odot c + i \odot g \\
        h' &= o \odot \tanh(c')

    Args:
        x_proj: (B, 4H), the input's share ``W_ih x + b_ih`` of the four gates.
        h, c: (B, H), the previous hidden and cell states.
        weight_hh: (4H, H). bias_hh: (4H,) or None.

    Returns:
        (h', c'): each (B, H).
    """
    a_i, a_f, a_g, a_o = (x_proj + F.linear(h, weight_hh, bias_hh)).chunk(4, dim=-1)
    i = torch.sigmoid(a_i)
    f = torch.sigmoid(a_f)
    g = torch.tanh(a_g)
    o = torch.sigmoid(a_o)
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c


def gru_step(x_proj: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    r"""One step of the GRU as PyTorch defines it, gate blocks in the order r, z, n.

    .. math::
        r  &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr})          && \text{reset gate} \\
        z  &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz})          && \text{update gate} \\
        n  &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))  && \text{candidate} \\
        h' &= (1 - z) \odot n + z \odot h

    The reset gate multiplies ``W_hn h + b_hn``, after the matrix product (as cuDNN does). Cho et
    al. (2014) reset first, ``W_hn (r * h)``: a different model, which notebook 05 also shows.
    That is why the hidden share must stay apart from the input share here, unlike in the LSTM.

    Args:
        x_proj: (B, 3H), the input's share ``W_ih x + b_ih`` of r, z and n.
        h: (B, H), the previous hidden state.
        weight_hh: (3H, H). bias_hh: (3H,) or None.

    Returns:
        h': (B, H), the next hidden state.
    """
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)                          # W_i* x + b_i*
    h_r, h_z, h_n = F.linear(h, weight_hh, bias_hh).chunk(3, dim=-1)  # W_h* h + b_h*
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


# --------------------------------------------------------------------------------------------
# Checks shared by cells and layers: say what was expected and what came.
# --------------------------------------------------------------------------------------------

def _check_sizes(input_size, hidden_size, bias) -> None:
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} should be an int, got {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} should be greater than zero, got {value}")
    if not isinstance(bias, bool):
        raise TypeError(f"bias should be True or False, got {bias!r}")


def _check_nonlinearity(nonlinearity) -> None:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity should be 'tanh' or 'relu', got {nonlinearity!r}")


def _shape(tensor: Tensor) -> str:
    """(4, 7) rather than torch.Size([4, 7]), and (7,) for one dimension."""
    return str(tuple(tensor.shape))


def _check_tensor_like(tensor, weight: Tensor, who: str, what: str) -> None:
    """``tensor`` must be a floating-point tensor with the weights' dtype and device."""
    if isinstance(tensor, PackedSequence):
        raise TypeError(
            f"{who} does not take a PackedSequence as {what}: pass the padded (T, B, features) "
            "tensor instead (torch.nn.utils.rnn.pad_packed_sequence gives it back), or use "
            f"torch.nn.{who}, which runs packed sequences")
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{who} expected {what} to be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise ValueError(
            f"{who} expected a floating-point {what} like its weights ({weight.dtype}), got "
            f"{tensor.dtype}: token ids go through an nn.Embedding first; other numbers can be "
            f"converted with .to({weight.dtype})")
    if tensor.dtype != weight.dtype and not torch.is_autocast_enabled(tensor.device.type):
        raise ValueError(
            f"{who}: {what} has dtype {tensor.dtype} but the weights have {weight.dtype}: convert "
            f"the {what} with .to({weight.dtype}), or the model with .to({tensor.dtype})")
    if tensor.device != weight.device:
        raise ValueError(
            f"{who}: {what} is on {tensor.device} but the weights are on {weight.device}: move "
            f"one of them, e.g. {what}.to('{weight.device}') or model.to('{tensor.device}')")


def _init_uniform(module: nn.Module, hidden_size: int) -> None:
    """Every weight and bias from U(-1/sqrt(H), 1/sqrt(H)), as torch.nn does.

    The parameters are registered in torch.nn's order, so the same seed gives the same weights.
    """
    bound = 1.0 / math.sqrt(hidden_size)
    for parameter in module.parameters():
        nn.init.uniform_(parameter, -bound, bound)


# --------------------------------------------------------------------------------------------
# Cells: one time step, for a batch (B, I) or a single input (I,).
# --------------------------------------------------------------------------------------------

class _Cell(nn.Module):
    """What the three cells share: parameters, initialisation and input checks."""

    gates = 1  # how many (H, ...) blocks are stacked in weight_ih and weight_hh

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size, bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        factory = {"device": device, "dtype": dtype}
        rows = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows, **factory))
            self.bias_hh = nn.Parameter(torch.empty(rows, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _init_uniform(self, self.hidden_size)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity}"
        return text

    def _check_input(self, input) -> tuple[Tensor, bool]:
        """Return the input as (B, I) and whether it came batched."""
        who = type(self).__name__
        _check_tensor_like(input, self.weight_ih, who, "input")
        if input.dim() not in (1, 2) or input.size(-1) != self.input_size:
            raise ValueError(
                f"{who} expected input of shape (B, {self.input_size}), or ({self.input_size},) "
                f"for a single example, got {_shape(input)}")
        batched = input.dim() == 2
        return (input if batched else input.unsqueeze(0)), batched

    def _check_state(self, state, name: str, x: Tensor, batched: bool) -> Tensor:
        """Return the state as (B, H): zeros when None, else checked against the input."""
        if state is None:
            return x.new_zeros(x.size(0), self.hidden_size)
        who = type(self).__name__
        _check_tensor_like(state, self.weight_hh, who, name)
        expected = (x.size(0), self.hidden_size) if batched else (self.hidden_size,)
        if tuple(state.shape) != expected:
            layout = "(B, H)" if batched else "(H,) for a single example"
            raise ValueError(f"{who} expected {name} of shape {layout} = {expected}, "
                             f"got {_shape(state)}")
        return state if batched else state.unsqueeze(0)


class RNNCell(_Cell):
    r"""One step of an Elman RNN, drop-in for ``torch.nn.RNNCell``.

    .. math::
        h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})

    with ReLU in place of tanh when ``nonlinearity="relu"``.

    Args:
        input_size: I, the number of features of each input x.
        hidden_size: H, the number of features of the hidden state h.
        bias: if False, no ``bias_ih``/``bias_hh``. Default True.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        device, dtype: where and in which precision to create the parameters.

    Inputs: ``input``, ``hx``
        - input: (B, I), or (I,) for a single example.
        - hx: (B, H), or (H,); zeros when omitted.

    Output: ``h'`` of shape (B, H), or (H,) for a single example.

    Attributes:
        weight_ih: (H, I). weight_hh: (H, H). bias_ih, bias_hh: (H,). All drawn from
        U(-1/sqrt(H), 1/sqrt(H)).

    Example::

        >>> cell = RNNCell(10, 20)
        >>> x = torch.randn(6, 3, 10)             # (T, B, I)
        >>> h = torch.zeros(3, 20)                # (B, H)
        >>> for x_t in x.unbind(0):
        ...     h = cell(x_t, h)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._check_input(input)
        h = self._check_state(hx, "hx", x, batched)
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)   # W_ih x + b_ih
        h = rnn_step(x_proj, h, self.weight_hh, self.bias_hh, self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(_Cell):
    r"""One step of an LSTM, drop-in for ``torch.nn.LSTMCell``.

    .. math::
        i  &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi})   && \text{input gate} \\
        f  &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf})   && \text{forget gate} \\
        g  &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg})    && \text{candidate cell} \\
        o  &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho})   && \text{output gate} \\
        c' &= f \odot c + i \odot g \\
        h' &= o \odot \tanh(c')

    σ is the logistic sigmoid and ⊙ the elementwise product. The code is ``lstm_step``, one
    line per equation.

    Args:
        input_size: I. hidden_size: H. bias: default True. device, dtype: as for tensors.

    Inputs: ``input``, ``hx``
        - input: (B, I), or (I,) for a single example.
        - hx: the tuple ``(h, c)``, each (B, H) (or (H,)); zeros when omitted.

    Output: the tuple ``(h', c')``, each (B, H), or (H,) for a single example.

    Attributes:
        weight_ih: (4H, I), the blocks W_ii, W_if, W_ig, W_io stacked in this order.
        weight_hh: (4H, H), W_hi, W_hf, W_hg, W_ho. bias_ih, bias_hh: (4H,), the same order.
    """

    gates = 4

    def forward(self, input: Tensor,
                hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, batched = self._check_input(input)
        if hx is None:
            hx = (None, None)
        elif not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise TypeError(f"LSTMCell expected hx to be a tuple (h, c), got "
                            f"{type(hx).__name__}")
        h = self._check_state(hx[0], "h", x, batched)
        c = self._check_state(hx[1], "c", x, batched)
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)   # W_ih x + b_ih, the four gates
        h, c = lstm_step(x_proj, h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_Cell):
    r"""One step of a GRU as PyTorch defines it, drop-in for ``torch.nn.GRUCell``.

    .. math::
        r  &= \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr})          && \text{reset gate} \\
        z  &= \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz})          && \text{update gate} \\
        n  &= \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))  && \text{candidate} \\
        h' &= (1 - z) \odot n + z \odot h

    The reset gate acts after the product ``W_hn h``, not on h before it as in Cho et al. (2014).
    The code is ``gru_step``.

    Args:
        input_size: I. hidden_size: H. bias: default True. device, dtype: as for tensors.

    Inputs: ``input`` (B, I) or (I,); ``hx`` (B, H) or (H,), zeros when omitted.

    Output: ``h'`` of shape (B, H), or (H,) for a single example.

    Attributes:
        weight_ih: (3H, I), the blocks W_ir, W_iz, W_in stacked in this order.
        weight_hh: (3H, H), W_hr, W_hz, W_hn. bias_ih, bias_hh: (3H,), the same order.
    """

    gates = 3

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, batched = self._check_input(input)
        h = self._check_state(hx, "hx", x, batched)
        x_proj = F.linear(x, self.weight_ih, self.bias_ih)   # W_ih x + b_ih, the three gates
        h = gru_step(x_proj, h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


# --------------------------------------------------------------------------------------------
# Layers: the step over time, stacked in layers, optionally in both directions.
# --------------------------------------------------------------------------------------------

class _Layers(nn.Module):
    """What RNN, LSTM and GRU share: parameters per layer and direction, checks, the loops.

    Internally the state of one layer and direction is a tuple: ``(h,)`` for the RNN and the GRU,
    ``(h, c)`` for the LSTM, so that one loop serves all three. Subclasses say how to take one
    step (``_step``) and how the user's ``hx`` maps to that tuple.
    """

    gates = 1                   # blocks stacked in each weight matrix
    state_names = ("h_0",)      # the parts of the initial state, as the docs name them

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        _check_sizes(input_size, hidden_size, bias)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"num_layers should be an int >= 1, got {num_layers!r}")
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be True or False, got {batch_first!r}")
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(f"dropout should be a probability between 0 and 1, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout={dropout} has no effect with num_layers=1: it is applied to "
                          "the outputs of every layer except the last", stacklevel=3)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0

        # Parameters named and ordered as in torch.nn: weight_ih_l0, weight_hh_l0, bias_ih_l0,
        # bias_hh_l0, then weight_ih_l0_reverse, ..., then layer 1, which reads the outputs of
        # both directions of layer 0 (D * H features).
        factory = {"device": device, "dtype": dtype}
        rows = self.gates * hidden_size
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes():
                shapes = {"weight_ih": (rows, layer_input_size), "weight_hh": (rows, hidden_size)}
                if bias:
                    shapes.update(bias_ih=(rows,), bias_hh=(rows,))
                for name, shape in shapes.items():
                    self.register_parameter(f"{name}_l{layer}{suffix}",
                                            nn.Parameter(torch.empty(shape, **factory)))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> list[str]:
        return ["", "_reverse"] if self.bidirectional else [""]

    def reset_parameters(self) -> None:
        """Draw every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
        _init_uniform(self, self.hidden_size)

    def flatten_parameters(self) -> None:
        """Does nothing: torch.nn packs weights for cuDNN here; plain tensor code needs not."""

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters of each layer and direction, as in torch.nn."""
        return [[getattr(self, f"{name}_l{layer}{suffix}") for name in self._weight_names()]
                for layer in range(self.num_layers) for suffix in self._suffixes()]

    def _weight_names(self) -> list[str]:
        names = ["weight_ih", "weight_hh"]
        return names + ["bias_ih", "bias_hh"] if self.bias else names

    def _weights(self, layer: int, direction: int):
        """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction; biases may be None."""
        suffix = self._suffixes()[direction]
        weight_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
        weight_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
        if not self.bias:
            return weight_ih, weight_hh, None, None
        return (weight_ih, weight_hh, getattr(self, f"bias_ih_l{layer}{suffix}"),
                getattr(self, f"bias_hh_l{layer}{suffix}"))

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout != 0:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text

    # ---- what differs between RNN, LSTM and GRU ----------------------------------------------

    def _step(self, x_proj: Tensor, state: tuple, weight_hh: Tensor, bias_hh: Tensor | None):
        raise NotImplementedError

    def _split_hx(self, hx) -> tuple:
        """The user's hx as a tuple of initial states, one per name in ``state_names``."""
        return (hx,)

    def _join_hx(self, states: tuple):
        """The final states in the form the user gets them back."""
        return states[0]

    # ---- checks --------------------------------------------------------------------------------

    def _time_major_input(self, input) -> tuple[Tensor, bool]:
        """Return the input as (T, B, I) and whether it came batched."""
        who = type(self).__name__
        _check_tensor_like(input, self.weight_ih_l0, who, "input")
        if input.dim() not in (2, 3) or input.size(-1) != self.input_size:
            if input.dim() not in (2, 3):
                why = f"{input.dim()} dimensions"
            else:
                why = f"its last dimension should be input_size={self.input_size}"
            raise ValueError(
                f"{who} expected input of shape (T, B, {self.input_size}) or "
                f"(B, T, {self.input_size}) with batch_first=True, got {_shape(input)}: {why} "
                f"(this {who} has batch_first={self.batch_first}; a single sequence "
                f"(T, {self.input_size}) works too)")
        if input.numel() == 0:
            raise ValueError(f"{who} got an empty input of shape {_shape(input)}: "
                             "the sequence length and the batch size should be at least 1")
        if input.dim() == 2:
            return input.unsqueeze(1), False        # one sequence: a batch of 1
        return (input.transpose(0, 1) if self.batch_first else input), True

    def _initial_states(self, hx, x: Tensor, batched: bool) -> tuple[Tensor, ...]:
        """The initial states as a tuple of (num_layers * D, B, H) tensors; zeros when hx is None."""
        who = type(self).__name__
        layers = self.num_layers * self.num_directions
        expected = (layers, x.size(1), self.hidden_size) if batched else (layers, self.hidden_size)
        parts = self._split_hx(hx) if hx is not None else (None,) * len(self.state_names)
        states = []
        for name, state in zip(self.state_names, parts, strict=True):
            if state is None:
                states.append(x.new_zeros(layers, x.size(1), self.hidden_size))
                continue
            _check_tensor_like(state, self.weight_hh_l0, who, name)
            if tuple(state.shape) != expected:
                layout = ("(num_layers * num_directions, B, H)" if batched else
                          "(num_layers * num_directions, H) for a single sequence")
                raise ValueError(f"{who} expected {name} of shape {layout} = {expected}, "
                                 f"got {_shape(state)}")
            states.append(state if batched else state.unsqueeze(1))
        return tuple(states)

    # ---- the loops -----------------------------------------------------------------------------

    def _run_direction(self, x_proj: Tensor, state: tuple, weight_hh: Tensor,
                       bias_hh: Tensor | None, reverse: bool) -> tuple[Tensor, tuple]:
        """Run one layer in one direction over all time steps.

        x_proj: (T, B, G*H), the input's share of the gates at every step. state: the initial
        (h,) or (h, c), each (B, H). Returns the outputs h_1..h_T as (T, B, H) and the final state.
        """
        steps = x_proj.unbind(0)          # T views (B, G*H); see the module docstring for why
        if reverse:
            steps = steps[::-1]           # the reverse direction reads x_T first
        outputs = []
        for x_t in steps:
            state = self._step(x_t, state, weight_hh, bias_hh)
            outputs.append(state[0])      # the output at each step is h
        if reverse:
            outputs.reverse()             # back in time order: output[t] belongs to x_t
        return torch.stack(outputs), state

    def forward(self, input: Tensor, hx=None):
        x, batched = self._time_major_input(input)               # (T, B, I)
        initial = self._initial_states(hx, x, batched)          # (h_0,) or (h_0, c_0)
        # One initial state per layer and direction, in the order of h_0's first dimension.
        starts = list(zip(*(state.unbind(0) for state in initial), strict=True))
        finals = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                weight_ih, weight_hh, bias_ih, bias_hh = self._weights(layer, direction)
                # The input's share of the gates for all T steps in one matrix product.
                x_proj = F.linear(layer_input, weight_ih, bias_ih)            # (T, B, G*H)
                start = starts[layer * self.num_directions + direction]
                output, final = self._run_direction(x_proj, start, weight_hh, bias_hh,
                                                    reverse=direction == 1)
                outputs.append(output)
                finals.append(final)
            # Both directions side by side: (T, B, D*H), the next layer's input.
            layer_input = torch.cat(outputs, dim=2) if len(outputs) == 2 else outputs[0]
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, p=self.dropout, training=True)
        output = layer_input
        # Final states stacked as h_0 was: (num_layers * D, B, H) each.
        final_states = tuple(torch.stack(parts) for parts in zip(*finals, strict=True))
        if not batched:
            output = output.squeeze(1)
            final_states = tuple(state.squeeze(1) for state in final_states)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, self._join_hx(final_states)


class RNN(_Layers):
    r"""A multi-layer Elman RNN, drop-in for ``torch.nn.RNN``.

    For each layer and each time step t:

    .. math::
        h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

    (ReLU in place of tanh with ``nonlinearity="relu"``). Layer 1 reads the outputs h_t of layer
    0 as its x_t, and so on. With ``bidirectional=True`` a second set of weights (suffix
    ``_reverse``) runs from t = T down to 1, and the two outputs are concatenated.

    Args:
        input_size: I, the features of each x_t.
        hidden_size: H, the features of each h_t.
        num_layers: how many RNNs are stacked. Default 1.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
        bias: if False, no biases. Default True.
        batch_first: if True, input and output are (B, T, ·) instead of (T, B, ·). The states
            h_0 and h_n stay (num_layers * D, B, H). Default False.
        dropout: if > 0, dropout with this probability on the outputs of every layer but the
            last, in training mode only. Default 0.
        bidirectional: run a second RNN backwards in time. Default False.
        device, dtype: where and in which precision to create the parameters.

    Inputs: ``input``, ``h_0``
        - input: (T, B, I), or (B, T, I) with batch_first, or (T, I) for one sequence.
        - h_0: (num_layers * D, B, H), or (num_layers * D, H) for one sequence; zeros when
          omitted. D is 2 when bidirectional, else 1. Layer k's forward direction is at index
          D*k, its reverse direction at D*k + 1.

    Outputs: ``output``, ``h_n``
        - output: (T, B, D*H) (or (B, T, D*H), or (T, D*H)): the last layer's h_t at every t,
          forward then reverse features.
        - h_n: (num_layers * D, B, H): every layer's final state, ordered as h_0. For the reverse
          direction the final state is the one after reading x_1.

    Attributes:
        weight_ih_l{k}: (H, I) for k = 0, else (H, D*H). weight_hh_l{k}: (H, H).
        bias_ih_l{k}, bias_hh_l{k}: (H,). The reverse direction's carry the suffix ``_reverse``.
        All drawn from U(-1/sqrt(H), 1/sqrt(H)).

    Not supported: ``PackedSequence`` input (raises TypeError): pad the batch, or use
    ``torch.nn.RNN``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None) -> None:
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + ", nonlinearity=relu" if self.nonlinearity == "relu" else text

    def _step(self, x_proj, state, weight_hh, bias_hh):
        (h,) = state
        return (rnn_step(x_proj, h, weight_hh, bias_hh, self.nonlinearity),)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns ``output, h_n``; see the class docstring for the shapes."""
        return super().forward(input, hx)


class LSTM(_Layers):
    r"""A multi-layer LSTM, drop-in for ``torch.nn.LSTM``.

    For each layer and each time step t (σ the sigmoid, ⊙ the elementwise product):

    .. math::
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)

    Layer 1 reads the outputs h_t of layer 0 (after dropout in training mode, if any) as its
    x_t. With ``bidirectional=True`` a second set of weights (suffix ``_reverse``) runs from
    t = T down to 1, and the two outputs are concatenated.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
        dtype: as for ``RNN``.
        proj_size: must be 0. LSTMs with projections (``torch.nn.LSTM(..., proj_size=P)``) are
            not implemented here.

    Inputs: ``input``, ``(h_0, c_0)``
        - input: (T, B, I), or (B, T, I) with batch_first, or (T, I) for one sequence.
        - h_0, c_0: each (num_layers * D, B, H), or (num_layers * D, H) for one sequence; both
          zeros when hx is omitted.

    Outputs: ``output``, ``(h_n, c_n)``
        - output: (T, B, D*H) (or (B, T, D*H), or (T, D*H)): the last layer's h_t at every t.
        - h_n, c_n: each (num_layers * D, B, H), every layer's final hidden and cell states.

    Attributes:
        weight_ih_l{k}: (4H, I) for k = 0, else (4H, D*H): W_ii, W_if, W_ig, W_io stacked.
        weight_hh_l{k}: (4H, H). bias_ih_l{k}, bias_hh_l{k}: (4H,). Gate order i, f, g, o.

    Not supported: ``PackedSequence`` input (raises TypeError): pad the batch, or use
    ``torch.nn.LSTM``.
    """

    gates = 4
    state_names = ("h_0", "c_0")
    mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        if proj_size != 0:
            raise ValueError(
                f"proj_size={proj_size}: LSTMs with projections are not implemented in "
                "rnnlib.scratch (not implemented, on purpose: the course does not use them); "
                "use torch.nn.LSTM(..., proj_size=...) for those")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)

    def _step(self, x_proj, state, weight_hh, bias_hh):
        h, c = state
        return lstm_step(x_proj, h, c, weight_hh, bias_hh)

    def _split_hx(self, hx):
        if not (isinstance(hx, tuple | list) and len(hx) == 2):
            raise TypeError(f"LSTM expected hx to be a tuple (h_0, c_0), got "
                            f"{type(hx).__name__}")
        return tuple(hx)

    def _join_hx(self, states):
        return states   # (h_n, c_n)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Returns ``output, (h_n, c_n)``; see the class docstring for the shapes."""
        return super().forward(input, hx)


class GRU(_Layers):
    r"""A multi-layer GRU as PyTorch defines it, drop-in for ``torch.nn.GRU``.

    For each layer and each time step t (σ the sigmoid, ⊙ the elementwise product):

    .. math::
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    The reset gate acts after the product ``W_hn h_{t-1}`` (PyTorch's and cuDNN's GRU), not
    before it as in Cho et al. (2014). Layers, directions and dropout work as for ``RNN``.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
        dtype: as for ``RNN``.

    Inputs: ``input``, ``h_0`` and Outputs: ``output``, ``h_n``: the shapes of ``RNN``.

    Attributes:
        weight_ih_l{k}: (3H, I) for k = 0, else (3H, D*H): W_ir, W_iz, W_in stacked.
        weight_hh_l{k}: (3H, H). bias_ih_l{k}, bias_hh_l{k}: (3H,). Gate order r, z, n.

    Not supported: ``PackedSequence`` input (raises TypeError): pad the batch, or use
    ``torch.nn.GRU``.
    """

    gates = 3
    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device, dtype)

    def _step(self, x_proj, state, weight_hh, bias_hh):
        (h,) = state
        return (gru_step(x_proj, h, weight_hh, bias_hh),)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns ``output, h_n``; see the class docstring for the shapes."""
        return super().forward(input, hx)
