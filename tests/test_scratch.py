"""rnnlib.scratch is drop-in for torch.nn: same names, same numbers, same gradients.

Every comparison copies the weights across, runs both modules on the same input, and compares
the outputs, the final states and the gradients with respect to the input, the initial state and
every parameter (float32 within torch.testing's default tolerance, float64 within 1e-10).
"""

from __future__ import annotations

import ast
import inspect
import re
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnlib import scratch

torch.set_num_threads(1)

SEQ, BATCH, FEATURES, HIDDEN = 4, 3, 4, 5       # tiny: the grid below has hundreds of cases
KINDS = ["RNN", "LSTM", "GRU"]
CELLS = ["RNNCell", "LSTMCell", "GRUCell"]
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def tolerances(dtype: torch.dtype) -> dict:
    """float32: torch.testing's defaults; float64: agreement to about 1e-10."""
    return {} if dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}


def make_pair(kind: str, dtype=torch.float64, seed: int = 0, **kwargs):
    """(scratch module, torch.nn module) with the torch module's weights copied into ours."""
    torch.manual_seed(seed)
    theirs = getattr(nn, kind)(FEATURES, HIDDEN, dtype=dtype, **kwargs)
    ours = getattr(scratch, kind)(FEATURES, HIDDEN, dtype=dtype, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def as_tuple(state) -> tuple:
    return state if isinstance(state, tuple) else (state,)


def outputs_and_gradients(model: nn.Module, x: torch.Tensor, hx, seed: int = 1) -> dict:
    """Run ``model(x, hx)`` and a backward pass from a random weighting of everything it returns.

    Returns the output, the final states, and the gradients w.r.t. x, each initial state and
    every parameter (by name): everything that must agree between scratch and torch.nn.
    """
    x = x.detach().clone().requires_grad_()
    states_in = [s.detach().clone().requires_grad_() for s in as_tuple(hx)] if hx is not None else []
    if hx is None:
        call_hx = None
    else:
        call_hx = tuple(states_in) if isinstance(hx, tuple) else states_in[0]
    output, states_out = model(x, call_hx)
    states_out = as_tuple(states_out)
    generator = torch.Generator().manual_seed(seed)
    loss = sum((t * torch.randn(t.shape, generator=generator, dtype=t.dtype)).sum()
               for t in (output, *states_out))
    names = [name for name, _ in model.named_parameters()]
    inputs = [x, *states_in, *model.parameters()]
    grads = torch.autograd.grad(loss, inputs)
    result = {"output": output, "x.grad": grads[0]}
    result.update({f"state_out{k}": s for k, s in enumerate(states_out)})
    result.update({f"state_in{k}.grad": g for k, g in enumerate(grads[1:1 + len(states_in)])})
    result.update({f"{n}.grad": g for n, g in zip(names, grads[1 + len(states_in):], strict=True)})
    return result


def assert_same(ours: dict, theirs: dict, dtype: torch.dtype) -> None:
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], **tolerances(dtype),
                                   msg=lambda m, key=key: f"{key}: {m}")


def random_input(kind: str, dtype, batched: bool, batch_first: bool, layers: int,
                 initial_state: bool, seed: int = 2):
    """x and hx (None, a tensor, or (h_0, c_0)) for a layer, shaped as the options say."""
    generator = torch.Generator().manual_seed(seed)
    if batched:
        shape = (BATCH, SEQ, FEATURES) if batch_first else (SEQ, BATCH, FEATURES)
        state_shape = (layers, BATCH, HIDDEN)
    else:
        shape, state_shape = (SEQ, FEATURES), (layers, HIDDEN)
    x = torch.randn(shape, generator=generator, dtype=dtype)
    if not initial_state:
        return x, None
    states = tuple(torch.randn(state_shape, generator=generator, dtype=dtype)
                   for _ in range(2 if kind == "LSTM" else 1))
    return x, states if kind == "LSTM" else states[0]


# --------------------------------------------------------------------------------------------
# Layers: the full grid
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("initial_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["time_first", "batch_first"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one_way", "bidirectional"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["1_layer", "2_layers"])
@pytest.mark.parametrize("kind", KINDS)
def test_scratch_layer_matches_torch_outputs_states_and_gradients(
        kind, num_layers, bidirectional, batch_first, bias, dtype, initial_state, batched):
    options = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                   bias=bias)
    ours, theirs = make_pair(kind, dtype, **options)
    layers = num_layers * (2 if bidirectional else 1)
    x, hx = random_input(kind, dtype, batched, batch_first, layers, initial_state)
    assert_same(outputs_and_gradients(ours, x, hx), outputs_and_gradients(theirs, x, hx), dtype)


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("bidirectional", [False, True], ids=["one_way", "bidirectional"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["1_layer", "2_layers"])
def test_scratch_rnn_relu_matches_torch(num_layers, bidirectional, dtype):
    ours, theirs = make_pair("RNN", dtype, num_layers=num_layers, nonlinearity="relu",
                             bidirectional=bidirectional)
    x, hx = random_input("RNN", dtype, True, False, num_layers * (1 + bidirectional), True)
    assert_same(outputs_and_gradients(ours, x, hx), outputs_and_gradients(theirs, x, hx), dtype)


def test_scratch_lstm_matches_torch_bidirectional_two_layers_batch_first_longer_sequence():
    """One larger case than the grid: T = 12, so errors that grow along time would show."""
    ours, theirs = make_pair("LSTM", torch.float32, num_layers=2, bidirectional=True,
                             batch_first=True)
    x = torch.randn(2, 12, FEATURES)
    assert_same(outputs_and_gradients(ours, x, None), outputs_and_gradients(theirs, x, None),
                torch.float32)


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------

def cell_outputs_and_gradients(cell: nn.Module, x: torch.Tensor, hx) -> dict:
    x = x.detach().clone().requires_grad_()
    states = [s.detach().clone().requires_grad_() for s in as_tuple(hx)] if hx is not None else []
    call_hx = None if hx is None else (tuple(states) if isinstance(hx, tuple) else states[0])
    out = as_tuple(cell(x, call_hx))
    generator = torch.Generator().manual_seed(3)
    loss = sum((t * torch.randn(t.shape, generator=generator, dtype=t.dtype)).sum() for t in out)
    grads = torch.autograd.grad(loss, [x, *states, *cell.parameters()])
    return {**{f"out{k}": t for k, t in enumerate(out)},
            **{f"grad{k}": g for k, g in enumerate(grads)}}


@pytest.mark.parametrize("initial_state", [False, True], ids=["zero_state", "given_state"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("kind", CELLS + ["RNNCell_relu"])
def test_scratch_cell_matches_torch_outputs_and_gradients(kind, bias, dtype, batched,
                                                          initial_state):
    extra = {"nonlinearity": "relu"} if kind.endswith("relu") else {}
    name = kind.removesuffix("_relu")
    ours, theirs = make_pair(name, dtype, bias=bias, **extra)
    generator = torch.Generator().manual_seed(4)
    batch = (BATCH,) if batched else ()
    x = torch.randn(*batch, FEATURES, generator=generator, dtype=dtype)
    hx = None
    if initial_state:
        parts = tuple(torch.randn(*batch, HIDDEN, generator=generator, dtype=dtype)
                      for _ in range(2 if name == "LSTMCell" else 1))
        hx = parts if name == "LSTMCell" else parts[0]
    assert_same(cell_outputs_and_gradients(ours, x, hx),
                cell_outputs_and_gradients(theirs, x, hx), dtype)


def test_scratch_cell_unrolled_by_hand_equals_scratch_layer():
    """The layer is the cell's step looped over time: unrolling the cell gives the same h_t."""
    torch.manual_seed(0)
    layer = scratch.LSTM(FEATURES, HIDDEN, dtype=torch.float64)
    cell = scratch.LSTMCell(FEATURES, HIDDEN, dtype=torch.float64)
    cell.load_state_dict({name.removesuffix("_l0"): p for name, p in layer.state_dict().items()})
    x = torch.randn(SEQ, BATCH, FEATURES, dtype=torch.float64)
    h = c = torch.zeros(BATCH, HIDDEN, dtype=torch.float64)
    outputs = []
    for x_t in x.unbind(0):
        h, c = cell(x_t, (h, c))
        outputs.append(h)
    output, (h_n, c_n) = layer(x)
    torch.testing.assert_close(output, torch.stack(outputs), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c_n[0], c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", CELLS)
def test_scratch_cell_passes_gradcheck_in_float64(kind):
    torch.manual_seed(0)
    cell = getattr(scratch, kind)(3, 2, dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    states = [torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
              for _ in range(2 if kind == "LSTMCell" else 1)]
    names = [name for name, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]

    def f(x, *tensors):
        hx = tuple(tensors[:len(states)]) if kind == "LSTMCell" else tensors[0]
        weights = dict(zip(names, tensors[len(states):], strict=True))
        return torch.func.functional_call(cell, weights, (x, hx))

    assert torch.autograd.gradcheck(f, (x, *states, *params))


@pytest.mark.parametrize("kind", KINDS)
def test_scratch_layer_passes_gradcheck_in_float64_bidirectional_two_layers(kind):
    torch.manual_seed(0)
    layer = getattr(scratch, kind)(2, 2, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(3, 1, 2, dtype=torch.float64, requires_grad=True)
    names = [name for name, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def f(x, *weights):
        output, states = torch.func.functional_call(layer, dict(zip(names, weights, strict=True)),
                                                    (x,))
        return output, *as_tuple(states)

    assert torch.autograd.gradcheck(f, (x, *params))


# --------------------------------------------------------------------------------------------
# Dropout between layers
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_scratch_dropout_is_off_in_eval_mode_and_matches_torch(kind):
    ours, theirs = make_pair(kind, torch.float64, num_layers=3, dropout=0.5, bidirectional=True)
    ours.eval()
    theirs.eval()
    x, _ = random_input(kind, torch.float64, True, False, 6, False)
    assert_same(outputs_and_gradients(ours, x, None), outputs_and_gradients(theirs, x, None),
                torch.float64)
    without, _ = make_pair(kind, torch.float64, num_layers=3, bidirectional=True)
    torch.testing.assert_close(ours(x)[0], without(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["one_way", "bidirectional"])
@pytest.mark.parametrize("kind", KINDS)
def test_scratch_dropout_in_training_applies_between_layers_only(kind, bidirectional):
    """Train mode: the output equals the layers run one by one with dropout between them only.

    The manual computation draws the same masks (same seed, one dropout call on each layer's
    output but the last), so any dropout on the last layer, on the states, or on the input
    would make the two differ.
    """
    directions = 2 if bidirectional else 1
    torch.manual_seed(0)
    model = getattr(scratch, kind)(FEATURES, HIDDEN, num_layers=3, dropout=0.4,
                                   bidirectional=bidirectional, dtype=torch.float64).train()
    singles = []
    for layer in range(3):
        single = getattr(scratch, kind)(FEATURES if layer == 0 else directions * HIDDEN, HIDDEN,
                                        bidirectional=bidirectional, dtype=torch.float64)
        single.load_state_dict({name.replace(f"_l{layer}", "_l0"): p
                                for name, p in model.state_dict().items() if f"_l{layer}" in name})
        singles.append(single)
    x, _ = random_input(kind, torch.float64, True, False, 3 * directions, False)

    torch.manual_seed(7)
    output, states = model(x)
    torch.manual_seed(7)
    layer_input, finals = x, []
    for layer, single in enumerate(singles):
        layer_input, final = single(layer_input)
        finals.append(as_tuple(final))
        if layer < 2:
            layer_input = F.dropout(layer_input, p=0.4, training=True)
    torch.testing.assert_close(output, layer_input, rtol=1e-12, atol=1e-12)
    for k, state in enumerate(as_tuple(states)):
        torch.testing.assert_close(state, torch.cat([f[k] for f in finals]), rtol=1e-12,
                                   atol=1e-12)
    assert not torch.allclose(output, model.eval()(x)[0]), "dropout had no effect in training"


@pytest.mark.parametrize("kind", KINDS)
def test_scratch_dropout_in_training_draws_the_same_masks_as_torch(kind):
    """With the same seed, scratch and torch.nn (torch 2.13) drop the same units in training."""
    ours, theirs = make_pair(kind, torch.float64, num_layers=3, dropout=0.5)
    x, _ = random_input(kind, torch.float64, True, False, 3, False)
    torch.manual_seed(11)
    mine = ours.train()(x)[0]
    torch.manual_seed(11)
    reference = theirs.train()(x)[0]
    torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-10)


def test_scratch_dropout_with_one_layer_warns_and_drops_nothing():
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        model = scratch.GRU(FEATURES, HIDDEN, dropout=0.5, dtype=torch.float64)
    x = torch.randn(SEQ, BATCH, FEATURES, dtype=torch.float64)
    torch.testing.assert_close(model.train()(x)[0], model.eval()(x)[0], rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# Names, shapes, initialisation, state dicts
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("kind", KINDS + CELLS)
def test_scratch_has_torch_parameter_names_shapes_order_and_initialisation(kind, bias):
    """Same names and shapes in the same order; and the same seed draws the same weights."""
    options = {"bias": bias}
    if kind in KINDS:
        options.update(num_layers=2, bidirectional=True)
    torch.manual_seed(5)
    ours = getattr(scratch, kind)(FEATURES, HIDDEN, **options)
    torch.manual_seed(5)
    theirs = getattr(nn, kind)(FEATURES, HIDDEN, **options)
    ours_params, theirs_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(ours_params) == list(theirs_params)
    for name, p in theirs_params.items():
        assert ours_params[name].shape == p.shape, name
        torch.testing.assert_close(ours_params[name], p, rtol=0, atol=0)
    bound = 1 / HIDDEN ** 0.5
    assert all(p.abs().max() <= bound for p in ours.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_scratch_state_dict_loads_both_ways_with_equal_outputs(kind):
    options = dict(num_layers=2, bidirectional=True, bias=False)
    torch.manual_seed(0)
    theirs = getattr(nn, kind)(FEATURES, HIDDEN, **options)
    ours = getattr(scratch, kind)(FEATURES, HIDDEN, **options)   # different weights so far
    x = torch.randn(SEQ, BATCH, FEATURES)
    assert not torch.allclose(ours(x)[0], theirs(x)[0])

    ours.load_state_dict(theirs.state_dict())                   # torch -> scratch
    torch.testing.assert_close(ours(x)[0], theirs(x)[0])

    torch.manual_seed(1)
    fresh_ours = getattr(scratch, kind)(FEATURES, HIDDEN, **options)
    theirs.load_state_dict(fresh_ours.state_dict())             # scratch -> torch
    torch.testing.assert_close(theirs(x)[0], fresh_ours(x)[0])
    torch.testing.assert_close(as_tuple(theirs(x)[1])[0], as_tuple(fresh_ours(x)[1])[0])


@pytest.mark.parametrize("kind", CELLS)
def test_scratch_cell_state_dict_loads_both_ways(kind):
    torch.manual_seed(0)
    theirs, ours = getattr(nn, kind)(FEATURES, HIDDEN), getattr(scratch, kind)(FEATURES, HIDDEN)
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(BATCH, FEATURES)
    for a, b in zip(as_tuple(ours(x)), as_tuple(theirs(x)), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("options", [
    {}, {"num_layers": 2, "dropout": 0.25}, {"bias": False, "batch_first": True},
    {"bidirectional": True},
], ids=["defaults", "layers_dropout", "no_bias_batch_first", "bidirectional"])
@pytest.mark.parametrize("kind", KINDS)
def test_scratch_repr_and_attributes_match_torch(kind, options):
    ours, theirs = (getattr(m, kind)(FEATURES, HIDDEN, **options) for m in (scratch, nn))
    assert repr(ours) == repr(theirs)
    for attribute in ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                      "dropout", "bidirectional", "proj_size", "mode"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert ([[p.shape for p in group] for group in ours.all_weights]
            == [[p.shape for p in group] for group in theirs.all_weights])
    ours.flatten_parameters()  # exists, does nothing, as torch.nn's on a CPU


def test_scratch_relu_rnn_says_so_in_its_repr():
    ours, theirs = scratch.RNN(3, 4, nonlinearity="relu"), nn.RNN(3, 4, nonlinearity="relu")
    assert (ours.nonlinearity, ours.mode) == (theirs.nonlinearity, theirs.mode)
    # torch.nn.RNN's repr leaves the nonlinearity out; ours shows it, as nn.RNNCell's does.
    assert repr(ours) == "RNN(3, 4, nonlinearity=relu)"


@pytest.mark.parametrize("kind", CELLS)
def test_scratch_cell_repr_matches_torch(kind):
    for options in ({}, {"bias": False}):
        assert repr(getattr(scratch, kind)(3, 4, **options)) == repr(getattr(nn, kind)(3, 4,
                                                                                       **options))
    assert repr(scratch.RNNCell(3, 4, nonlinearity="relu")) == repr(
        nn.RNNCell(3, 4, nonlinearity="relu"))


def test_scratch_constructors_take_torch_positional_argument_order():
    rnn_args = (FEATURES, HIDDEN, 2, "relu", False, True, 0.0, True)  # ..., nonlinearity, bias,
    ours, theirs = scratch.RNN(*rnn_args), nn.RNN(*rnn_args)            # batch_first, dropout, bi
    for attribute in ("num_layers", "nonlinearity", "bias", "batch_first", "dropout",
                      "bidirectional"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    lstm_args = (FEATURES, HIDDEN, 2, False, True, 0.0, True, 0)        # ..., proj_size
    assert repr(scratch.LSTM(*lstm_args)) == repr(nn.LSTM(*lstm_args))
    gru_args = (FEATURES, HIDDEN, 2, False, True, 0.0, True)
    assert repr(scratch.GRU(*gru_args)) == repr(nn.GRU(*gru_args))
    assert repr(scratch.RNNCell(FEATURES, HIDDEN, False, "relu")) == repr(
        nn.RNNCell(FEATURES, HIDDEN, False, "relu"))
    ours = scratch.LSTM(FEATURES, HIDDEN, dtype=torch.float64, device="cpu")
    assert all(p.dtype == torch.float64 for p in ours.parameters())


# --------------------------------------------------------------------------------------------
# Written from the equations: no torch RNN kernels, and a loop that stays linear in T
# --------------------------------------------------------------------------------------------

def test_scratch_source_calls_no_torch_recurrent_module_or_kernel():
    tree = ast.parse(inspect.getsource(scratch))
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.Name):
            used.add(node.id)
    forbidden = re.compile(r"^(_VF|RNNBase|RNNCellBase|(rnn|lstm|gru)(_\w+)?|"
                           r"_thnn_fused_\w+|mkldnn_rnn\w*|_cudnn_rnn\w*)$")
    ours = {"rnn_step", "lstm_step", "gru_step"}
    assert {name for name in used if forbidden.match(name)} <= ours
    for kind in KINDS + CELLS:
        assert not issubclass(getattr(scratch, kind), (nn.RNNBase, nn.RNNCellBase))


def test_scratch_runs_no_torch_recurrent_kernel_forward_or_backward():
    model = scratch.LSTM(FEATURES, HIDDEN, num_layers=2, bidirectional=True)
    x = torch.randn(SEQ, BATCH, FEATURES, requires_grad=True)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        output, (h_n, c_n) = model(x)
        (output.sum() + h_n.sum() + c_n.sum()).backward()
    names = {event.name for event in prof.events()}
    assert "aten::mm" in names or "aten::addmm" in names
    assert not [n for n in names if re.search(r"lstm|gru|rnn", n, re.IGNORECASE)]


def graph_node_names(tensor: torch.Tensor) -> list[str]:
    seen, names, todo = set(), [], [tensor.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        todo.extend(next_node for next_node, _ in node.next_functions)
    return names


@pytest.mark.parametrize("kind", KINDS)
def test_scratch_time_loop_unbinds_instead_of_indexing(kind):
    """x_proj[t] would add T SelectBackward nodes, each returning a (T, B, G*H) gradient."""
    model = getattr(scratch, kind)(FEATURES, HIDDEN, bidirectional=True)
    output, _ = model(torch.randn(6, BATCH, FEATURES))
    names = graph_node_names(output)
    assert "UnbindBackward0" in names
    assert not [n for n in names if n.startswith(("SelectBackward", "IndexBackward",
                                                  "SliceBackward", "CopySlices"))]


# --------------------------------------------------------------------------------------------
# Bad input: clear errors that say what was expected and what came
# --------------------------------------------------------------------------------------------

def test_scratch_layer_rejects_wrong_feature_size_naming_both_layouts():
    model = scratch.LSTM(32, HIDDEN)
    expected = "expected input of shape (T, B, 32) or (B, T, 32) with batch_first=True, got (4, 7)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        model(torch.randn(4, 7))
    with pytest.raises(ValueError, match=r"got \(5, 3, 7\): its last dimension should be "
                                         r"input_size=32"):
        model(torch.randn(5, 3, 7))


def test_scratch_layer_rejects_wrong_number_of_dimensions():
    with pytest.raises(ValueError, match=r"got \(2, 3, 4, 5\): 4 dimensions"):
        scratch.GRU(5, HIDDEN)(torch.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"batch_first=True, got \(4,\)"):
        scratch.RNN(4, HIDDEN, batch_first=True)(torch.randn(4))


def test_scratch_layer_rejects_wrong_initial_state_shape_naming_the_expected_one():
    model = scratch.GRU(FEATURES, HIDDEN, num_layers=2, bidirectional=True)
    x = torch.randn(SEQ, BATCH, FEATURES)
    expected = ("GRU expected h_0 of shape (num_layers * num_directions, B, H) = (4, 3, 5), "
                "got (2, 3, 5)")
    with pytest.raises(ValueError, match=re.escape(expected)):
        model(x, torch.zeros(2, BATCH, HIDDEN))
    with pytest.raises(ValueError, match=re.escape("(num_layers * num_directions, H) for a "
                                                   "single sequence = (4, 5), got (4, 1, 5)")):
        model(torch.randn(SEQ, FEATURES), torch.zeros(4, 1, HIDDEN))
    with pytest.raises(ValueError, match=re.escape("B, H) = (4, 2, 5), got (4, 3, 5)")):
        scratch.GRU(FEATURES, HIDDEN, num_layers=2, bidirectional=True, batch_first=True)(
            torch.randn(2, SEQ, FEATURES), torch.zeros(4, 3, HIDDEN))


def test_scratch_lstm_rejects_hx_that_is_not_a_pair_and_wrong_cell_state():
    model = scratch.LSTM(FEATURES, HIDDEN)
    x = torch.randn(SEQ, BATCH, FEATURES)
    with pytest.raises(TypeError, match=re.escape("LSTM expected hx to be a tuple (h_0, c_0), "
                                                  "got Tensor")):
        model(x, torch.zeros(1, BATCH, HIDDEN))
    with pytest.raises(ValueError, match=re.escape("expected c_0 of shape (num_layers * "
                                                   "num_directions, B, H) = (1, 3, 5), got (1, 3, 4)")):
        model(x, (torch.zeros(1, BATCH, HIDDEN), torch.zeros(1, BATCH, 4)))


def test_scratch_rejects_dtype_mismatch_and_integer_input_with_the_fix():
    model = scratch.RNN(FEATURES, HIDDEN)
    with pytest.raises(ValueError, match=re.escape("input has dtype torch.float64 but the weights "
                                                   "have torch.float32")):
        model(torch.randn(SEQ, BATCH, FEATURES, dtype=torch.float64))
    with pytest.raises(ValueError, match="h_0 has dtype torch.float64"):
        model(torch.randn(SEQ, BATCH, FEATURES), torch.zeros(1, BATCH, HIDDEN, dtype=torch.float64))
    with pytest.raises(ValueError, match="floating-point input .* token ids go through an "
                                         "nn.Embedding"):
        model(torch.zeros(SEQ, BATCH, FEATURES, dtype=torch.long))
    with pytest.raises(TypeError, match="expected input to be a torch.Tensor, got list"):
        model([[0.0] * FEATURES] * SEQ)


def test_scratch_rejects_packed_sequence_pointing_to_padding_or_torch_nn():
    packed = pack_padded_sequence(torch.randn(SEQ, BATCH, FEATURES), [4, 3, 2])
    with pytest.raises(TypeError, match=r"PackedSequence.*padded.*torch\.nn\.LSTM"):
        scratch.LSTM(FEATURES, HIDDEN)(packed)
    assert "PackedSequence" in scratch.LSTM.__doc__


def test_scratch_rejects_empty_sequence():
    with pytest.raises(ValueError, match="empty input of shape"):
        scratch.LSTM(FEATURES, HIDDEN)(torch.randn(0, BATCH, FEATURES))


def test_scratch_cell_rejects_wrong_shapes_naming_the_expected_ones():
    cell = scratch.LSTMCell(FEATURES, HIDDEN)
    with pytest.raises(ValueError, match=re.escape("LSTMCell expected input of shape (B, 4), or "
                                                   "(4,) for a single example, got (3, 7)")):
        cell(torch.randn(3, 7))
    with pytest.raises(ValueError, match=re.escape("expected c of shape (B, H) = (3, 5), got "
                                                   "(2, 5)")):
        cell(torch.randn(3, FEATURES), (torch.zeros(3, HIDDEN), torch.zeros(2, HIDDEN)))
    with pytest.raises(ValueError, match=re.escape("GRUCell expected hx of shape (H,) for a "
                                                   "single example = (5,), got (1, 5)")):
        scratch.GRUCell(FEATURES, HIDDEN)(torch.randn(FEATURES), torch.zeros(1, HIDDEN))
    with pytest.raises(TypeError, match=re.escape("LSTMCell expected hx to be a tuple (h, c)")):
        cell(torch.randn(3, FEATURES), torch.zeros(3, HIDDEN))


def test_scratch_constructors_reject_bad_arguments_clearly():
    with pytest.raises(ValueError, match=r"proj_size=3: LSTMs with projections are not "
                                         r"implemented.*torch\.nn\.LSTM"):
        scratch.LSTM(FEATURES, HIDDEN, proj_size=3)
    with pytest.raises(ValueError, match="nonlinearity should be 'tanh' or 'relu', got 'sigmoid'"):
        scratch.RNN(FEATURES, HIDDEN, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity should be 'tanh' or 'relu'"):
        scratch.RNNCell(FEATURES, HIDDEN, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout should be a probability between 0 and 1, got 1.5"):
        scratch.GRU(FEATURES, HIDDEN, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size should be greater than zero, got 0"):
        scratch.LSTMCell(FEATURES, 0)
    with pytest.raises(TypeError, match="input_size should be an int, got float"):
        scratch.RNN(4.0, HIDDEN)
    with pytest.raises(ValueError, match="num_layers should be an int >= 1, got 0"):
        scratch.LSTM(FEATURES, HIDDEN, num_layers=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scratch.LSTM(FEATURES, HIDDEN, proj_size=0)     # the default is accepted, silently
