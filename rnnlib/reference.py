"""A NumPy reference of the RNN, LSTM and GRU cells: forward and backward through time by hand.

Notebook 02 derives the vanilla RNN's backward pass here, then checks it against finite
differences; notebooks 04 and 05 do the same for the LSTM and the GRU. Everything is float64.

Conventions (PyTorch's, so that weights copy straight from ``nn.RNN``/``nn.LSTM``/``nn.GRU``)::

    x        (T, B, I)   the inputs, time first: x[t] is the batch at step t
    h0, c0   (B, H)      the initial states
    h_all    (T, B, H)   the hidden state after every step (what nn.LSTM calls ``output``)
    W_ih     (G*H, I)    input weights, G gate blocks stacked: 1 (RNN), 4 (LSTM: i, f, g, o),
                         3 (GRU: r, z, n); copy from ``lstm.weight_ih_l0``
    W_hh     (G*H, H)    recurrent weights; ``lstm.weight_hh_l0``
    b_ih, b_hh (G*H,)    the two bias vectors; ``lstm.bias_ih_l0``, ``lstm.bias_hh_l0``

Every ``*_forward`` returns ``(output, cache)``; the matching ``*_backward(d_output, cache)``
takes the gradient of the loss with respect to that output and returns the gradients with
respect to every input, in the order of the forward's arguments (the CS231n pattern)::

    h, cache = rnn_step_forward(x_t, h_prev, W_ih, W_hh, b_ih, b_hh)
    dx_t, dh_prev, dW_ih, dW_hh, db_ih, db_hh = rnn_step_backward(dh, cache)

    h_all, cache = lstm_forward(x, h0, c0, W_ih, W_hh, b_ih, b_hh)
    dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh = lstm_backward(dh_all, cache)

Two facts carry every backward pass below:

1. For ``a = x @ W.T + b`` (x: (B, I), W: (H, I)) with upstream gradient ``da`` (B, H):
   ``dx = da @ W``, ``dW = da.T @ x``, ``db = da.sum(0)``. The two biases enter the same sum,
   so they get the same gradient: ``db_ih = db_hh`` (except the GRU's n block, see there).
2. Through time, h_t feeds both the loss at step t and step t + 1, so its gradient is the sum
   ``dh_all[t] + (gradient coming back from step t + 1)``; the weights are shared by every
   step, so their gradients are summed over t. That is all "backpropagation through time" is.

``numerical_gradient``, ``relative_error`` and ``gradient_check`` check any of these against
central finite differences.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray  # float64 throughout

__all__ = [
    "sigmoid",
    "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
    "lstm_step_forward", "lstm_step_backward", "lstm_forward", "lstm_backward",
    "gru_step_forward", "gru_step_backward", "gru_forward", "gru_backward",
    "numerical_gradient", "relative_error", "gradient_check", "random_problem",
]


def sigmoid(a: Array) -> Array:
    """The logistic function 1 / (1 + exp(-a)), computed without overflow for large |a|."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _affine_backward(da: Array, inp: Array, W: Array) -> tuple[Array, Array, Array]:
    """Gradients of ``a = inp @ W.T + b``: (d_inp, dW, db)."""
    return da @ W, da.T @ inp, da.sum(axis=0)


# --------------------------------------------------------------------------------------------
# Vanilla RNN
# --------------------------------------------------------------------------------------------

def rnn_step_forward(x: Array, h_prev: Array, W_ih: Array, W_hh: Array, b_ih: Array,
                     b_hh: Array, nonlinearity: str = "tanh") -> tuple[Array, tuple]:
    """One step of the Elman RNN: ``h = tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)``.

    Shapes: x (B, I), h_prev (B, H), W_ih (H, I), W_hh (H, H), b_ih and b_hh (H,).
    ``nonlinearity="relu"`` uses max(a, 0) instead of tanh. Returns h (B, H) and the cache.
    """
    a = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    h = np.tanh(a) if nonlinearity == "tanh" else np.maximum(a, 0.0)
    return h, (x, h_prev, W_ih, W_hh, a, h, nonlinearity)


def rnn_step_backward(dh: Array, cache: tuple) -> tuple[Array, ...]:
    """Backward of one RNN step.

    With ``a`` the pre-activation and ``h = tanh(a)``: tanh'(a) = 1 - tanh(a)^2 = 1 - h^2, so

        da = dh * (1 - h**2)           (relu: da = dh * (a > 0))

    and then fact 1 of the module docstring, twice (x with W_ih, h_prev with W_hh).

    Returns (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh).
    """
    x, h_prev, W_ih, W_hh, a, h, nonlinearity = cache
    da = dh * (1.0 - h**2) if nonlinearity == "tanh" else dh * (a > 0)
    dx, dW_ih, db = _affine_backward(da, x, W_ih)
    dh_prev, dW_hh, _ = _affine_backward(da, h_prev, W_hh)
    return dx, dh_prev, dW_ih, dW_hh, db, db.copy()


def rnn_forward(x: Array, h0: Array, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array,
                nonlinearity: str = "tanh") -> tuple[Array, dict]:
    """Run the RNN over a sequence. x (T, B, I), h0 (B, H). Returns h_all (T, B, H) and the cache."""
    h, h_all, caches = h0, [], []
    for x_t in x:
        h, cache = rnn_step_forward(x_t, h, W_ih, W_hh, b_ih, b_hh, nonlinearity)
        h_all.append(h)
        caches.append(cache)
    return np.stack(h_all), {"steps": caches}


def rnn_backward(dh_all: Array, cache: dict) -> tuple[Array, ...]:
    """Backward through time. dh_all (T, B, H): the loss's gradient w.r.t. every h_t.

    Walk from the last step to the first; at step t the hidden state's gradient is
    ``dh_all[t]`` plus what step t + 1 sent back (``dh_prev``); the weight gradients add up.
    Returns (dx (T, B, I), dh0 (B, H), dW_ih, dW_hh, db_ih, db_hh).
    """
    caches = cache["steps"]
    dx = np.zeros((len(caches),) + caches[0][0].shape)
    dh_next = np.zeros_like(dh_all[0])
    grads = None
    for t in reversed(range(len(caches))):
        dx[t], dh_next, *dweights = rnn_step_backward(dh_all[t] + dh_next, caches[t])
        grads = dweights if grads is None else [g + d for g, d in zip(grads, dweights, strict=True)]
    return (dx, dh_next, *grads)


# --------------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------------

def lstm_step_forward(x: Array, h_prev: Array, c_prev: Array, W_ih: Array, W_hh: Array,
                      b_ih: Array, b_hh: Array) -> tuple[Array, Array, tuple]:
    """One LSTM step, gate blocks in PyTorch's order i, f, g, o (each H columns of ``a``).

        a = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh        (B, 4H)
        i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
        c = f * c_prev + i * g
        h = o * tanh(c)

    Shapes: x (B, I), h_prev and c_prev (B, H), W_ih (4H, I), W_hh (4H, H), biases (4H,).
    Returns (h, c, cache).
    """
    a = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c)


def lstm_step_backward(dh: Array, dc: Array, cache: tuple) -> tuple[Array, ...]:
    """Backward of one LSTM step, given dh = dL/dh_t and dc = δc, the gradient that step t+1
    sends back along the cell (not dL/dc_t, which also takes the route through h_t: dc_total).

    Go back through the forward's lines in reverse order:

        h = o * tanh(c)        do = dh * tanh(c)
                               dc_total = dc + dh * o * (1 - tanh(c)**2)   (c feeds h as well)
        c = f*c_prev + i*g     df = dc_total * c_prev    di = dc_total * g
                               dg = dc_total * i         dc_prev = dc_total * f
        gates from a           da_i = di * i*(1-i)   da_f = df * f*(1-f)   (sigmoid' = s(1-s))
                               da_g = dg * (1 - g**2)    da_o = do * o*(1-o)  (tanh' = 1-tanh^2)

    then fact 1 of the module docstring with da = [da_i, da_f, da_g, da_o] (B, 4H).

    Returns (dx, dh_prev, dc_prev, dW_ih, dW_hh, db_ih, db_hh).
    """
    x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, tanh_c = cache
    do = dh * tanh_c
    dc_total = dc + dh * o * (1.0 - tanh_c**2)
    df = dc_total * c_prev
    di = dc_total * g
    dg = dc_total * i
    dc_prev = dc_total * f
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g**2), do * o * (1 - o)],
                        axis=1)
    dx, dW_ih, db = _affine_backward(da, x, W_ih)
    dh_prev, dW_hh, _ = _affine_backward(da, h_prev, W_hh)
    return dx, dh_prev, dc_prev, dW_ih, dW_hh, db, db.copy()


def lstm_forward(x: Array, h0: Array, c0: Array, W_ih: Array, W_hh: Array, b_ih: Array,
                 b_hh: Array) -> tuple[Array, dict]:
    """Run the LSTM over a sequence. x (T, B, I), h0 and c0 (B, H).

    Returns h_all (T, B, H) and the cache; the final cell state is ``cache["c"]`` (B, H).
    """
    h, c, h_all, steps = h0, c0, [], []
    for x_t in x:
        h, c, step = lstm_step_forward(x_t, h, c, W_ih, W_hh, b_ih, b_hh)
        h_all.append(h)
        steps.append(step)
    return np.stack(h_all), {"steps": steps, "c": c}


def lstm_backward(dh_all: Array, cache: dict) -> tuple[Array, ...]:
    """Backward through time. dh_all (T, B, H): the loss's gradient w.r.t. every h_t.

    Both states carry gradient back in time: dh through ``h_prev @ W_hh.T`` and dc along the
    cell, ``dc_prev = dc_total * f`` (the constant error carousel: with f near 1 it passes
    almost unchanged). Returns (dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh).
    """
    steps = cache["steps"]
    dx = np.zeros((len(steps),) + steps[0][0].shape)
    dh_next = np.zeros_like(dh_all[0])
    dc_next = np.zeros_like(dh_all[0])
    grads = None
    for t in reversed(range(len(steps))):
        dx[t], dh_next, dc_next, *dweights = lstm_step_backward(dh_all[t] + dh_next, dc_next,
                                                                steps[t])
        grads = dweights if grads is None else [g + d for g, d in zip(grads, dweights, strict=True)]
    return (dx, dh_next, dc_next, *grads)


# --------------------------------------------------------------------------------------------
# GRU (PyTorch's variant: the reset gate multiplies W_hn h + b_hn)
# --------------------------------------------------------------------------------------------

def gru_step_forward(x: Array, h_prev: Array, W_ih: Array, W_hh: Array, b_ih: Array,
                     b_hh: Array) -> tuple[Array, tuple]:
    """One GRU step as PyTorch defines it, gate blocks r, z, n.

        gi = x @ W_ih.T + b_ih          gh = h_prev @ W_hh.T + b_hh        (B, 3H) each
        r = sigmoid(gi_r + gh_r)        z = sigmoid(gi_z + gh_z)
        n = tanh(gi_n + r * gh_n)       (reset after the product)
        h = (1 - z) * n + z * h_prev

    Returns (h, cache).
    """
    gi = x @ W_ih.T + b_ih
    gh = h_prev @ W_hh.T + b_hh
    gi_r, gi_z, gi_n = np.split(gi, 3, axis=1)
    gh_r, gh_z, gh_n = np.split(gh, 3, axis=1)
    r = sigmoid(gi_r + gh_r)
    z = sigmoid(gi_z + gh_z)
    n = np.tanh(gi_n + r * gh_n)
    h = (1 - z) * n + z * h_prev
    return h, (x, h_prev, W_ih, W_hh, r, z, n, gh_n)


def gru_step_backward(dh: Array, cache: tuple) -> tuple[Array, ...]:
    """Backward of one GRU step.

        h = (1-z)*n + z*h_prev   dn = dh * (1 - z)   dz = dh * (h_prev - n)   dh_prev = dh * z (+ below)
        n = tanh(a_n)            da_n = dn * (1 - n**2),  with a_n = gi_n + r * gh_n:
                                 dgi_n = da_n    dr = da_n * gh_n    dgh_n = da_n * r
        r, z = sigmoid(...)      da_r = dr * r*(1-r)    da_z = dz * z*(1-z)
                                 (each reaches gi and gh alike)

    So the input side gets dgi = [da_r, da_z, da_n] and the hidden side
    dgh = [da_r, da_z, r * da_n]: here db_ih and db_hh differ in the n block. Then fact 1 of
    the module docstring, once with (x, W_ih, dgi) and once with (h_prev, W_hh, dgh).

    Returns (dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh).
    """
    x, h_prev, W_ih, W_hh, r, z, n, gh_n = cache
    dn = dh * (1 - z)
    dz = dh * (h_prev - n)
    da_n = dn * (1 - n**2)
    dr = da_n * gh_n
    da_r = dr * r * (1 - r)
    da_z = dz * z * (1 - z)
    dgi = np.concatenate([da_r, da_z, da_n], axis=1)
    dgh = np.concatenate([da_r, da_z, da_n * r], axis=1)
    dx, dW_ih, db_ih = _affine_backward(dgi, x, W_ih)
    dh_from_gates, dW_hh, db_hh = _affine_backward(dgh, h_prev, W_hh)
    dh_prev = dh * z + dh_from_gates
    return dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh


def gru_forward(x: Array, h0: Array, W_ih: Array, W_hh: Array, b_ih: Array,
                b_hh: Array) -> tuple[Array, dict]:
    """Run the GRU over a sequence. x (T, B, I), h0 (B, H). Returns h_all (T, B, H) and the cache."""
    h, h_all, caches = h0, [], []
    for x_t in x:
        h, cache = gru_step_forward(x_t, h, W_ih, W_hh, b_ih, b_hh)
        h_all.append(h)
        caches.append(cache)
    return np.stack(h_all), {"steps": caches}


def gru_backward(dh_all: Array, cache: dict) -> tuple[Array, ...]:
    """Backward through time, as ``rnn_backward``. Returns (dx, dh0, dW_ih, dW_hh, db_ih, db_hh)."""
    caches = cache["steps"]
    dx = np.zeros((len(caches),) + caches[0][0].shape)
    dh_next = np.zeros_like(dh_all[0])
    grads = None
    for t in reversed(range(len(caches))):
        dx[t], dh_next, *dweights = gru_step_backward(dh_all[t] + dh_next, caches[t])
        grads = dweights if grads is None else [g + d for g, d in zip(grads, dweights, strict=True)]
    return (dx, dh_next, *grads)


# --------------------------------------------------------------------------------------------
# Gradient checking
# --------------------------------------------------------------------------------------------

def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       eps: float = 1e-6) -> np.ndarray:
    """The gradient of the scalar ``f`` at ``x`` by central differences, one entry at a time.

        df/dx[k] ~ (f(x + eps e_k) - f(x - eps e_k)) / (2 eps)

    The error of this estimate is of order eps**2 (plus float64 round-off of order 1e-16 / eps),
    so with eps = 1e-6 a correct analytic gradient agrees to about 1e-9 relative.

    ``x`` (float64) is changed in place and restored before returning, so ``f`` may read it
    through a closure and ignore its argument: ``f(x)`` is called after each change.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical_gradient needs a float64 array to change in place, "
                        f"got {x.dtype}: use x.astype(np.float64)")
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        saved = x[k]
        x[k] = saved + eps
        f_plus = f(x)
        x[k] = saved - eps
        f_minus = f(x)
        x[k] = saved
        grad[k] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """The largest difference between ``a`` and ``b``, relative to the larger of the two.

        max|a - b| / max(max|a|, max|b|)

    Measured against the whole array's scale, so an entry that is nearly zero in both (where
    finite differences are all round-off) does not make a correct gradient look wrong; a wrong
    backward pass gives errors near 1, a right one about 1e-9 in float64. 0 when both are zero.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error needs arrays of the same shape, got {a.shape} and "
                         f"{b.shape}")
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return 0.0 if scale == 0 else float(np.abs(a - b).max() / scale)


_CELLS = {
    # forward, backward, the names of the forward's arguments (= the backward's outputs)
    "rnn": (rnn_forward, rnn_backward, ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")),
    "lstm": (lstm_forward, lstm_backward, ("x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh")),
    "gru": (gru_forward, gru_backward, ("x", "h0", "W_ih", "W_hh", "b_ih", "b_hh")),
}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def random_problem(cell: str, T: int = 4, B: int = 3, I: int = 4, H: int = 5,  # noqa: E741
                   seed: int = 0) -> dict[str, np.ndarray]:
    """Random float64 inputs and weights for ``cell`` ("rnn", "lstm" or "gru"), by name.

    Weights are drawn like torch.nn's, from U(-1/sqrt(H), 1/sqrt(H)); x and the initial states
    from a standard normal. Keys: x, h0 (and c0 for the LSTM), W_ih, W_hh, b_ih, b_hh.
    """
    if cell not in _CELLS:
        raise ValueError(f"cell should be one of {sorted(_CELLS)}, got {cell!r}")
    rng = np.random.default_rng(seed)
    G, k = _GATES[cell], 1 / np.sqrt(H)
    shapes = {"x": (T, B, I), "h0": (B, H), "c0": (B, H), "W_ih": (G * H, I),
              "W_hh": (G * H, H), "b_ih": (G * H,), "b_hh": (G * H,)}
    return {name: (rng.standard_normal(shapes[name]) if name in ("x", "h0", "c0")
                   else rng.uniform(-k, k, shapes[name]))
            for name in _CELLS[cell][2]}


def gradient_check(cell: str, T: int = 4, B: int = 3, I: int = 4, H: int = 5,  # noqa: E741
                   seed: int = 0, eps: float = 1e-6, one_step: bool = False) -> dict[str, float]:
    """Check a backward pass against finite differences; the relative error of each gradient.

    Builds a random problem (``random_problem``), takes the scalar loss
    ``L = sum(h_all * dh_all)`` for a fixed random ``dh_all`` (so dL/dh_all = dh_all), and
    compares the analytic gradient of L w.r.t. every input and parameter (from ``*_backward``)
    with ``numerical_gradient``. With ``one_step=True`` the sequence is a single step, which
    checks ``*_step_backward`` on its own.

    Returns ``{"x": 3e-10, "h0": ..., "W_ih": ..., ...}``: all should be below 1e-6.

        >>> errors = gradient_check("lstm")
        >>> max(errors.values()) < 1e-6
        True
    """
    problem = random_problem(cell, T=1 if one_step else T, B=B, I=I, H=H, seed=seed)
    forward, backward, names = _CELLS[cell]
    args = [problem[name] for name in names]
    h_all, cache = forward(*args)
    dh_all = np.random.default_rng(seed + 1).standard_normal(h_all.shape)
    analytic = backward(dh_all, cache)

    def loss(_):
        return float(np.sum(forward(*args)[0] * dh_all))

    return {name: relative_error(grad, numerical_gradient(loss, array, eps))
            for name, array, grad in zip(names, args, analytic, strict=True)}
