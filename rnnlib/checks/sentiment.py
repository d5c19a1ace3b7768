"""Self-checks of notebook 07, sentiment (``07-sentiment.ipynb``): the majority baseline, a
logit from a packed batch, accuracy from logits (and the decision what early stopping watches),
and the shuffled-word-order experiment.

Each check binds what later cells use (``rnnlib.checks._common.binds``): a right answer is
returned unchanged; an untouched stub or a wrong answer is reported and the course's own answer
(the private ``_functions`` below) is returned instead, so the notebook runs on.
"""

from __future__ import annotations

import torch

from rnnlib.checks._common import (
    CheckFailed,
    binds,
    expect,
    expect_answered,
    expect_close,
    expect_shape,
    is_close,
    passed,
)

# ---- the course's answers, bound when the learner's answer is missing or wrong

def _majority_accuracy(train_labels, eval_labels):
    """The accuracy on ``eval_labels`` of always answering the training majority class."""
    import numpy as np

    majority = np.bincount(np.asarray(train_labels)).argmax()
    return float((np.asarray(eval_labels) == majority).mean())


def _sentence_logit(embedding, lstm, head, padded, lengths):
    """(B,) logits: the head on the last layer's h_n of the packed, embedded batch."""
    from rnnlib import data

    _, (h_n, _) = lstm(data.pack(embedding(padded), lengths))
    return head(h_n[-1]).squeeze(-1)


def _logit_accuracy(logits, labels):
    """The fraction of sentences whose prediction (logit > 0) equals the 0/1 label."""
    return ((logits > 0) == (labels == 1)).float().mean().item()


def _shuffle_words(padded, lengths, generator):
    """A copy of ``padded`` with each row's first ``lengths[b]`` ids in a random order."""
    shuffled = padded.clone()
    for b, n in enumerate(lengths.tolist()):
        shuffled[b, :n] = padded[b, torch.randperm(n, generator=generator)]
    return shuffled


def _as_prediction(predicted_drop):
    """The learner's prediction if it is a usable number of points, else None."""
    try:
        value = float(predicted_drop)
    except (TypeError, ValueError):
        return None
    return value if -100 <= value <= 100 else None


@binds("majority_accuracy", reference=lambda fn: _majority_accuracy)
def majority_accuracy(fn) -> None:
    """Exercise 07.1: ``fn(train_labels, eval_labels)`` -> the accuracy on ``eval_labels`` of
    always answering the most common class of the *training* labels."""
    import numpy as np

    expect_answered(fn, "majority_accuracy")
    train = np.array([1] * 6 + [0] * 4)        # training: 60% positive -> always answer 1
    scored = np.array([1] * 9 + [0] * 11)      # evaluation: 45% positive
    right = 0.45
    try:
        got = fn(train, scored)
    except Exception as error:
        raise CheckFailed(f"majority_accuracy(train_labels, eval_labels) raised "
                          f"{type(error).__name__}: {error}. It gets two NumPy arrays of 0/1 "
                          "labels") from error
    expect_answered(got, "majority_accuracy(train_labels, eval_labels)")
    try:
        got = float(got)
    except (TypeError, ValueError):
        raise CheckFailed(f"majority_accuracy should return one number (the accuracy), got "
                          f"{type(got).__name__}") from None
    if got == 1.0 and right != 1.0:
        raise CheckFailed("it returned 1: is that the majority class itself? Return the "
                          "accuracy of always predicting it on the evaluation labels, a "
                          "fraction")
    if abs(got - 0.55) < 1e-9:
        raise CheckFailed("it returned 0.55: the majority class was taken from the EVALUATION "
                          "labels (there 0 is the most common). A baseline may only learn from "
                          "the training split: pick the class from train_labels, score it on "
                          "eval_labels")
    if abs(got - 0.6) < 1e-9:
        raise CheckFailed("it returned 0.6: that is the share of the majority class in the "
                          "training labels. Score the prediction on the evaluation labels "
                          "instead")
    if abs(got - 9) < 1e-9:
        raise CheckFailed("it returned 9, a count: divide by the number of evaluation "
                          "sentences to get a fraction")
    expect(abs(got - right) < 1e-9,
           f"for training labels 60% positive and evaluation labels 45% positive the majority "
           f"class is 1 and its accuracy is {right}, got {got:.4g}")
    passed("always answering the training majority class: the score any model must beat")


@binds("sentence_logit", reference=lambda fn: _sentence_logit)
def packed_logit(fn) -> None:
    """Exercise 07.2: ``fn(embedding, lstm, head, padded, lengths)`` -> (B,) logits from the
    h_n of a packed batch."""
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence

    expect_answered(fn, "sentence_logit")
    torch.manual_seed(0)
    embedding = nn.Embedding(20, 6, padding_idx=0)
    lstm = nn.LSTM(6, 5, batch_first=True)
    head = nn.Linear(5, 1)
    lengths = torch.tensor([4, 2, 5])                       # not sorted, on purpose
    padded = torch.randint(2, 20, (3, 5))
    padded[torch.arange(5)[None, :] >= lengths[:, None]] = 0
    x = embedding(padded)
    with torch.no_grad():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, c_n) = lstm(packed)
        right = head(h_n[-1]).squeeze(-1)
        _, (h_pad, _) = lstm(x)
        padded_answer = head(h_pad[-1]).squeeze(-1)
        from_c = head(c_n[-1]).squeeze(-1)
    try:
        with torch.no_grad():
            got = fn(embedding, lstm, head, padded, lengths)
    except Exception as error:
        hint = (" The lengths [4, 2, 5] are not sorted: pack with data.pack(x, lengths), which "
                "passes enforce_sorted=False." if "sorted" in str(error) else
                " Embed the ids, pack with data.pack(x, lengths), run the LSTM, and give "
                "h_n[-1] to the head.")
        raise CheckFailed(f"sentence_logit raised {type(error).__name__}: {error}.{hint}") \
            from error
    expect_answered(got, "sentence_logit(embedding, lstm, head, padded, lengths)")
    expect(isinstance(got, torch.Tensor), f"sentence_logit should return a tensor, got "
                                          f"{type(got).__name__}")
    if tuple(got.shape) == (3, 1):
        raise CheckFailed("the logits have shape (3, 1): squeeze the last axis, .squeeze(-1), "
                          "so that they match the labels' shape (B,) as BCEWithLogitsLoss "
                          "needs")
    expect_shape(got, (3,), "sentence_logit(...) for a batch of 3 sentences")
    got = got.detach().float()
    if is_close(got, torch.sigmoid(right), atol=1e-5, rtol=1e-4):
        raise CheckFailed("these are probabilities (after a sigmoid): return the logit, the "
                          "head's output itself. BCEWithLogitsLoss applies the sigmoid inside")
    if is_close(got, padded_answer, atol=1e-5, rtol=1e-4):
        raise CheckFailed("the LSTM ran over the padding: only the longest sentence (length 5) "
                          "comes out right. Pack the embedded batch with data.pack(x, lengths) "
                          "before the LSTM")
    if is_close(got, from_c, atol=1e-5, rtol=1e-4):
        raise CheckFailed("that is the head applied to the cell state c_n: use the hidden "
                          "state, nn.LSTM returns output, (h_n, c_n)")
    if is_close(got[2], right[2], atol=1e-5, rtol=1e-4) \
            and not is_close(got, right, atol=1e-5, rtol=1e-4):
        raise CheckFailed("only the longest sentence (length 5) is right: the shorter ones were "
                          "read past their last word (at step T - 1 of the padded output?). "
                          "Use h_n of the packed batch: it holds each sentence's state at its "
                          "own last word")
    expect_close(got, right, "sentence_logit(...)")
    passed("one logit per sentence, from the state after its last real word")


@binds("logit_accuracy", "stop_on", reference=lambda fn, stop_on=None: (_logit_accuracy, "loss"))
def logit_accuracy(fn, stop_on=None) -> None:
    """Exercise 07.3: ``fn(logits, labels)`` -> the fraction of sentences where
    ``logit > 0`` agrees with the 0/1 label; then ``stop_on``, a decision: which validation
    figure early stopping should watch, ``"loss"`` or ``"accuracy"``. Either is accepted; the
    message says what each one weighs."""
    expect_answered(fn, "logit_accuracy")
    logits = torch.tensor([2.0, -1.0, 0.3, -0.2, 1.5, -3.0, 0.2, -0.4, 0.4, -2.5])
    labels = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    right = 0.7
    results = []
    for y in (labels, labels.long()):
        try:
            got = fn(logits.clone(), y.clone())
        except Exception as error:
            raise CheckFailed(f"logit_accuracy raised {type(error).__name__} on labels of dtype "
                              f"{y.dtype}: {error}. Compare (logits > 0) with (labels == 1) "
                              "and take the mean of a float tensor") from error
        expect_answered(got, "logit_accuracy(logits, labels)")
        try:
            results.append(float(got))
        except (TypeError, ValueError, RuntimeError):
            raise CheckFailed(f"logit_accuracy should return one number, got "
                              f"{type(got).__name__}"
                              + (f" of shape {tuple(got.shape)}" if hasattr(got, "shape")
                                 else "") + ": take the .mean()") from None
    got = results[0]
    if abs(got - 0.6) < 1e-6:
        raise CheckFailed("it returned 0.6: was the threshold 0.5? That is the threshold for "
                          "probabilities. A logit z > 0 exactly when sigmoid(z) > 0.5, so for "
                          "logits the threshold is 0")
    if abs(got - 0.4) < 1e-6:
        raise CheckFailed("it returned 0.4, the share of positive labels: every sentence was "
                          "predicted positive. Did you apply a sigmoid and then compare with 0? "
                          "Compare the logits with 0, or the probabilities with 0.5")
    if abs(got - 7) < 1e-6:
        raise CheckFailed("it returned 7, a count: divide by the number of sentences (or take "
                          "the mean of a float tensor)")
    if abs(got - 0.3) < 1e-6:
        raise CheckFailed("it returned 0.3: that is the error rate, the fraction that is "
                          "WRONG. Accuracy is the fraction of predictions equal to the label")
    expect(abs(got - right) < 1e-6, f"for these 10 logits and labels the accuracy is {right}, "
                                    f"got {got:.4g}")
    expect(abs(results[1] - right) < 1e-6,
           f"with float labels it gives {right}, but with integer labels {results[1]:.4g}: "
           "compare with (labels == 1) or convert labels to float first")
    if stop_on is None or stop_on is Ellipsis:
        raise CheckFailed("logit_accuracy is right. Now decide: set stop_on = \"loss\" or "
                          "\"accuracy\", the validation figure early stopping should watch")
    expect(stop_on in ("loss", "accuracy"),
           f'stop_on should be "loss" or "accuracy", got {stop_on!r}')
    why = ("the loss moves with the confidence of every sentence, so it shows over-fitting "
           "before a single prediction flips" if stop_on == "loss" else
           "accuracy is what you report, but it moves only when a prediction flips, one "
           "sentence at a time, so two epochs often differ by a few lucky sentences")
    passed(f"accuracy from logits: positive exactly when the logit is above 0. Stopping on the "
           f"validation {stop_on}: {why}")


@binds("shuffle_words", "predicted_drop",
       reference=lambda fn, predicted_drop: (_shuffle_words, _as_prediction(predicted_drop)))
def shuffled_words(fn, predicted_drop) -> None:
    """Exercise 07.4: a recorded prediction, and ``fn(padded, lengths, generator)`` -> a copy of
    the ``(B, T)`` padded ids with the first ``lengths[b]`` ids of each row ``b`` in a random
    order drawn from ``generator``, the padding left where it was."""
    if predicted_drop is None or predicted_drop is Ellipsis:
        raise CheckFailed("predicted_drop is still None: before you measure anything, write "
                          "down how many percentage points of validation accuracy you expect "
                          "the LSTM to lose when every sentence's words are shuffled (a "
                          "number, e.g. 0.5 or 10)")
    try:
        prediction = float(predicted_drop)
    except (TypeError, ValueError):
        raise CheckFailed(f"predicted_drop should be one number of percentage points, got "
                          f"{type(predicted_drop).__name__}") from None
    expect(-100 <= prediction <= 100, f"predicted_drop is in percentage points (accuracy in "
                                      f"order minus accuracy shuffled), so between -100 and "
                                      f"100, got {prediction:g}")
    expect_answered(fn, "shuffle_words")
    lengths = torch.tensor([6, 3, 5])
    padded = torch.tensor([[2, 3, 4, 5, 6, 7],
                           [10, 11, 12, 0, 0, 0],
                           [20, 21, 22, 23, 24, 0]])
    original = padded.clone()
    outs = []
    for seed in (0, 0, 1, 2, 3):
        try:
            got = fn(padded, lengths, torch.Generator().manual_seed(seed))
        except Exception as error:
            raise CheckFailed(f"shuffle_words raised {type(error).__name__}: {error}. It gets "
                              "padded ids (B, T), lengths (B,) and a torch.Generator") from error
        expect_answered(got, "shuffle_words(padded, lengths, generator)")
        expect(torch.equal(padded, original),
               "shuffle_words changed its input padded in place: the same batch is used again "
               "for the in-order accuracy, so shuffle a copy")
        expect_shape(got, tuple(padded.shape), "shuffle_words(padded, lengths, generator)")
        expect(got.dtype == padded.dtype, f"shuffle_words should return ids of dtype "
                                          f"{padded.dtype} (the embedding looks them up), got "
                                          f"{got.dtype}")
        for b, n in enumerate(lengths.tolist()):
            expect(torch.equal(got[b, n:], padded[b, n:]),
                   f"the padding of row {b} (length {n}) moved: got {got[b].tolist()} from "
                   f"{padded[b].tolist()}. Shuffle only the first lengths[b] positions of each "
                   "row; packing expects the padding at the end")
            expect(sorted(got[b, :n].tolist()) == sorted(padded[b, :n].tolist()),
                   f"row {b} no longer holds the same words: got {got[b, :n].tolist()} from "
                   f"{padded[b, :n].tolist()}. Change the order of a sentence's own ids, do not "
                   "draw new ones or mix sentences")
        outs.append(got)
    expect(any(not torch.equal(o, padded) for o in outs),
           "with five different generators the words always came back in their original "
           "order: nothing was shuffled")
    expect(torch.equal(outs[0], outs[1]),
           "two generators seeded alike gave different orders: draw the random order from the "
           "generator you are given (not the global random state), so that the experiment can "
           "be repeated exactly")
    passed(f"shuffle_words keeps each sentence's words and its padding, in a new order. Your "
           f"prediction: the LSTM loses {prediction:g} points; the next cell measures it")
