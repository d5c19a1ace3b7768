"""Notebook set-up and reporting: the first and the last call of every notebook.

``setup`` does everything a notebook needs before its first tensor: it seeds every random
number generator, picks the device and says which, sets the number of torch threads on
purpose (respecting a container's CPU quota), and turns smoke mode on when asked. ``report``
shows a notebook's headline figures and, when ``$RNNLIB_RESULTS`` names a file, appends them
there as one JSON line.

Environment variables (all optional):

- ``RNNLIB_SMOKE=1``: smoke mode, as the ``SMOKE = True`` notebook parameter (the tests set it).
- ``RNNLIB_THREADS=N``: use exactly N torch threads.
- ``RNNLIB_DEVICE=cpu|cuda|mps``: override the device parameter.
- ``RNNLIB_RESULTS=path``: where ``report`` appends its JSON line.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class Session:
    """What ``setup`` decided: read it in the notebook (``course.smoke``, ``course.device``)."""

    notebook: str
    seed: int
    device: torch.device
    threads: int
    smoke: bool

    @property
    def quiet(self) -> bool:
        """Progress bars and live plots stay quiet in smoke mode (tests, CI)."""
        return self.smoke


_current: Session | None = None


REPOSITORY = Path(__file__).resolve().parents[1]


def repo_file(relative: str) -> Path:
    """A file of the course's repository (``results/...``, ``requirements.txt``), found from the
    package rather than the working folder, so that a notebook finds it wherever it runs (the
    English and Chinese editions, the student copies)."""
    if not isinstance(relative, str | os.PathLike):
        raise TypeError(f"repo_file: relative should be a path inside the repository, such as "
                        f"'results/seq2seq-grid.json', got {type(relative).__name__}")
    if Path(relative).is_absolute():
        raise ValueError(f"repo_file: relative should be relative to the repository's root, "
                         f"got the absolute path {str(relative)!r}")
    return REPOSITORY / relative


def current() -> Session | None:
    """The session of the running notebook, or None outside one (scripts, tests)."""
    return _current


def env_flag(name: str) -> bool:
    """True when the environment variable is set to 1/true/yes/on (case-insensitive)."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} should be 1 or 0 (or true/false), got {value!r}")


def smoke_mode(smoke: bool = False) -> bool:
    """Smoke mode is on when the parameter says so or ``RNNLIB_SMOKE=1``."""
    return bool(smoke) or env_flag("RNNLIB_SMOKE")


def cpu_quota(cgroup_root: str | Path = "/sys/fs/cgroup") -> float | None:
    """CPUs this process may use under a cgroup quota, or None when there is no quota.

    Containers (Binder, JupyterHub, CI) often show all of the host's cores to
    ``os.cpu_count()`` while the scheduler lets them use only a few: cgroup v2 says so in
    ``cpu.max`` ("quota period", e.g. "100000 100000" is one CPU), cgroup v1 in
    ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``.
    """
    root = Path(cgroup_root)
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


def usable_cpus() -> int:
    """CPUs this process can really use: affinity mask, then the cgroup quota (rounded up)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    quota = cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def choose_threads(requested: int | None = None) -> int:
    """How many torch threads to use.

    ``RNNLIB_THREADS`` wins, then ``requested``; otherwise half the usable CPUs (the Jupyter
    server, the browser and the OS need the rest), at most 4: the matrices of a small RNN are
    too small to split further, and on a busy machine more threads than free cores make each
    step many times slower, not faster.
    """
    from_env = os.environ.get("RNNLIB_THREADS", "").strip()
    if from_env:
        if not from_env.isdigit() or int(from_env) < 1:
            raise ValueError(f"RNNLIB_THREADS should be a whole number >= 1, got {from_env!r}")
        return int(from_env)
    if requested is not None:
        if requested < 1:
            raise ValueError(f"threads should be >= 1, got {requested}")
        return requested
    return max(1, min(4, usable_cpus() // 2))


def choose_device(preference: str = "auto") -> torch.device:
    """The device to train on: CUDA, then Apple's MPS, then the CPU (for ``"auto"``).

    Asking for a device that is not there is an error, not a silent fall-back: a learner who
    asked for the GPU should know they are not on one.
    """
    preference = os.environ.get("RNNLIB_DEVICE", preference).strip().lower()
    if preference not in DEVICES:
        raise ValueError(f"device should be one of {DEVICES}, got {preference!r}")
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if has_mps else torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for, but torch sees no CUDA GPU here; "
                           "use device='auto' or 'cpu'")
    if preference == "mps" and not has_mps:
        raise RuntimeError("device='mps' was asked for, but this machine has no Apple GPU; "
                           "use device='auto' or 'cpu'")
    return torch.device(preference)


def cpu_name() -> str:
    """The processor's model name ("AMD EPYC", "Apple M2"...), or its architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():  # Linux
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device: torch.device) -> str:
    """One line a learner can read: which device, and what it is."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({cpu_name()})"


def load_average() -> float | None:
    """The machine's 1-minute load average (None where the OS does not report one)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None


def require_quiet_machine(max_load: float | None = None, when: str = "before") -> str:
    """For benchmarks: stop (SystemExit) when other work loads the machine, since timings
    taken then measure the other work. The limit defaults to half the CPUs; returns a line
    naming the load, to print beside the figures."""
    limit = max_load if max_load is not None else (os.cpu_count() or 2) / 2
    load = load_average()
    if load is not None and load > limit:
        raise SystemExit(f"load average {load:.2f} {when} timing is above {limit:.2f}: other "
                         f"work is running, so timings now would be wrong; not recorded. Wait "
                         f"until the machine is idle (or pass --max-load).")
    return f"load average {when}: {load:.2f}" if load is not None else "load average: unknown"


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices) from one number."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def setup(notebook: str, seed: int = 0, device: str = "auto", smoke: bool = False,
          threads: int | None = None, verbose: bool = True) -> Session:
    """Prepare a notebook: seed, device, threads, smoke mode. Call it once, at the top.

    Returns a ``Session`` whose fields the notebook reads (``course.device``, ``course.smoke``)
    and that ``rnnlib.train`` and ``rnnlib.report`` use as their defaults.
    """
    global _current
    smoke = smoke_mode(smoke)
    n_threads = choose_threads(threads)
    torch.set_num_threads(n_threads)
    try:
        torch.set_num_interop_threads(1)  # no inter-op parallelism needed for our models
    except RuntimeError:
        pass  # can only be set once per process; a re-run cell lands here
    seed_everything(seed)
    chosen = choose_device(device)
    if smoke:
        # Console tqdm reads this; Jupyter's tqdm ignores it, so notebook code passes
        # disable=course.quiet (rnnlib.train.fit does so itself).
        os.environ["TQDM_DISABLE"] = "1"
    _current = Session(notebook=notebook, seed=seed, device=chosen, threads=n_threads,
                       smoke=smoke)
    if verbose:
        # Only a smoke run says so: a learner's run is the ordinary case.
        tiny = " | SMOKE: tiny sizes" if smoke else ""
        print(f"rnnlib {_version()} | torch {torch.__version__} | device: "
              f"{describe_device(chosen)} | torch threads: {n_threads} of "
              f"{usable_cpus()} usable CPUs | seed {seed}{tiny}")
    return _current


def _version() -> str:
    from rnnlib import __version__

    return __version__


def report(figures: Mapping[str, float], notebook: str | None = None) -> dict:
    """Show a notebook's headline figures as a table, and log them as one JSON line.

    ``figures`` maps names (``"sentiment_test_accuracy"``) to numbers. When the environment
    variable ``RNNLIB_RESULTS`` names a file, one JSON object is appended to it with the
    figures as top-level keys plus ``notebook``, ``smoke``, ``device`` and ``time``.
    Returns that object.
    """
    if not isinstance(figures, Mapping) or not figures:
        raise TypeError("report expects a non-empty mapping of name -> number, "
                        f"got {type(figures).__name__}")
    clean: dict[str, float] = {}
    for name, value in figures.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"figure names should be identifiers like 'sunspots_rmse', "
                             f"got {name!r}")
        if isinstance(value, torch.Tensor):
            value = value.item()
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"figure {name!r} should be a number, got {value!r}") from None
        clean[name] = value
    session = current()
    record = {
        **clean,
        "notebook": notebook or (session.notebook if session else "unknown"),
        "smoke": session.smoke if session else smoke_mode(),
        "device": describe_device(session.device) if session else "unknown",
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    width = max(len(name) for name in clean)
    print(f"{'figure':<{width}}  value")
    for name, value in clean.items():
        print(f"{name:<{width}}  {value:.4g}")
    path = os.environ.get("RNNLIB_RESULTS", "").strip()
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
    return record
