"""The self-checks of notebook 05 (GRU): each passes on a right answer, and fails on the stub
and on the typical mistakes with a message that says what is wrong."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlib import checks
from rnnlib.checks import CheckFailed
from rnnlib.checks.gru import _step_variant


def _blocks(weight_ih, weight_hh, bias_ih, bias_hh):
    return (*weight_ih.chunk(3), *weight_hh.chunk(3), *bias_ih.chunk(3), *bias_hh.chunk(3))


def cho_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, reset_first=True, swap_z=False,
             with_b_hn=True):
    W_ir, W_iz, W_in, W_hr, W_hz, W_hn, b_ir, b_iz, b_in, b_hr, b_hz, b_hn = _blocks(
        weight_ih, weight_hh, bias_ih, bias_hh)
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    b_hn = b_hn if with_b_hn else 0
    recurrent = (r * h) @ W_hn.T + b_hn if reset_first else r * (h @ W_hn.T + b_hn)
    n = torch.tanh(x @ W_in.T + b_in + recurrent)
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


# ---- exercise 3: the GRU size with an LSTM's parameter budget

def matching(I, H):  # noqa: E741
    budget = 4 * (H * I + H * H + 2 * H)
    G = math.floor((-3 * (I + 2) + math.sqrt(9 * (I + 2) ** 2 + 12 * budget)) / 6)
    while 3 * (G * I + G * G + 2 * G) > budget:  # guard against round-off in the square root
        G -= 1
    return G


def test_matching_gru_hidden_passes_on_the_exact_answer(capsys):
    checks.matching_gru_hidden(matching)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_matching_gru_hidden_examples():
    assert matching(65, 256) == 300
    assert 3 * (300 * 65 + 300**2 + 600) <= 4 * (256 * 65 + 256**2 + 512) \
        < 3 * (301 * 65 + 301**2 + 602)


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda I, H: None, "still None"),  # noqa: E741
    (lambda I, H: round(H * math.sqrt(4 / 3)), "only the limit for a large H"),  # noqa: E741
    (lambda I, H: matching(I, H) + 1, "more than the LSTM's"),  # noqa: E741
    (lambda I, H: float(matching(I, H)), "whole number"),  # noqa: E741
    (lambda I, H: H, "expected 300"),  # noqa: E741
])
def test_matching_gru_hidden_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.matching_gru_hidden(answer)


# ---- exercise 4: weights from the swapped convention

def convert(state):
    new = {}
    for name, tensor in state.items():
        H = tensor.shape[0] // 3
        new[name] = torch.cat([tensor[:H], -tensor[H:2 * H], tensor[2 * H:]])
    return new


def test_from_swapped_convention_passes_on_negating_the_z_block(capsys):
    checks.from_swapped_convention(convert)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def _map_blocks(state, fn, names=None):
    new = {}
    for name, tensor in state.items():
        tensor = tensor.clone()
        H = tensor.shape[0] // 3
        if names is None or names(name):
            tensor = fn(tensor, H)
        new[name] = tensor
    return new


def negate_rows(rows):
    def fn(t, H):
        t[rows(H)] = -t[rows(H)]
        return t
    return fn


def in_place(state):
    for tensor in state.values():
        H = tensor.shape[0] // 3
        tensor[H:2 * H] *= -1
    return state


def one_minus(t, H):
    t[H:2 * H] = 1 - t[H:2 * H]
    return t


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda state: None, "still None"),
    (lambda state: list(state.values()), "should return a dict"),
    (lambda state: state, "nothing changed"),
    (in_place, "changed in place"),
    (lambda s: _map_blocks(s, negate_rows(lambda H: slice(0, H))), "the r block"),
    (lambda s: _map_blocks(s, negate_rows(lambda H: slice(2 * H, 3 * H))), "block n"),
    (lambda s: _map_blocks(s, negate_rows(lambda H: slice(H, 2 * H)),
                           names=lambda n: n.startswith("weight")), "z rows of .*bias"),
    (lambda s: _map_blocks(s, negate_rows(lambda H: slice(H, 2 * H)),
                           names=lambda n: n.endswith("l0")), "in every layer"),
    (lambda s: _map_blocks(s, one_minus), "1 - W"),
    (lambda s: {k: v for k, v in convert(s).items() if "l1" not in k}, "same keys"),
])
def test_from_swapped_convention_fails_on_stub_and_typical_mistakes(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.from_swapped_convention(answer)


def test_converted_weights_really_reproduce_the_swapped_gru():
    """The identity behind exercise 4, on its own: 1 - sigmoid(a) == sigmoid(-a)."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    state = {k: v.clone() for k, v in gru.state_dict().items()}
    h = torch.zeros(2, 4, dtype=torch.float64)
    weights = [state[f"{n}_l0"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    outputs = []
    for x_t in x:
        h = _step_variant(x_t, h, *weights, reset="after", swap_z=True)
        outputs.append(h)
    gru.load_state_dict(convert(state))
    torch.testing.assert_close(gru(x)[0], torch.stack(outputs))


def test_the_checks_own_gru_steps_are_pytorchs_and_chos():
    """The reference the checks grade against: PyTorch's step equals torch's kernel; Cho's not."""
    torch.manual_seed(1)
    args = [torch.randn(*s, dtype=torch.float64) for s in ((3, 4), (3, 5), (15, 4), (15, 5),
                                                           (15,), (15,))]
    torch.testing.assert_close(_step_variant(*args, reset="after"),
                               torch.gru_cell(*args))
    torch.testing.assert_close(_step_variant(*args), cho_step(*args))
    assert not torch.allclose(_step_variant(*args), torch.gru_cell(*args))


# ---- exercise 1: one GRU step backward in NumPy

def _reference_backward(dh, cache):
    from rnnlib import reference
    return reference.gru_step_backward(dh, cache)


def _with(index, change):
    """rnnlib.reference's backward with one of its six gradients changed."""
    def backward(dh, cache):
        grads = list(_reference_backward(dh, cache))
        grads[index] = change(grads[index], cache)
        return tuple(grads)
    return backward


def _db_hh_without_r(dh, cache):
    """The n block of db_hh given da_n, like db_ih's: the typical slip of the GRU's backward."""
    dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh = _reference_backward(dh, cache)
    return dx, dh_prev, dW_ih, dW_hh, db_ih, db_ih.copy()


def test_gru_step_backward_passes_on_the_reference(capsys):
    checks.gru.gru_step_backward(_reference_backward)
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out and "finite differences" in out


@pytest.mark.parametrize("options, message", [
    (dict(dz_sign=-1.0), "dz has the wrong sign"),
    (dict(one_minus_z=False), "dn uses z"),
    (dict(direct=False), "dh_prev is missing the direct path"),
    (dict(through_r=False), "path through the reset gate is missing"),
    (dict(tanh=False), "skip the tanh"),
    (dict(r_on_hn=False), "n block of the hidden side is missing r"),
])
def test_gru_step_backward_names_the_typical_mistakes(options, message):
    from rnnlib.checks.gru import _backward_variant

    with pytest.raises(CheckFailed, match=message):
        checks.gru.gru_step_backward(lambda dh, cache: _backward_variant(dh, cache, **options))


def test_gru_step_backward_variants_are_really_wrong():
    """Each mistake the check recognises changes at least one gradient (else it could not fail)."""
    import numpy as np

    from rnnlib.checks.gru import _backward_problem, _backward_variant

    _, _, cache, dh = _backward_problem()
    right = _reference_backward(dh, cache)
    for options in (dict(dz_sign=-1.0), dict(one_minus_z=False), dict(direct=False),
                    dict(through_r=False), dict(tanh=False), dict(r_on_hn=False)):
        variant = _backward_variant(dh, cache, **options)
        assert not all(np.allclose(a, b) for a, b in zip(variant, right, strict=True)), options
    assert all(np.allclose(a, b) for a, b in zip(_backward_variant(dh, cache), right,
                                                 strict=True))


@pytest.mark.parametrize("answer, message", [
    (None, "still None"),
    (lambda dh, cache: None, "still None"),
    (lambda dh, cache: _reference_backward(dh, cache)[:5], "6 arrays"),
    (_with(2, lambda g, cache: g.T), r"dW_ih has shape \(4, 15\), expected \(15, 4\)"),
    (_with(4, lambda g, cache: g * 2), r"db_ih \(rows of the blocks r, z, n\) has the right shape"),
    (_db_hh_without_r, r"db_hh \(rows of the block n\).*finite differences"),
    (_with(0, lambda g, cache: g + 1.0), "dx has the right shape but wrong values"),
])
def test_gru_step_backward_fails_on_stub_and_wrong_gradients(answer, message):
    with pytest.raises(CheckFailed, match=message):
        checks.gru.gru_step_backward(answer)


def test_gru_step_backward_fails_when_the_cache_is_changed_in_place():
    def in_place(dh, cache):
        grads = _reference_backward(dh, cache)
        cache[3][:] = 0.0   # W_hh
        return grads

    with pytest.raises(CheckFailed, match="in place"):
        checks.gru.gru_step_backward(in_place)


# ---- exercise 2: the update gate's bias, an experiment

def _experiment(bias=3.0, block=1, seed=0):
    """(full, z path) gradient norms of a small GRU, with one block's effective bias set."""
    import copy

    from rnnlib import scratch

    def norms(gru, x):
        W_ih, W_hh, b_ih, b_hh = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0,
                                  gru.bias_hh_l0)
        H = gru.hidden_size
        h = torch.zeros(x.shape[1], H, requires_grad=True)
        states, zs = [h], []
        for x_t in x.unbind(0):
            x_proj = x_t @ W_ih.T + b_ih
            zs.append(torch.sigmoid((x_proj + h @ W_hh.T + b_hh)[:, H:2 * H]).detach())
            h = scratch.gru_step(x_proj, h, W_hh, b_hh)
            h.retain_grad()
            states.append(h)
        states[-1].sum().backward()
        prod = torch.stack(zs).double().flip(0).cumprod(0).flip(0)
        z_path = torch.cat([prod, torch.ones(1, *h.shape, dtype=torch.float64)])
        return (torch.stack([s.grad.norm(dim=1).mean() for s in states]).detach(),
                z_path.norm(dim=2).mean(dim=1))

    x = torch.randn(40, 4, 3, generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    probe = torch.nn.GRU(3, 16)
    opened = copy.deepcopy(probe)
    H = 16
    with torch.no_grad():
        opened.bias_ih_l0[block * H:(block + 1) * H] = 0.0
        opened.bias_hh_l0[block * H:(block + 1) * H] = bias
    return norms(probe, x), norms(opened, x)


def test_update_bias_experiment_passes_on_the_right_measurement_and_reports_the_prediction(capsys):
    default, changed = _experiment()
    checks.gru.update_bias_experiment("larger", changed, default=default)
    checks.gru.update_bias_experiment("smaller", changed, default=default)
    out = capsys.readouterr().out
    assert out.count("\N{CHECK MARK}") == 2
    assert "as you predicted" in out and "not what you predicted" in out


@pytest.mark.parametrize("prediction, which, message", [
    (None, "right", "write down what you expect"),
    ("bigger", "right", "write down what you expect"),
    ("larger", "stub", "changed is still None"),
    ("larger", "same", "equal the default ones"),
    ("larger", "r block", "z itself barely moved"),
    ("larger", "short", "should have the length of default"),
    ("larger", "one tensor", "should be the pair"),
])
def test_update_bias_experiment_fails_helpfully(prediction, which, message):
    default, changed = _experiment()
    changed = {"right": changed, "stub": None, "same": default,
               "r block": _experiment(block=0)[1],
               "short": tuple(v[1:] for v in changed), "one tensor": changed[0]}[which]
    with pytest.raises(CheckFailed, match=message):
        checks.gru.update_bias_experiment(prediction, changed, default=default)


def test_update_bias_experiment_rejects_a_measurement_that_contradicts_z_near_one():
    """Curves swapped (the opened GRU passed as the default) cannot pass as the experiment."""
    default, changed = _experiment()
    with pytest.raises(CheckFailed):
        checks.gru.update_bias_experiment("larger", default, default=changed)


# ---- check and go on
# Without RNNLIB_STRICT_CHECKS a check never raises: a stub gets one "not written yet" line, a
# wrong answer its message, and both bind the course's reference; a right answer stays.


@pytest.fixture
def learner(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)


def stub_notice(out, *names):
    """One line saying that the exercise's names are not written yet."""
    return "not written yet" in out and out.count("\n") == 1 and \
        all(f"`{name}`" in out for name in names)


def gru_step_backward_stub(dh, cache):
    x, h_prev, W_ih, W_hh, r, z, n, gh_n = cache
    ...  # your code here


def matching_gru_hidden_stub(input_size, lstm_hidden):
    ...  # your code here


def from_swapped_convention_stub(state):
    ...  # your code here


def test_gru_step_backward_binds_rnnlib_reference_and_keeps_a_right_answer(learner, capsys):
    from rnnlib import reference
    from rnnlib.checks.gru import _backward_problem, _backward_variant

    bound = checks.gru_step_backward(gru_step_backward_stub)
    out = capsys.readouterr().out
    assert stub_notice(out, "gru_step_backward")
    _, _, cache, dh = _backward_problem()
    for ours, theirs in zip(bound(dh, cache), reference.gru_step_backward(dh, cache), strict=True):
        assert (ours == theirs).all()

    def no_direct_path(dh, cache):
        return _backward_variant(dh, cache, direct=False)

    assert checks.gru_step_backward(no_direct_path) is bound
    assert "\N{BALLOT X} dh_prev is missing the direct path" in capsys.readouterr().out
    assert checks.gru_step_backward(reference.gru_step_backward) is reference.gru_step_backward


def test_matching_gru_hidden_binds_the_reference_and_keeps_a_right_answer(learner, capsys):
    bound = checks.matching_gru_hidden(matching_gru_hidden_stub)
    out = capsys.readouterr().out
    assert stub_notice(out, "matching_gru_hidden")
    assert all(bound(I, H) == matching(I, H) for I, H in [(32, 64), (65, 256), (1, 10)])  # noqa: E741
    assert checks.matching_gru_hidden(lambda I, H: math.floor(H * math.sqrt(4 / 3))) is bound  # noqa: E741
    assert "\N{BALLOT X} matching_gru_hidden(65, 256) returned 295" in capsys.readouterr().out
    assert checks.matching_gru_hidden(matching) is matching


def test_from_swapped_convention_binds_the_reference_and_keeps_a_right_answer(learner, capsys):
    bound = checks.from_swapped_convention(from_swapped_convention_stub)
    out = capsys.readouterr().out
    assert stub_notice(out, "from_swapped_convention")
    state = torch.nn.GRU(3, 4, 2).state_dict()
    for name, tensor in bound(state).items():
        torch.testing.assert_close(tensor, convert(state)[name])
    assert checks.from_swapped_convention(lambda state: state) is bound
    assert "\N{BALLOT X} nothing changed" in capsys.readouterr().out
    assert checks.from_swapped_convention(convert) is convert


def test_update_bias_experiment_binds_the_courses_measurement_and_keeps_a_right_one(
        learner, capsys):
    default, changed = _experiment()
    torch.manual_seed(0)
    probe = torch.nn.GRU(3, 16)
    x = torch.randn(40, 4, 3, generator=torch.Generator().manual_seed(0))
    kwargs = {"default": default, "probe": probe, "x": x}
    prediction, measured = checks.update_bias_experiment(None, None, **kwargs)
    out = capsys.readouterr().out
    assert stub_notice(out, "prediction", "changed")
    assert prediction == "larger"
    for ours, theirs in zip(measured, changed, strict=True):   # the course's measurement
        torch.testing.assert_close(ours, theirs)
    assert checks.update_bias_experiment("larger", changed, **kwargs) == ("larger", changed)
    prediction, measured = checks.update_bias_experiment("larger", default, **kwargs)
    assert "\N{BALLOT X} the changed curves equal the default ones" in capsys.readouterr().out
    assert prediction == "larger" and torch.equal(measured[0], changed[0])
