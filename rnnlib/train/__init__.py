"""The course's training loop: ``fit`` trains a model on batches, on any device.

Every training notebook calls it, and notebook 08 (the char LM) reads it with you. The loop
is ``loop.py``: notebook 02's five lines (forward, loss, zero the gradients, backward,
update) with a named step around them for each need of a real run. Each need has a module:

- ``arguments``: every argument checked before any work starts, and the first batch run
  through the model and the loss once, so that a wrong shape or a silent broadcast is an
  error that names it, not a wrong result.
- ``device``: CUDA, then Apple's MPS, then the CPU, said in one line with the CPU threads
  (chosen on purpose: a small RNN runs many times slower with more threads than free cores).
- ``precision``: mixed precision decided from what really runs here: each recurrent layer is
  probed under the autocast asked for; what cannot run falls back to float32 and says why.
- ``history``: the ``History`` of a run, as plain data; the step log that keeps each step's
  loss on the device until it is read back every ``log_every`` steps (one wait for the GPU,
  not one per step) and stops at a NaN/inf with advice; early stopping.
- ``seeding``: the data order from ``(seed, epoch)``, dropout from ``(seed, epoch, rank)``.
- ``checkpoint``: written atomically (temp file, then rename), loaded with
  ``weights_only=True``, resumed only into the model, optimizer and scheduler it fits.
- ``distributed``: under torchrun, DistributedDataParallel (gloo on CPU, NCCL on GPU).
- ``evaluation``: ``evaluate`` and ``accuracy``. ``progress``: lines, bar, live plot.
"""

from rnnlib.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnnlib.train.distributed import end_torchrun_worker
from rnnlib.train.evaluation import accuracy, evaluate
from rnnlib.train.history import History, TrainingDiverged
from rnnlib.train.loop import fit
from rnnlib.train.precision import LayerRun, Precision, probe
from rnnlib.train.steps import detach

__all__ = ["fit", "evaluate", "accuracy", "History", "TrainingDiverged", "CheckpointError",
           "save_checkpoint", "load_checkpoint", "end_torchrun_worker", "probe", "LayerRun",
           "Precision", "detach"]
