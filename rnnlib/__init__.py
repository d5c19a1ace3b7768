"""rnnlib: the support package of the RNN course.

Each module is one idea, introduced in the open by a notebook first:

- ``rnnlib.course``  (00) set-up of a notebook (seed, device, threads, smoke mode) and ``report``
- ``rnnlib.data``    (01) the shipped datasets, vocabularies, padding/packing, synthetic tasks
- ``rnnlib.checks``  self-checks for the exercises, with messages that say what is wrong
- ``rnnlib.plots``   the course's figures
- ``rnnlib.reference`` (02) NumPy forward/backward through time and a gradient checker
- ``rnnlib.scratch`` (02, 04, 05) RNN, LSTM and GRU from the equations, drop-in for torch.nn
- ``rnnlib.train``   the course's training loop (CPU, CUDA, MPS; checkpoints; DDP)
- ``rnnlib.parallel`` (10) minGRU and minLSTM, step by step and as a parallel scan
- ``rnnlib.stats``   (07) McNemar's exact test and a summary over seeds, for judging results

Ask any of them for help: ``help(rnnlib.data)``, ``rnnlib.data.load_sentiment?``.
"""

import importlib

from rnnlib.course import report, setup

__version__ = "0.1.0"
__all__ = ["setup", "report", "__version__"]
_MODULES = ("course", "data", "checks", "plots", "reference", "scratch", "train", "parallel", "stats")


def __getattr__(name: str):
    """Import a module on first use, so ``rnnlib.data.load_shakespeare()`` just works."""
    if name in _MODULES:
        return importlib.import_module(f"rnnlib.{name}")
    raise AttributeError(f"module 'rnnlib' has no attribute {name!r}")
