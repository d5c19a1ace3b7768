"""Self-checks for the exercises: each says what is right, or exactly what is wrong.

A check prints one line starting with a tick when the answer is right. When it is wrong it
raises ``CheckFailed`` (an ``AssertionError``) whose message says what was expected, what came,
and where to look: never just "wrong". Notebooks call them as ``rnnlib.checks.<name>(answer)``.

One module per notebook, named after it, built from the helpers in ``_common``:

- ``_common``       ``CheckFailed``, ``passed``, ``expect``, ``expect_answered``,
  ``expect_shape``, ``expect_close``, ``is_close``, ``layer_params``
- ``welcome``       (00) ``time_major_batch``, ``distinct_characters``
- ``sequences``     (01) ``length_mask``, ``last_real_step``, ``training_vocab``
- ``rnn``           (02) ``rnn_step_backward``, ``rnn_parameter_count``, ``sample_next``
- ``gradients``     (03) ``step_jacobian``, ``radius_and_norm``, ``clip_global_norm``
- ``lstm``          (04) ``lstm_gate_blocks``, ``lstm_cell_step``, ``lstm_forget_bias``
- ``gru``           (05) ``cho_gru_step``, ``gru_param_count``, ``matching_gru_hidden``,
  ``from_swapped_convention``
- ``lstm_vs_gru``   (06) ``matched_hidden_size``, ``mean_and_sem``, ``steps_to_target``
- ``sentiment``     (07) ``majority_accuracy``, ``packed_logit``, ``logit_accuracy``
- ``char_lm``       (08) ``charlm_unigram_entropy``, ``charlm_units``, ``charlm_detach_state``
- ``beyond``        (09) ``make_windows``, ``persistence_rmse``, ``channel_stats``
- ``efficiency``    (10) ``lstm_step_flops``, ``log_g_stable``, ``mingru_step``
"""

from rnnlib.checks._common import (
    CheckFailed,
    expect,
    expect_answered,
    expect_close,
    expect_shape,
    passed,
)
from rnnlib.checks.beyond import channel_stats, make_windows, persistence_rmse
from rnnlib.checks.char_lm import charlm_detach_state, charlm_unigram_entropy, charlm_units
from rnnlib.checks.efficiency import log_g_stable, lstm_step_flops, mingru_step
from rnnlib.checks.gradients import clip_global_norm, radius_and_norm, step_jacobian
from rnnlib.checks.gru import (
    cho_gru_step,
    from_swapped_convention,
    gru_param_count,
    matching_gru_hidden,
)
from rnnlib.checks.lstm import lstm_cell_step, lstm_forget_bias, lstm_gate_blocks
from rnnlib.checks.lstm_vs_gru import matched_hidden_size, mean_and_sem, steps_to_target
from rnnlib.checks.rnn import rnn_parameter_count, rnn_step_backward, sample_next
from rnnlib.checks.sentiment import logit_accuracy, majority_accuracy, packed_logit
from rnnlib.checks.sequences import last_real_step, length_mask, training_vocab
from rnnlib.checks.welcome import distinct_characters, time_major_batch

CheckFailed.__module__ = __name__  # tracebacks say rnnlib.checks.CheckFailed, as it is imported

__all__ = [
    "CheckFailed", "passed", "expect", "expect_answered", "expect_shape", "expect_close",
    # 00 welcome
    "time_major_batch", "distinct_characters",
    # 01 sequences
    "length_mask", "last_real_step", "training_vocab",
    # 02 rnn
    "rnn_step_backward", "rnn_parameter_count", "sample_next",
    # 03 gradients
    "step_jacobian", "radius_and_norm", "clip_global_norm",
    # 04 lstm
    "lstm_gate_blocks", "lstm_cell_step", "lstm_forget_bias",
    # 05 gru
    "cho_gru_step", "gru_param_count", "matching_gru_hidden", "from_swapped_convention",
    # 06 lstm-vs-gru
    "matched_hidden_size", "mean_and_sem", "steps_to_target",
    # 07 sentiment
    "majority_accuracy", "packed_logit", "logit_accuracy",
    # 08 char-lm
    "charlm_unigram_entropy", "charlm_units", "charlm_detach_state",
    # 09 beyond
    "make_windows", "persistence_rmse", "channel_stats",
    # 10 efficiency
    "lstm_step_flops", "log_g_stable", "mingru_step",
]
