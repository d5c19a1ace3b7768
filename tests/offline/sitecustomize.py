"""Runs at interpreter start-up in test subprocesses (tests put this folder on PYTHONPATH)."""

import offline_guard  # noqa: F401  (blocks non-loopback connections)
