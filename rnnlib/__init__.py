"""rnnlib: the support package of the RNN course.

The notebooks build each piece in the open first, then keep it here so that later notebooks
can reuse it. One module per idea (the notebook that introduces it in brackets):

- ``rnnlib.course``    (00) starts a notebook: same random numbers every run, the device, a results table
- ``rnnlib.data``      (01) the course's datasets, text turned into numbers, batches of sequences of different lengths
- ``rnnlib.reference`` (02) the recurrent cells in NumPy, with their gradients worked out by hand and checked
- ``rnnlib.scratch``   (02, 04, 05) the RNN, LSTM and GRU written out from their equations, interchangeable with PyTorch's
- ``rnnlib.train``     (02) the one training loop every notebook uses; it can stop and carry on later
- ``rnnlib.plots``     the course's figures
- ``rnnlib.stats``     (07) telling a real difference between two models from luck
- ``rnnlib.parallel``  (10) recurrent networks that can be trained in parallel over time
- ``rnnlib.checks``    the self-checks of the exercises: each says what is wrong, not just that something is

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
