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
