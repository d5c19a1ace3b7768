"""The self-checks of notebook 03: each passes on a right answer and says what is wrong on a
stub and on the mistakes learners typically make."""

from __future__ import annotations

import pytest
import torch

from rnnlib import checks
from rnnlib.checks import CheckFailed
from rnnlib.checks.gradients import w_hh_scale_experiment

# --------------------------------------------------------------------------- exercise 1


def right_step_jacobian(u_t, W_hh, alpha):
    return (1 - alpha) * torch.eye(W_hh.shape[0], dtype=W_hh.dtype) \
        + alpha * torch.diag(1 - u_t**2) @ W_hh


def test_step_jacobian_passes_on_the_right_answer(capsys):
    checks.step_jacobian(right_step_jacobian)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def test_step_jacobian_passes_with_broadcasting_instead_of_diag():
    checks.step_jacobian(lambda u, W, a: (1 - a) * torch.eye(len(u), dtype=W.dtype)
                         + a * (1 - u**2)[:, None] * W)


@pytest.mark.parametrize("stub", [None, ..., lambda u_t, W_hh, alpha: None])
def test_step_jacobian_says_the_stub_is_unanswered(stub):
    with pytest.raises(CheckFailed, match="still"):
        checks.step_jacobian(stub)


def eye(W):
    return torch.eye(W.shape[0], dtype=W.dtype)


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda u, W, a: torch.diag(1 - u**2) @ W, "plain RNN's Jacobian"),
    (lambda u, W, a: a * torch.diag(1 - u**2) @ W, "the leak is missing"),
    (lambda u, W, a: (1 - a) * eye(W) + torch.diag(1 - u**2) @ W, "missing its factor alpha"),
    (lambda u, W, a: a * eye(W) + (1 - a) * torch.diag(1 - u**2) @ W, "swapped"),
    (lambda u, W, a: (1 - a) + a * torch.diag(1 - u**2) @ W, "diagonal only"),
    (lambda u, W, a: (1 - a) * eye(W) + a * W @ torch.diag(1 - u**2), "wrong side"),
    (lambda u, W, a: right_step_jacobian(u, W, a).T, "transpose"),
    (lambda u, W, a: (1 - a) * eye(W) + a * W, "slope of tanh is missing"),
    (lambda u, W, a: (1 - a) * eye(W) + a * torch.diag(1 - torch.tanh(u) ** 2) @ W,
     "tanh was applied twice"),
    (lambda u, W, a: (1 - a) * eye(W) + a * torch.diag(1 - u) @ W, "not 1 - u_t"),
    (lambda u, W, a: (1 - a) + a * (1 - u**2), "vector"),
    (lambda u, W, a: right_step_jacobian(u, W, a) + 0.1, "wrong values"),
])
def test_step_jacobian_names_the_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.step_jacobian(wrong)


def test_step_jacobian_of_the_plain_rnn_copied_from_the_page_fails():
    """The tanh RNN's Jacobian shown above the exercise does not answer it."""
    with pytest.raises(CheckFailed, match="alpha = 1"):
        checks.step_jacobian(lambda u, W, a: torch.diag(1 - u**2) @ W)


def test_step_jacobian_fails_when_right_only_for_the_first_alpha():
    def fixed_alpha(u, W, a):
        return right_step_jacobian(u, W, 0.3)
    with pytest.raises(CheckFailed, match="alpha = 0.8"):
        checks.step_jacobian(fixed_alpha)


# --------------------------------------------------------------------------- exercise 2


def radius_of(W):
    return float(torch.linalg.eigvals(W).abs().max())


def right_radius_and_norm(W):
    return float(torch.linalg.eigvals(W).abs().max()), float(torch.linalg.svdvals(W)[0])


def test_radius_and_norm_passes_on_the_right_answer(capsys):
    checks.radius_and_norm(right_radius_and_norm, "vanish")
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out and "vanishes" in out


def test_radius_and_norm_accepts_zero_d_tensors_and_any_case():
    checks.radius_and_norm(lambda W: (torch.linalg.eigvals(W).abs().max(),
                                      torch.linalg.matrix_norm(W, ord=2)), " Vanish")


@pytest.mark.parametrize("stub", [None, ..., lambda W: None])
def test_radius_and_norm_says_the_stub_is_unanswered(stub):
    with pytest.raises(CheckFailed, match="still"):
        checks.radius_and_norm(stub, "vanish")


def test_radius_and_norm_says_the_decision_is_unanswered():
    with pytest.raises(CheckFailed, match="long_run is still None"):
        checks.radius_and_norm(right_radius_and_norm, None)


def test_radius_and_norm_explains_why_it_does_not_explode():
    with pytest.raises(CheckFailed, match=r"not so: .*CAN stretch.*radius is 0.922 < 1"):
        checks.radius_and_norm(right_radius_and_norm, "explode")


def test_radius_and_norm_names_the_allowed_decisions():
    with pytest.raises(CheckFailed, match='"vanish" or "explode"'):
        checks.radius_and_norm(right_radius_and_norm, "shrinks")


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda W: right_radius_and_norm(W)[::-1], "swapped"),
    (lambda W: (float(torch.linalg.eigvals(W).real.max()), float(torch.linalg.svdvals(W)[0])),
     "real part"),
    (lambda W: (float(torch.linalg.svdvals(W)[0]),) * 2, "equals the largest singular value"),
    (lambda W: (float(torch.linalg.eigvalsh(W).abs().max()), float(torch.linalg.svdvals(W)[0])),
     "expected 0.922"),
    (lambda W: (radius_of(W), float(torch.linalg.matrix_norm(W))), "Frobenius"),
    (lambda W: (radius_of(W), float(W.abs().max())), "largest entry"),
    (lambda W: (radius_of(W), float(torch.linalg.svdvals(W)[-1])), "smallest singular value"),
    (lambda W: 0.922, "two numbers"),
])
def test_radius_and_norm_names_the_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.radius_and_norm(wrong, "vanish")


def test_the_notebooks_w_demo_is_the_checked_matrix():
    """The notebook shows W_demo; the check judges long_run on its own copy: the same matrix."""
    import nbformat
    from conftest import ROOT

    from rnnlib.checks.gradients import _matrix

    nb = nbformat.read(ROOT / "notebooks" / "03-gradients.ipynb", as_version=4)
    source = next(c.source for c in nb.cells
                  if c.cell_type == "code" and c.source.startswith("W_demo = "))
    scope = {"torch": torch}
    exec(source.replace("print(W_demo)", ""), scope)  # noqa: S102 - the notebook's own cell
    torch.testing.assert_close(scope["W_demo"], _matrix())


# --------------------------------------------------------------------------- exercise 3


T = 100
REAL = {0.9: 2.9e-9, 1.1: 1.3e-3}   # what the untrained RNN of the notebook measures


def test_experiment_passes_and_says_whether_the_prediction_held(capsys):
    w_hh_scale_experiment({0.9: "shrinks", 1.1: "grows"}, REAL, T)
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out
    assert "rho = 0.9: ratio 2.90e-09" in out and "as you predicted" in out
    assert "rho = 1.1: ratio 1.30e-03" in out and "NOT as you predicted" in out
    assert "necessary for growth, not sufficient" in out


def test_experiment_explains_growth_when_it_grows(capsys):
    w_hh_scale_experiment({0.9: "shrinks", 1.1: "grows"}, {0.9: 1e-6, 1.1: 2.0}, T)
    out = capsys.readouterr().out
    assert "it grows, as you predicted" in out and "wins over saturation" in out


def test_experiment_accepts_tensors_and_int_like_keys():
    w_hh_scale_experiment({0.9: " Shrinks", 1.1: "shrinks"},
                          {0.9: torch.tensor(2.9e-9), 1.1: torch.tensor(1.3e-3)}, T)


@pytest.mark.parametrize(("prediction", "measured", "message"), [
    ({0.9: None, 1.1: None}, {0.9: None, 1.1: None}, r"prediction\[0.9\] is still None"),
    ({0.9: "shrinks", 1.1: "grows"}, {0.9: None, 1.1: None}, r"measured\[0.9\] is still None"),
    (None, REAL, "prediction is still None"),
    ({0.9: "shrinks"}, REAL, "no entry for rho = 1.1"),
    ([0.9, 1.1], REAL, "should be a dict"),
    ({0.9: "down", 1.1: "up"}, REAL, '"shrinks" or "grows"'),
    ({0.9: "shrinks", 1.1: "grows"}, {0.9: "small", 1.1: 1e-3}, "one number"),
    ({0.9: "shrinks", 1.1: "grows"}, {0.9: -1.0, 1.1: 1e-3}, "finite number"),
    ({0.9: "shrinks", 1.1: "grows"}, {0.9: 1 / 2.9e-9, 1.1: 1 / 1.3e-3}, "upside down"),
    ({0.9: "shrinks", 1.1: "grows"}, {0.9: 0.5, 1.1: 0.8}, "impossible for W_hh = 0.9 Q"),
    ({0.9: "shrinks", 1.1: "grows"}, {0.9: 2e-20, 1.1: 2e-20}, "equal"),
    ({0.9: "shrinks", 1.1: "grows"}, {0.9: 1e-6, 1.1: 1e-8}, "swapped"),
])
def test_experiment_says_what_is_wrong(prediction, measured, message):
    with pytest.raises(CheckFailed, match=message):
        w_hh_scale_experiment(prediction, measured, T)


def test_experiment_names_a_bad_length():
    with pytest.raises(CheckFailed, match="T should be the sequence length"):
        w_hh_scale_experiment({0.9: "shrinks", 1.1: "grows"}, REAL, None)


def test_experiment_bound_depends_on_the_length():
    """0.5 is possible over 5 steps at rho = 0.9 (bound 0.656) but not over 100."""
    w_hh_scale_experiment({0.9: "shrinks", 1.1: "grows"}, {0.9: 0.5, 1.1: 0.9}, 5)
    with pytest.raises(CheckFailed, match="impossible"):
        w_hh_scale_experiment({0.9: "shrinks", 1.1: "grows"}, {0.9: 0.5, 1.1: 0.9}, 100)


def test_experiment_bound_holds_for_a_real_measurement():
    """The theorem the check relies on: on an untrained tanh RNN with W_hh = rho Q, the ratio
    of the batch-mean gradient norms never exceeds rho^(T-1) (here well below it)."""
    torch.manual_seed(0)
    H, steps = 8, 30
    x = torch.rand(16, steps, 2)
    rnn, head = torch.nn.RNN(2, H, batch_first=True), torch.nn.Linear(H, 1)
    q, _ = torch.linalg.qr(torch.randn(H, H))
    ratios = {}
    for rho in (0.9, 1.1):
        with torch.no_grad():
            rnn.weight_hh_l0.copy_(rho * q)
        h, states = torch.zeros(16, H), []
        for t in range(steps):
            h = torch.tanh(x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0
                           + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)
            states.append(h)
        grads = torch.autograd.grad(head(h).sum(), states)
        norms = torch.stack([g.norm(dim=1).mean() for g in grads])
        ratios[rho] = float(norms[0] / norms[-1])
        assert ratios[rho] <= rho ** (steps - 1)
    w_hh_scale_experiment({0.9: "shrinks", 1.1: "shrinks"}, ratios, steps)


# --------------------------------------------------------------------------- exercise 4


def right_clip(grads, max_norm):
    total = torch.sqrt(sum((g**2).sum() for g in grads))
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    return [g * scale for g in grads]


def test_clip_global_norm_passes_on_the_right_answer(capsys):
    checks.clip_global_norm(right_clip, 0.05 * 1.0 / (1 - 0.9))
    out = capsys.readouterr().out
    assert "\N{CHECK MARK}" in out and "= 0.5" in out


def test_clip_global_norm_passes_without_the_epsilon_and_in_place():
    def in_place(grads, max_norm):
        total = torch.sqrt(sum((g**2).sum() for g in grads))
        for g in grads:
            g.mul_(min(1.0, float(max_norm / total)))
        return grads
    checks.clip_global_norm(in_place, 0.5)


@pytest.mark.parametrize("stub", [None, ...])
def test_clip_global_norm_says_the_stub_is_unanswered(stub):
    with pytest.raises(CheckFailed, match="still"):
        checks.clip_global_norm(stub, None)


def test_clip_global_norm_says_to_return_the_list():
    with pytest.raises(CheckFailed, match="returned None"):
        checks.clip_global_norm(lambda grads, max_norm: None, 0.5)


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda gs, c: [g * min(1.0, c / float(g.norm())) for g in gs], "its own norm"),
    (lambda gs, c: [g * (c / float(torch.sqrt(sum((t**2).sum() for t in gs)))) for g in gs],
     "scaled up"),
    (lambda gs, c: [g.clamp(-c, c) for g in gs], "by value"),
    (lambda gs, c: [g * 0.5 for g in gs], "total norm"),
    (lambda gs, c: gs[:2], "list of 3 tensors"),
])
def test_clip_global_norm_names_the_typical_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.clip_global_norm(wrong, 0.5)


def test_clip_global_norm_says_the_bound_is_unanswered():
    with pytest.raises(CheckFailed, match="max_update is still None"):
        checks.clip_global_norm(right_clip, None)


@pytest.mark.parametrize(("max_update", "message"), [
    (0.05, "without momentum"),
    (10.0, "the update is lr \\* v_t"),
    (0.45, "starts at 1"),
    (0.095, "the sum continues"),
    (0.05 / 0.9, "not 1 / mu"),
    (0.005, r"not \(1 - mu\)"),
    (0.7, "triangle inequality"),
    ("half", "one number"),
])
def test_clip_global_norm_names_the_typical_mistakes_in_the_bound(max_update, message):
    with pytest.raises(CheckFailed, match=message):
        checks.clip_global_norm(right_clip, max_update)


# --------------------------------------------------------------------------- check and go on
# Without RNNLIB_STRICT_CHECKS a check never raises: a stub gets one "not written yet" line, a
# wrong answer its message, and both bind the course's reference; a right answer stays.


@pytest.fixture
def learner(monkeypatch):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)


def stub_notice(out, *names):
    """One line saying that the exercise's names are not written yet."""
    return "not written yet" in out and out.count("\n") == 1 and \
        all(f"`{name}`" in out for name in names)


def step_jacobian_stub(u_t, W_hh, alpha):
    ...  # your code here


def radius_and_norm_stub(W):
    ...  # your code here


def clip_global_norm_stub(grads, max_norm):
    ...  # your code here


def test_step_jacobian_binds_the_reference_and_keeps_a_right_answer(learner, capsys):
    from rnnlib.checks.gradients import _leaky_problem

    reference = checks.step_jacobian(step_jacobian_stub)
    out = capsys.readouterr().out
    assert stub_notice(out, "step_jacobian")
    u_t, W_hh, alpha = _leaky_problem()
    torch.testing.assert_close(reference(u_t, W_hh, alpha), right_step_jacobian(u_t, W_hh, alpha))
    wrong = lambda u, W, a: torch.diag(1 - u**2) @ W  # noqa: E731
    assert checks.step_jacobian(wrong) is reference
    out = capsys.readouterr().out
    assert "\N{BALLOT X} that is the plain RNN's Jacobian" in out and "reference" in out
    assert checks.step_jacobian(right_step_jacobian) is right_step_jacobian


def test_radius_and_norm_binds_the_reference_and_keeps_a_right_answer(learner, capsys):
    from rnnlib.checks.gradients import _matrix

    fn, long_run = checks.radius_and_norm(radius_and_norm_stub, None)
    out = capsys.readouterr().out
    assert stub_notice(out, "radius_and_norm", "long_run")
    assert long_run == "vanish"
    assert fn(_matrix()) == pytest.approx((0.9219544, 3.0811388))
    assert checks.radius_and_norm(fn, "explode") == (fn, "vanish")
    assert "\N{BALLOT X} not so" in capsys.readouterr().out
    assert checks.radius_and_norm(fn, "vanish") == (fn, "vanish")


def test_experiment_binds_the_courses_measurement_and_keeps_a_right_one(learner, capsys):
    prediction, measured = w_hh_scale_experiment(None, None, T=12, hidden=8, seed=0)
    out = capsys.readouterr().out
    assert stub_notice(out, "prediction", "measured")
    assert set(measured) == {0.9, 1.1} and 0 < measured[0.9] < measured[1.1]
    assert prediction == {rho: "grows" if r > 1 else "shrinks" for rho, r in measured.items()}
    # the course's measurement passes the check, and is returned as it is
    assert w_hh_scale_experiment(prediction, measured, 12) == (prediction, measured)
    # a guess is kept, a wrong measurement replaced
    guess = {0.9: "grows", 1.1: "grows"}
    got = w_hh_scale_experiment(guess, {0.9: 0.5, 1.1: 0.8}, 12, hidden=8, seed=0)
    assert got == (guess, measured)
    assert "\N{BALLOT X} measured[0.9] = 0.5 is impossible" in capsys.readouterr().out


def test_experiment_reference_measures_like_the_notebook():
    """The course's ratio, with its own Q, stays under the bound rho^(T-1) and grows with rho."""
    from rnnlib.checks.gradients import _scaled_ratio

    low, high = (_scaled_ratio(rho, 20, 8, 0) for rho in (0.9, 1.1))
    assert 0 < low < high and low <= 0.9 ** 19 and high <= 1.1 ** 19


def test_clip_global_norm_binds_the_reference_and_keeps_a_right_answer(learner, capsys):
    fn, max_update = checks.clip_global_norm(clip_global_norm_stub, None)
    out = capsys.readouterr().out
    assert stub_notice(out, "clip_global_norm", "max_update")
    assert max_update == pytest.approx(0.5)
    grads = [torch.full((3,), 4.0), torch.full((4,), 3.0)]
    assert float(torch.sqrt(sum((g**2).sum() for g in fn(grads, 1.0)))) == pytest.approx(1.0)
    assert checks.clip_global_norm(right_clip, 0.05) == (fn, max_update)
    assert "\N{BALLOT X} max_update = 0.05" in capsys.readouterr().out
    assert checks.clip_global_norm(right_clip, 0.5) == (right_clip, 0.5)
