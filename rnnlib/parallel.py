r"""Recurrences that can run parallel in time: minGRU and minLSTM (Feng et al. 2024).

In a GRU or an LSTM every gate reads the previous hidden state ``h_{t-1}``, so step t cannot
start before step t-1 has finished: T matrix products in a chain. Feng et al. (2024, "Were RNNs
All We Needed?") strip the gates down until they read only the input ``x_t``. What is left is a
*linear* recurrence in h,

.. math::
    h_t = a_t \odot h_{t-1} + b_t, \qquad a_t, b_t \text{ functions of } x_t \text{ only},

whose solution has a closed form that a scan computes for all t at once:

.. math::
    h_t = A_t \odot \Bigl(h_0 + \sum_{k=1}^{t} b_k / A_k\Bigr), \qquad A_t = \prod_{j=1}^{t} a_j.

Products of many gates in (0, 1) underflow, so the scan runs in log space: with
:math:`\log A_t = \operatorname{cumsum}_t \log a_t`,

.. math::
    \log h_t = \log A_t + \operatorname{logcumsumexp}_t\bigl(\log b_t - \log A_t\bigr)

(with :math:`\log h_0` as the first term of the logcumsumexp). Logarithms need positive
numbers: the gates are positive (sigmoids), and the candidate state is kept positive with

.. math::
    g(x) = \begin{cases} x + \tfrac12 & x \ge 0 \\ \sigma(x) & x < 0 \end{cases}

which is continuous (g(0) = 1/2 both ways) and grows linearly, like the identity, for x > 0.

Each model here has two forward paths that compute the same numbers: ``mode="sequential"``,
one step at a time (the definition), and ``mode="parallel"``, the log-space scan. The course's
tests and notebook 10 prove them equal, outputs and gradients, to ~1e-12 in float64.

Shapes: time-major, as ``torch.nn.GRU``'s default: input ``x`` is (T, B, I), outputs are
(T, B, H) and the final state (B, H). T steps, B sequences, I input features, H hidden units.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["g", "log_g", "linear_recurrence", "log_space_scan", "mingru_step", "minlstm_step",
           "MinGRU", "MinLSTM"]

MODES = ("parallel", "sequential")


# -- The positive candidate g, and its logarithm ----------------------------------------------

def g(x: Tensor) -> Tensor:
    r"""g(x) = x + 1/2 for x >= 0, sigmoid(x) for x < 0: positive, continuous, ~linear for x > 0."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    r"""log g(x), computed stably: log(x + 1/2) for x >= 0, -softplus(-x) = log sigmoid(x) else.

    Each branch is evaluated only where it is finite (``clamp``), so no NaN leaks into the
    gradient through the branch that ``torch.where`` discards.
    """
    return torch.where(x >= 0, (x.clamp(min=0) + 0.5).log(), -F.softplus(-x))


# -- Two ways to run h_t = a_t * h_{t-1} + b_t --------------------------------------------------

def linear_recurrence(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    r"""h_t = a_t * h_{t-1} + b_t, one step at a time (the definition).

    Args:
        a, b: (T, B, H). h0: (B, H), or None for zeros.

    Returns:
        h_1 .. h_T as (T, B, H).
    """
    h = torch.zeros_like(b[0]) if h0 is None else h0
    outputs = []
    for a_t, b_t in zip(a.unbind(0), b.unbind(0), strict=True):  # unbind, not a[t]: see nb 10
        h = a_t * h + b_t
        outputs.append(h)
    return torch.stack(outputs)


def log_space_scan(log_a: Tensor, log_b: Tensor, log_h0: Tensor | None = None) -> Tensor:
    r"""h_t = a_t * h_{t-1} + b_t for all t at once, from the logarithms of a, b (and h_0 > 0).

    .. math::
        \log A_t = \sum_{j \le t} \log a_j, \qquad
        \log h_t = \log A_t + \log\Bigl(h_0 + \sum_{k \le t} \exp(\log b_k - \log A_k)\Bigr)

    ``torch.cumsum`` and ``torch.logcumsumexp`` are scans: a GPU computes them in O(log T)
    parallel rounds, where the step-by-step loop needs T rounds.

    Args:
        log_a, log_b: (T, B, H), the logarithms of a_t > 0 and b_t > 0.
        log_h0: (B, H), log of a positive initial state, or None for h_0 = 0.

    Returns:
        h_1 .. h_T as (T, B, H), positive.
    """
    log_A = torch.cumsum(log_a, dim=0)                      # (T, B, H)
    terms = log_b - log_A                                   # log(b_k / A_k)
    if log_h0 is not None:
        terms = torch.cat([log_h0.unsqueeze(0), terms])      # h_0 is the sum's first term
        log_sum = torch.logcumsumexp(terms, dim=0)[1:]
    else:
        log_sum = torch.logcumsumexp(terms, dim=0)
    return torch.exp(log_A + log_sum)


# -- minGRU --------------------------------------------------------------------------------

def mingru_step(k_z: Tensor, k_h: Tensor, h: Tensor) -> Tensor:
    r"""One step of minGRU: :math:`h' = (1 - z) \odot h + z \odot g(\tilde h)`.

    Args:
        k_z: (B, H), the update gate's pre-activation ``W_z x_t + b_z``; z = sigmoid(k_z).
        k_h: (B, H), the candidate's pre-activation ``W_h x_t + b_h``; h~ = g(k_h).
        h: (B, H), the previous hidden state.

    Returns:
        h': (B, H).
    """
    z = torch.sigmoid(k_z)
    return (1 - z) * h + z * g(k_h)


def _check_input(x: Tensor, input_size: int, who: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3 or x.size(-1) != input_size:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{who}: expected input of shape (T, B, {input_size}) (time-major), "
                         f"got {shape}")


def _check_h0(h0: Tensor | None, x: Tensor, hidden_size: int, mode: str, who: str) -> None:
    if h0 is None:
        return
    if tuple(h0.shape) != (x.size(1), hidden_size):
        raise ValueError(f"{who}: expected h0 of shape ({x.size(1)}, {hidden_size}) = (B, H), "
                         f"got {tuple(h0.shape)}")
    if mode == "parallel" and not bool((h0 > 0).all()):
        raise ValueError(f"{who}: the log-space scan needs a positive h0 (it takes log h0); "
                         "pass h0=None for zeros, or use mode='sequential'")


def _check_mode(mode: str, who: str) -> None:
    if mode not in MODES:
        raise ValueError(f"{who}: mode should be 'parallel' or 'sequential', got {mode!r}")


class _MinRNN(nn.Module):
    """What minGRU and minLSTM share: one input projection for every block, then the same
    recurrence h_t = a_t * h_{t-1} + b_t run step by step or as one log-space scan.

    A subclass sets ``blocks`` (gate and candidate blocks stacked in ``weight``), ``step``
    (one sequential step from the blocks' pre-activations) and ``log_coefficients`` (log a_t
    and log b_t for the scan).
    """

    blocks: int

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight = nn.Parameter(torch.empty(self.blocks * hidden_size, input_size))
        self.bias = nn.Parameter(torch.empty(self.blocks * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.input_size)  # nn.Linear's default
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"

    def forward(self, x: Tensor, h0: Tensor | None = None,
                mode: str = "parallel") -> tuple[Tensor, Tensor]:
        who = type(self).__name__
        _check_mode(mode, who)
        _check_input(x, self.input_size, who)
        _check_h0(h0, x, self.hidden_size, mode, who)
        keys = F.linear(x, self.weight, self.bias).chunk(self.blocks, dim=-1)  # all T at once
        if mode == "sequential":
            h = x.new_zeros(x.size(1), self.hidden_size) if h0 is None else h0
            outputs = []
            for step_keys in zip(*(k.unbind(0) for k in keys), strict=True):
                h = self.step(*step_keys, h)
                outputs.append(h)
            output = torch.stack(outputs)
        else:
            log_a, log_b = self.log_coefficients(*keys)
            output = log_space_scan(log_a, log_b, None if h0 is None else h0.log())
        return output, output[-1]


class MinGRU(_MinRNN):
    r"""minGRU (Feng et al. 2024): a GRU whose gate and candidate read only the input.

    .. math::
        z_t &= \sigma(W_z x_t + b_z)                        && \text{update gate} \\
        \tilde h_t &= g(W_h x_t + b_h)                      && \text{candidate, kept positive} \\
        h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    Compare the GRU: there z_t and the candidate also read h_{t-1}, through W_hz and W_hn, and
    a reset gate r_t. Here neither does, so :math:`a_t = 1 - z_t` and
    :math:`b_t = z_t \odot \tilde h_t` are known for all t before the recurrence starts, and
    ``mode="parallel"`` runs it as one log-space scan, with
    :math:`\log(1 - z) = -\mathrm{softplus}(k_z)` and :math:`\log z = -\mathrm{softplus}(-k_z)`.

    Parameters: ``weight`` (2H, I) and ``bias`` (2H,), the blocks of z and h~ stacked in that
    order: 2H(I + 1) numbers, against nn.GRU's 3H(I + H) + 6H.

    Shapes: x (T, B, I); h0 (B, H) or None (zeros). Returns ``(output, h_n)``: (T, B, H), (B, H).
    """

    blocks = 2
    step = staticmethod(mingru_step)

    @staticmethod
    def log_coefficients(k_z: Tensor, k_h: Tensor) -> tuple[Tensor, Tensor]:
        log_a = -F.softplus(k_z)                       # log(1 - z)
        log_b = -F.softplus(-k_z) + log_g(k_h)         # log z + log h~
        return log_a, log_b


# -- minLSTM -------------------------------------------------------------------------------

def minlstm_step(k_f: Tensor, k_i: Tensor, k_h: Tensor, h: Tensor) -> Tensor:
    r"""One step of minLSTM: :math:`h' = f' \odot h + i' \odot g(\tilde h)`, f' + i' = 1.

    Args:
        k_f, k_i, k_h: (B, H), pre-activations of the forget gate, input gate and candidate.
        h: (B, H), the previous hidden state.

    Returns:
        h': (B, H).
    """
    f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
    return f / (f + i) * h + i / (f + i) * g(k_h)


class MinLSTM(_MinRNN):
    r"""minLSTM (Feng et al. 2024): an LSTM with input-only gates, no output gate, no cell/h split.

    .. math::
        f_t &= \sigma(W_f x_t + b_f), \quad i_t = \sigma(W_i x_t + b_i) \\
        f'_t &= \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t}
               && \text{normalised: } f'_t + i'_t = 1 \\
        \tilde h_t &= g(W_h x_t + b_h) \\
        h_t &= f'_t \odot h_{t-1} + i'_t \odot \tilde h_t

    The normalisation keeps h_t a weighted average of past candidates, so its scale does not
    grow with t. In log space, with :math:`d = \mathrm{softplus}(-k_f) - \mathrm{softplus}(-k_i)`
    :math:`= \log(i_t / f_t)`: :math:`\log f' = -\mathrm{softplus}(d)`,
    :math:`\log i' = -\mathrm{softplus}(-d)`.

    Parameters: ``weight`` (3H, I) and ``bias`` (3H,), blocks f, i, h~ in that order.

    Shapes: x (T, B, I); h0 (B, H) or None (zeros). Returns ``(output, h_n)``: (T, B, H), (B, H).
    """

    blocks = 3
    step = staticmethod(minlstm_step)

    @staticmethod
    def log_coefficients(k_f: Tensor, k_i: Tensor, k_h: Tensor) -> tuple[Tensor, Tensor]:
        d = F.softplus(-k_f) - F.softplus(-k_i)        # log(i / f)
        log_a = -F.softplus(d)                         # log f'
        log_b = -F.softplus(-d) + log_g(k_h)           # log i' + log h~
        return log_a, log_b
