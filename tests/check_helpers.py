"""Helpers for the tests of the exercise self-checks (tests/test_checks_*.py)."""

import pytest

from rnnlib.checks import CheckFailed


def passes(capsys, check, answer):
    """``check(answer)`` prints a tick."""
    check(answer)
    assert "\N{CHECK MARK}" in capsys.readouterr().out


def fails(check, answer, *fragments):
    """``check(answer)`` raises CheckFailed whose message holds every fragment."""
    with pytest.raises(CheckFailed) as failure:
        check(answer)
    for fragment in fragments:
        assert fragment in str(failure.value), str(failure.value)


def stub(*args):
    """An exercise left as it came: a function whose body is ``...``."""
    ...
