"""Shared test set-up: the offline guard, and where things are."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = ROOT / "tests" / "offline"

# Guard this process and, through PYTHONPATH, every kernel and subprocess the tests start.
sys.path.insert(0, str(OFFLINE))
import offline_guard  # noqa: E402,F401  (installs the guard when imported)

os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(OFFLINE), os.environ.get("PYTHONPATH", "")) if p)
os.environ.setdefault("RNNLIB_THREADS", "1")
os.environ.setdefault("RNNLIB_STRICT_CHECKS", "1")  # a failing self-check raises (graders)
os.environ.setdefault("MPLBACKEND", "Agg")
