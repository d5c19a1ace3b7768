"""rnnlib.checks as a package: one module per notebook, every check importable from the top."""

from __future__ import annotations

import types

import pytest

import rnnlib.checks as checks


def test_every_public_function_of_a_notebook_module_is_importable_from_rnnlib_checks():
    for module in checks.NOTEBOOK_MODULES:
        for name, check in checks.checks_of(module).items():
            assert getattr(checks, name) is check and name in checks.__all__


def test_helpers_imported_into_a_notebook_module_are_not_counted_as_its_checks():
    assert "expect" not in checks.checks_of(checks.welcome)
    assert "batch_first_batch" in checks.checks_of(checks.welcome)


def test_two_notebook_modules_defining_the_same_check_name_is_refused(monkeypatch):
    clash = types.ModuleType("rnnlib.checks.clash")
    exec("def batch_first_batch(x):\n    pass\n", clash.__dict__)
    monkeypatch.setattr(checks, "NOTEBOOK_MODULES", (*checks.NOTEBOOK_MODULES, clash))
    with pytest.raises(ImportError, match="'batch_first_batch' is defined in both "
                                          "rnnlib.checks.welcome and rnnlib.checks.clash"):
        checks._export()


# -- Check and go on: `binds` ---------------------------------------------------------------

def test_every_check_of_every_notebook_binds_what_later_cells_use():
    unbound = [f"{module.__name__}.{name}" for module in checks.NOTEBOOK_MODULES
               for name, check in checks.checks_of(module).items() if not hasattr(check, "binds")]
    assert not unbound, f"checks without @binds (Run All would stop at them): {unbound}"


def _toy_check():
    from rnnlib.checks._common import binds, expect, passed

    def reference(double, factor):
        return lambda x: factor * x

    @binds("double", reference=reference)
    def double_check(double, factor=2):
        expect(double(3) == factor * 3, f"double(3) should be {factor * 3}, got {double(3)!r}")
        passed("double doubles")

    return double_check


def stub_double(x):
    ...  # your code here


def test_a_right_answer_is_bound_as_it_is(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)
    mine = lambda x: x + x  # noqa: E731
    assert _toy_check()(mine) is mine
    assert capsys.readouterr().out.startswith("\N{CHECK MARK} double doubles")


def test_an_untouched_stub_says_so_in_one_line_and_binds_the_reference(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)
    bound = _toy_check()(stub_double)
    assert bound(5) == 10
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "`double` not written yet" in out and "reference" in out


def test_a_wrong_answer_shows_what_is_wrong_then_binds_the_reference(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)
    bound = _toy_check()(lambda x: x + 1)
    assert bound(5) == 10
    out = capsys.readouterr().out
    assert "\N{BALLOT X} double(3) should be 6, got 4" in out and "reference for `double`" in out


def test_an_answer_that_raises_inside_the_check_is_reported_not_raised(monkeypatch, capsys):
    monkeypatch.delenv("RNNLIB_STRICT_CHECKS", raising=False)
    bound = _toy_check()(lambda x: x.nope)
    assert bound(5) == 10
    assert "raised AttributeError" in capsys.readouterr().out


def test_strict_mode_raises_check_failed_with_the_message(monkeypatch):
    monkeypatch.setenv("RNNLIB_STRICT_CHECKS", "1")
    with pytest.raises(checks.CheckFailed, match="double\\(3\\) should be 6"):
        _toy_check()(lambda x: x + 1)
    with pytest.raises(checks.CheckFailed, match="raised AttributeError") as failure:
        _toy_check()(lambda x: x.nope)
    assert isinstance(failure.value.__cause__, AttributeError)


def test_is_stub_tells_an_untouched_exercise_from_an_answer():
    from rnnlib.checks._common import is_stub

    def unpacks_then_stops(cache):
        x, h = cache
        ...

    def answers(cache):
        return cache

    def forgot_to_return(model):
        model.bias = 1.0

    assert is_stub(None) and is_stub(Ellipsis) and is_stub(stub_double)
    assert is_stub(unpacks_then_stops) and not is_stub(answers) and not is_stub(0)
    assert not is_stub(forgot_to_return)  # an attempt: the check says what is wrong with it
    assert is_stub({"a": None, "b": ...}) and not is_stub({"a": None, "b": 0.3})
    assert is_stub((None, ...)) and not is_stub(())
