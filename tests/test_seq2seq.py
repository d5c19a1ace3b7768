"""rnnlib.seq2seq: attention from its equations against PyTorch and finite differences, the
encoder-decoder's shapes, masking and decoding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rnnlib import seq2seq


def _mask(lengths, S):
    return torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]


def test_scaled_dot_product_equals_torch_outputs_and_gradients_with_padding():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, n, 8, generator=g, requires_grad=True) for n in (5, 6, 6))
    mask = _mask([6, 3, 1], 6)
    ours, alpha = seq2seq.scaled_dot_product(q, k, v, mask)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, :])
    torch.testing.assert_close(ours, theirs)
    w = torch.randn(ours.shape, generator=g)
    for a, b in zip(torch.autograd.grad((ours * w).sum(), (q, k, v)),
                    torch.autograd.grad((theirs * w).sum(), (q, k, v)), strict=True):
        torch.testing.assert_close(a, b)
    assert alpha.masked_select(~mask[:, None, :]).abs().max() == 0
    torch.testing.assert_close(alpha.sum(-1), torch.ones(3, 5))


def test_scaled_dot_product_equals_one_head_of_multihead_attention():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 1, batch_first=True)
    x_q = torch.randn(2, 4, 8, requires_grad=True)
    x_k = torch.randn(2, 5, 8, requires_grad=True)
    mask = _mask([5, 2], 5)
    W_q, W_k, W_v = mha.in_proj_weight.chunk(3)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3)
    ctx, alpha = seq2seq.scaled_dot_product(x_q @ W_q.T + b_q, x_k @ W_k.T + b_k,
                                            x_k @ W_v.T + b_v, mask)
    ours = mha.out_proj(ctx)
    theirs, their_alpha = mha(x_q, x_k, x_k, key_padding_mask=~mask)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(alpha, their_alpha)
    params = (x_q, x_k, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight)
    for a, b in zip(torch.autograd.grad(ours.square().sum(), params),
                    torch.autograd.grad(theirs.square().sum(), params), strict=True):
        torch.testing.assert_close(a, b)


def test_additive_attention_passes_finite_differences_in_float64():
    g = torch.Generator().manual_seed(2)
    shapes = [(2, 3, 4), (2, 5, 6), (7, 4), (7, 6), (7,)]
    inputs = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True)
              for s in shapes]
    mask = _mask([5, 3], 5)
    assert torch.autograd.gradcheck(
        lambda *a: seq2seq.additive_attention(a[0], a[1], mask, *a[2:])[0], inputs,
        eps=1e-6, atol=1e-8)


def test_additive_attention_matches_its_equation_for_one_pair():
    torch.manual_seed(0)
    att = seq2seq.AdditiveAttention(3, 4, 5)
    s, h = torch.randn(1, 1, 3), torch.randn(1, 2, 4)
    ctx, alpha = att(s, h)
    e = torch.stack([att.v @ torch.tanh(att.W_q @ s[0, 0] + att.W_k @ h[0, i]) for i in range(2)])
    torch.testing.assert_close(alpha[0, 0], torch.softmax(e, 0))
    torch.testing.assert_close(ctx[0, 0], alpha[0, 0] @ h[0])


def test_padding_gets_no_weight_and_no_gradient():
    torch.manual_seed(0)
    for att in (seq2seq.AdditiveAttention(4, 6, 5), seq2seq.DotProductAttention(4, 6, 5)):
        keys = torch.randn(2, 5, 6, requires_grad=True)
        mask = _mask([5, 2], 5)
        ctx, alpha = att(torch.randn(2, 3, 4), keys, mask)
        assert alpha[1, :, 2:].abs().max() == 0
        (grad,) = torch.autograd.grad(ctx.sum(), keys)
        assert grad[1, 2:].abs().max() == 0


def test_seq2seq_shapes_and_padding_does_not_change_the_output():
    torch.manual_seed(0)
    for attention in (None, "additive", "dot"):
        model = seq2seq.Seq2Seq(12, 9, embed=8, hidden=10, attention=attention).eval()
        source = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]])
        previous = torch.tensor([[1, 3, 4], [1, 5, 6]])
        logits = model(source, previous)
        assert logits.shape == (2, 3, 9)
        alone = model(source[:1, :3], previous[:1])
        torch.testing.assert_close(logits[:1], alone)


def test_greedy_decode_matches_step_by_step_teacher_forcing_on_its_own_output():
    torch.manual_seed(0)
    model = seq2seq.Seq2Seq(12, 9, embed=8, hidden=10, attention="additive").eval()
    source = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]])
    tokens, alpha = seq2seq.greedy_decode(model, source, bos=1, eos=2, max_length=6)
    assert tokens.shape == (2, 6) and alpha.shape[0] == 2 and alpha.shape[2] == 4
    previous = torch.cat([torch.ones(2, 1, dtype=torch.long), tokens[:, :-1]], 1)
    again = model(source, previous).argmax(-1)
    for b in range(2):  # up to and including the first <eos>
        end = (tokens[b] == 2).nonzero()
        n = int(end[0]) + 1 if len(end) else 6
        assert torch.equal(tokens[b, :n], again[b, :n])


def test_codec_round_trip_batches_and_scores():
    codec = seq2seq.Codec(["2024-03-05", "1999-12-31"])
    ids = codec.encode(["2024-03-05", "12"], bos=True, eos=True)
    assert ids[1].tolist()[:4] == [1, codec.stoi["1"], codec.stoi["2"], 2]
    assert codec.decode(ids[:, 1:]) == ["2024-03-05", "12"]
    pairs = [("abc", "cba"), ("ab", "ba"), ("abcd", "dcba")]
    src, tgt = seq2seq.Codec(["abcd"]), seq2seq.Codec(["abcd"])
    (x, prev), nxt = next(iter(seq2seq.make_batches(pairs, src, tgt, 3)))
    assert prev[:, 0].eq(1).all() and torch.equal(prev[:, 1:], nxt[:, :-1])
    assert seq2seq.exact_match(["ab", "c"], ["ab", "d"]) == 0.5
    assert seq2seq.accuracy_by_length(["ab", "c", "x"], ["ab", "d", "x"], [2, 1, 1]) == \
        {1: 0.5, 2: 1.0}


def _tiny_model(attention, seed=0, vocab=5):
    torch.manual_seed(seed)
    model = seq2seq.Seq2Seq(6, vocab, embed=4, hidden=6, attention=attention)
    for p in model.parameters():  # flat step distributions: greedy often misses the best
        nn.init.normal_(p, std=0.5)
    source = torch.tensor([[3, 4, 5, 3], [4, 3, 0, 0], [5, 5, 4, 0]])
    return model, source


def _sequence_log_prob(model, source_row, tokens, bos, eos):
    """log P(tokens | source) by teacher forcing, stopping after the first eos."""
    keys, mask, state = model.encode(source_row[None])
    previous = torch.tensor([[bos] + tokens[:-1]])
    log_p = F.log_softmax(model.decode(previous, keys, mask, state)[0][0], dim=-1)
    end = tokens.index(eos) + 1 if eos in tokens else len(tokens)
    return float(sum(log_p[t, tokens[t]] for t in range(end)))


def test_beam_of_one_is_greedy_decoding():
    for attention in (None, "additive"):
        model, source = _tiny_model(attention)
        greedy, _ = seq2seq.greedy_decode(model, source, bos=1, eos=2, max_length=6)
        beam, _ = seq2seq.beam_decode(model, source, bos=1, eos=2, max_length=6, beam=1)
        assert torch.equal(greedy, beam)


def test_a_beam_as_wide_as_all_sequences_finds_the_most_likely_one():
    import itertools

    vocab, length, bos, eos = 4, 3, 1, 2
    found_better_than_greedy = False
    for seed in range(4):
        model, source = _tiny_model("additive", seed, vocab)
        model.eval()
        tokens, scores = seq2seq.beam_decode(model, source, bos, eos, length, beam=vocab ** length)
        greedy, _ = seq2seq.greedy_decode(model, source, bos, eos, length)
        with torch.no_grad():
            for b in range(source.shape[0]):
                best = max((list(c) for c in itertools.product(range(vocab), repeat=length)),
                           key=lambda c: _sequence_log_prob(model, source[b], c, bos, eos))
                best_score = _sequence_log_prob(model, source[b], best, bos, eos)
                assert abs(float(scores[b]) - best_score) < 1e-4
                assert abs(_sequence_log_prob(model, source[b], tokens[b].tolist(), bos, eos)
                           - best_score) < 1e-4
                greedy_score = _sequence_log_prob(model, source[b], greedy[b].tolist(), bos, eos)
                found_better_than_greedy |= best_score > greedy_score + 1e-3
    assert found_better_than_greedy  # the test can tell a beam from greedy decoding


def test_beam_decode_rejects_a_beam_that_is_not_a_positive_whole_number():
    import pytest

    model, source = _tiny_model(None)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="beam should be a whole number"):
            seq2seq.beam_decode(model, source, 1, 2, 4, beam=bad)


def test_recorded_grid_has_the_notebooks_settings_and_trains_longer():
    """results/seq2seq-grid.json is notebook 11's experiment with more steps: every other
    setting must be the notebook's (its parameters cell, learner mode)."""
    import json
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[1]
    parameters = {}
    exec(nbformat.read(root / "notebooks" / "11-seq2seq.ipynb", as_version=4).cells[1].source,
         {}, parameters)
    recorded = json.loads((root / "results" / "seq2seq-grid.json").read_text())["settings"]
    same = {"hidden": "HIDDEN", "embed": "EMBED", "batch": "BATCH", "lr": "LR",
            "n_dates": "N_DATES", "date_steps": "DATE_STEPS", "n_reverse": "N_REVERSE",
            "max_length": "MAX_LENGTH"}
    assert {k: recorded[k] for k in same} == {k: parameters[v] for k, v in same.items()}
    assert recorded["reverse_steps"] >= parameters["REVERSE_STEPS"]
