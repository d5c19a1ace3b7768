"""Self-checks for the exercises: each says what is right, or exactly what is wrong.

A check prints one line starting with a tick when the answer is right. When it is wrong its
message says what was expected, what came, and where to look: never just "wrong". Notebooks
call them as ``answer = rnnlib.checks.<name>(answer)``: the check binds the learner's answer
when it passes, and otherwise says so in a line and binds the course's reference, so that the
rest of the notebook runs (``_common.binds``). With ``RNNLIB_STRICT_CHECKS=1`` (graders, the
tests) a failing check raises ``CheckFailed`` (an ``AssertionError``) instead.

One module per notebook, named after it, built from the helpers in ``_common``
(``CheckFailed``, ``passed``, ``expect``, ``expect_answered``, ``expect_shape``,
``expect_close``, ``is_close``, ``layer_params``). Every public function of a notebook's module
is a check and is importable from here; ``help(rnnlib.checks.lstm)`` lists those of notebook 04.

==============  ==  ==============  ==  ==============  ==
module          nb  module          nb  module          nb
==============  ==  ==============  ==  ==============  ==
``welcome``     00  ``gradients``   03  ``sentiment``   07
``sequences``   01  ``lstm``        04  ``char_lm``     08
``rnn``         02  ``gru``         05  ``beyond``      09
``lstm_vs_gru`` 06                      ``efficiency``  10
                                        ``seq2seq``     11
==============  ==  ==============  ==  ==============  ==
"""

import inspect

from rnnlib.checks import (
    beyond,
    char_lm,
    efficiency,
    gradients,
    gru,
    lstm,
    lstm_vs_gru,
    rnn,
    sentiment,
    seq2seq,
    sequences,
    welcome,
)
from rnnlib.checks._common import (
    CheckFailed,
    expect,
    expect_answered,
    expect_close,
    expect_shape,
    passed,
)

NOTEBOOK_MODULES = (welcome, sequences, rnn, gradients, lstm, gru, lstm_vs_gru, sentiment,
                    char_lm, beyond, efficiency, seq2seq)


def checks_of(module) -> dict:
    """The checks a notebook's module defines: its public functions, by name."""
    return {name: obj for name, obj in vars(module).items()
            if inspect.isfunction(obj) and obj.__module__ == module.__name__
            and not name.startswith("_")}


def _export() -> list[str]:
    names: dict[str, str] = {}
    for module in NOTEBOOK_MODULES:
        for name, check in checks_of(module).items():
            if name in names:  # a notebook's call must mean one thing
                raise ImportError(f"rnnlib.checks: {name!r} is defined in both "
                                  f"{names[name]} and {module.__name__}; rename one")
            names[name] = module.__name__
            globals()[name] = check
    return list(names)


CheckFailed.__module__ = __name__  # tracebacks say rnnlib.checks.CheckFailed, as it is imported

__all__ = ["CheckFailed", "passed", "expect", "expect_answered", "expect_shape", "expect_close",
           "checks_of", *_export()]
