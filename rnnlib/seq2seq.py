"""Sequence to sequence: a GRU encoder-decoder, with or without attention (notebook 11).

Shapes: B sequences in a batch, S source steps, T target steps, H the decoder's hidden size,
K = 2H the size of a bidirectional encoder's outputs (the keys and values), A the attention
size. A ``mask`` (B, S) is True at real source tokens and False at padding.

- ``additive_attention`` / ``AdditiveAttention`` (Bahdanau et al. 2015):
  ``e_ti = v^T tanh(W_q s_t + W_k h_i)``.
- ``scaled_dot_product`` / ``DotProductAttention`` (Luong et al. 2015, scaled as in
  Vaswani et al. 2017): ``e_ti = q_t . k_i / sqrt(d)``.
- both then ``alpha_t = softmax(e_t)`` over the unmasked ``i``, ``c_t = sum_i alpha_ti h_i``.
- ``Seq2Seq``: the encoder-decoder; ``greedy_decode``, ``exact_match``, ``accuracy_by_length``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis of ``scores`` (B, T, S), padding (``mask`` False) given 0."""
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1)


def additive_attention(query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None,
                       W_q: torch.Tensor, W_k: torch.Tensor,
                       v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bahdanau's attention from its equations.

    query (B, T, Q), keys (B, S, K), W_q (A, Q), W_k (A, K), v (A,):
    ``e_ti = v^T tanh(W_q q_t + W_k h_i)``, ``alpha = softmax(e)``, ``c_t = sum_i alpha_ti h_i``.
    Returns the contexts (B, T, K) and the weights alpha (B, T, S).
    """
    projected = (query @ W_q.T)[:, :, None, :] + (keys @ W_k.T)[:, None, :, :]  # (B, T, S, A)
    scores = torch.tanh(projected) @ v                                          # (B, T, S)
    alpha = masked_softmax(scores, mask)
    return alpha @ keys, alpha


def scaled_dot_product(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                       mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Dot-product attention from its equations, scaled by 1/sqrt(d).

    query (B, T, d), keys (B, S, d), values (B, S, V):
    ``e_ti = q_t . k_i / sqrt(d)``, ``alpha = softmax(e)``, ``c_t = sum_i alpha_ti v_i``.
    Returns the contexts (B, T, V) and the weights alpha (B, T, S).
    """
    scores = query @ keys.transpose(1, 2) / math.sqrt(query.shape[-1])  # (B, T, S)
    alpha = masked_softmax(scores, mask)
    return alpha @ values, alpha


class AdditiveAttention(nn.Module):
    """``additive_attention`` with its weights: W_q (A, Q), W_k (A, K), v (A,)."""

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.W_q = nn.Parameter(torch.randn(attention_size, query_size) / math.sqrt(query_size))
        self.W_k = nn.Parameter(torch.randn(attention_size, key_size) / math.sqrt(key_size))
        self.v = nn.Parameter(torch.randn(attention_size) / math.sqrt(attention_size))

    def forward(self, query: torch.Tensor, keys: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, Q), keys (B, S, K), mask (B, S) -> contexts (B, T, K), weights (B, T, S)."""
        return additive_attention(query, keys, mask, self.W_q, self.W_k, self.v)


class DotProductAttention(nn.Module):
    """Scaled dot-product attention of a projected query and projected keys; the values are
    the keys as they came: ``e_ti = (W_q q_t) . (W_k h_i) / sqrt(A)``, ``c_t = sum alpha_ti h_i``.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int):
        super().__init__()
        self.W_q = nn.Linear(query_size, attention_size, bias=False)
        self.W_k = nn.Linear(key_size, attention_size, bias=False)

    def forward(self, query: torch.Tensor, keys: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, Q), keys (B, S, K), mask (B, S) -> contexts (B, T, K), weights (B, T, S)."""
        return scaled_dot_product(self.W_q(query), self.W_k(keys), keys, mask)


class Seq2Seq(nn.Module):
    """A GRU encoder-decoder; ``attention`` None (plain), ``"additive"`` or ``"dot"``.

    The encoder, a bidirectional GRU, reads the source (B, S) into outputs h (B, S, 2H); its two
    final states, concatenated, pass through ``bridge`` (tanh of a linear map) to the decoder's
    first state s_0 (1, B, H): without attention, the only thing the decoder knows of the source.
    The decoder, a GRU, reads the previous target token; with attention its state s_t queries h,
    and the output layer sees [s_t; c_t] (Luong et al. 2015's arrangement, so that training with
    teacher forcing runs the decoder over the whole target in one call).
    """

    def __init__(self, source_vocab: int, target_vocab: int, embed: int = 32, hidden: int = 64,
                 attention: str | None = None):
        super().__init__()
        if attention not in (None, "additive", "dot"):
            raise ValueError(f"Seq2Seq: attention should be None, 'additive' or 'dot', got "
                             f"{attention!r}")
        self.attention_kind = attention
        self.source_embed = nn.Embedding(source_vocab, embed, padding_idx=0)
        self.encoder = nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.target_embed = nn.Embedding(target_vocab, embed, padding_idx=0)
        self.decoder = nn.GRU(embed, hidden, batch_first=True)
        self.attention = {None: lambda: None,
                          "additive": lambda: AdditiveAttention(hidden, 2 * hidden, hidden),
                          "dot": lambda: DotProductAttention(hidden, 2 * hidden, hidden)
                          }[attention]()
        self.out = nn.Linear(hidden + (2 * hidden if attention else 0), target_vocab)

    def encode(self, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """source (B, S) ids, 0 = padding -> keys (B, S, 2H), mask (B, S), s_0 (1, B, H)."""
        if source.ndim != 2:
            raise ValueError(f"Seq2Seq: expected source ids of shape (B, S), got "
                             f"{tuple(source.shape)}")
        mask = source != 0
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.source_embed(source), lengths, batch_first=True,
                                      enforce_sorted=False)
        outputs, h_n = self.encoder(packed)  # h_n (2, B, H): forward and backward final states
        keys, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
        s_0 = torch.tanh(self.bridge(torch.cat([h_n[0], h_n[1]], dim=-1)))[None]
        return keys, mask, s_0

    def decode(self, previous: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
               state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """previous tokens (B, T), state (1, B, H) -> logits (B, T, V), state, weights (B, T, S)."""
        s, state = self.decoder(self.target_embed(previous), state)  # s (B, T, H)
        if self.attention is None:
            return self.out(s), state, None
        context, weights = self.attention(s, keys, mask)
        return self.out(torch.cat([s, context], dim=-1)), state, weights

    def forward(self, source: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: source (B, S), the target shifted right (B, T) -> logits (B, T, V)."""
        keys, mask, state = self.encode(source)
        return self.decode(previous, keys, mask, state)[0]


@torch.no_grad()
def greedy_decode(model: Seq2Seq, source: torch.Tensor, bos: int, eos: int,
                  max_length: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The most likely next token, step by step, for a whole batch at once.

    source (B, S) -> tokens (B, max_length) (after the first ``eos`` of a row: ``eos``), and the
    attention weights (B, max_length, S) (None without attention).
    """
    was_training = model.training
    model.eval()
    keys, mask, state = model.encode(source)
    token = torch.full((source.shape[0], 1), bos, dtype=torch.long, device=source.device)
    done = torch.zeros(source.shape[0], dtype=torch.bool, device=source.device)
    tokens, weights = [], []
    for _ in range(max_length):
        logits, state, alpha = model.decode(token, keys, mask, state)
        token = logits.argmax(-1)                   # (B, 1)
        token = token.masked_fill(done[:, None], eos)
        done |= token[:, 0] == eos
        tokens.append(token)
        weights.append(alpha)
        if bool(done.all()):
            break
    model.train(was_training)
    tokens = torch.cat(tokens, dim=1)
    if tokens.shape[1] < max_length:
        tokens = F.pad(tokens, (0, max_length - tokens.shape[1]), value=eos)
    alphas = None if weights[0] is None else torch.cat(weights, dim=1)
    return tokens, alphas


@torch.no_grad()
def beam_decode(model: Seq2Seq, source: torch.Tensor, bos: int, eos: int, max_length: int,
                beam: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Beam search: the ``beam`` most likely prefixes of each row, kept step by step.

    A prefix's score is the sum of its tokens' log-probabilities (no length normalisation); a
    finished prefix (it produced ``eos``) keeps its score and extends only with ``eos``. After
    ``max_length`` steps, or once every prefix has finished, each row returns its best.
    ``beam=1`` is greedy decoding. source (B, S) -> tokens (B, max_length) (``eos`` after the
    first ``eos``), and each row's score (B,).
    """
    if not isinstance(beam, int) or isinstance(beam, bool) or beam < 1:
        raise ValueError(f"beam_decode: beam should be a whole number of prefixes >= 1, "
                         f"got {beam!r}")
    was_training = model.training
    model.eval()
    keys, mask, state = model.encode(source)
    rows, device = source.shape[0], source.device
    # Row b's prefixes are rows b*beam ... b*beam + beam - 1 of every tensor below.
    keys, mask = keys.repeat_interleave(beam, 0), mask.repeat_interleave(beam, 0)
    state = state.repeat_interleave(beam, 1)
    score = torch.full((rows, beam), float("-inf"), device=device)
    score[:, 0] = 0.0  # one live prefix to start with: the others would repeat it
    token = torch.full((rows * beam, 1), bos, dtype=torch.long, device=device)
    done = torch.zeros(rows * beam, dtype=torch.bool, device=device)
    history = torch.empty((rows * beam, 0), dtype=torch.long, device=device)
    for _ in range(max_length):
        logits, state, _ = model.decode(token, keys, mask, state)
        log_p = F.log_softmax(logits[:, -1], dim=-1)                 # (rows*beam, V)
        only_eos = torch.full_like(log_p, float("-inf"))
        only_eos[:, eos] = 0.0
        log_p = torch.where(done[:, None], only_eos, log_p)
        vocab = log_p.shape[1]
        total = (score.reshape(-1, 1) + log_p).reshape(rows, beam * vocab)
        score, index = total.topk(beam, dim=1)                       # sorted, best first
        parent = (torch.arange(rows, device=device)[:, None] * beam + index // vocab).reshape(-1)
        token = (index % vocab).reshape(-1, 1)
        history = torch.cat([history[parent], token], dim=1)
        state, done = state[:, parent], done[parent] | (token[:, 0] == eos)
        if bool(done.all()):
            break
    model.train(was_training)
    best = history.reshape(rows, beam, -1)[:, 0]
    if best.shape[1] < max_length:
        best = F.pad(best, (0, max_length - best.shape[1]), value=eos)
    return best, score[:, 0]


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per target token, padding (id 0) left out: logits (B, T, V), targets (B, T)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=0)


def token_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The fraction of non-padding target tokens predicted right under teacher forcing."""
    real = targets != 0
    return ((logits.argmax(-1) == targets) & real).sum() / real.sum()


def exact_match(predicted: Sequence[str], expected: Sequence[str]) -> float:
    """The fraction of strings predicted exactly, every character right and none extra."""
    if len(predicted) != len(expected) or not expected:
        raise ValueError(f"exact_match: expected two equally long, non-empty lists, got "
                         f"{len(predicted)} and {len(expected)} strings")
    return sum(p == e for p, e in zip(predicted, expected, strict=True)) / len(expected)


def accuracy_by_length(predicted: Sequence[str], expected: Sequence[str],
                       lengths: Sequence[int]) -> dict[int, float]:
    """Exact match for each input length: ``{length: fraction}``, in increasing length."""
    groups: dict[int, list[bool]] = {}
    for p, e, n in zip(predicted, expected, lengths, strict=True):
        groups.setdefault(int(n), []).append(p == e)
    return {n: sum(g) / len(g) for n, g in sorted(groups.items())}


class Codec:
    """Characters <-> ids for one side of a task: 0 = padding, 1 = <bos>, 2 = <eos>, then the
    characters in sorted order (the same ids on every machine)."""

    def __init__(self, texts: Sequence[str]):
        self.itos = [PAD, BOS, EOS] + sorted(set("".join(texts)))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.bos, self.eos = 1, 2

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, texts: Sequence[str], bos: bool = False, eos: bool = False) -> torch.Tensor:
        """Strings -> ids (N, longest + markers), padded with 0; unknown characters raise."""
        rows = []
        for text in texts:
            missing = [c for c in text if c not in self.stoi]
            if missing:
                raise KeyError(f"Codec.encode: {missing[0]!r} of {text!r} is not in the "
                               f"vocabulary")
            rows.append([self.bos] * bos + [self.stoi[c] for c in text] + [self.eos] * eos)
        ids = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
        return ids

    def decode(self, ids: torch.Tensor) -> list[str]:
        """ids (N, T) -> strings, each cut at its first <eos> (padding and <bos> dropped)."""
        texts = []
        for row in ids.tolist():
            chars = []
            for i in row:
                if i == self.eos:
                    break
                if i > 2:
                    chars.append(self.itos[i])
            texts.append("".join(chars))
        return texts


class LengthBuckets(torch.utils.data.Sampler):
    """Batches of sources of about the same length (less padding: attention over (T, S) pairs
    costs in proportion to T * S), in a shuffled order drawn from ``generator``."""

    def __init__(self, lengths: torch.Tensor, batch_size: int, generator: torch.Generator):
        self.order = torch.argsort(lengths, stable=True)
        self.batch_size, self.generator = batch_size, generator

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __iter__(self):
        # shuffle within lengths, cut into batches, then shuffle the batches
        noise = torch.rand(len(self.order), generator=self.generator)
        lengths = torch.arange(len(self.order), dtype=torch.float) // self.batch_size
        jittered = self.order[torch.argsort(lengths + noise * 0.999 * 4, stable=True)]
        batches = list(jittered.split(self.batch_size))
        for b in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[b].tolist()


def make_batches(pairs: Sequence[tuple[str, str]], source: Codec, target: Codec,
                 batch_size: int, seed: int = 0) -> torch.utils.data.DataLoader:
    """Teacher-forcing batches ``((source ids, previous target ids), next target ids)``.

    The previous target is ``<bos> y_1 .. y_T`` and the next ``y_1 .. y_T <eos>``, both (B, T + 1).
    Sources of similar length are batched together (``LengthBuckets``), in an order drawn from
    a seeded generator (``fit`` reseeds it every epoch).
    """
    x = source.encode([s for s, _ in pairs])
    y = target.encode([t for _, t in pairs], bos=True, eos=True)
    dataset = torch.utils.data.TensorDataset(x, y)

    def collate(batch):
        xs, ys = torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch])
        xs = xs[:, :int((xs != 0).sum(1).max())]
        ys = ys[:, :int((ys != 0).sum(1).max())]
        return (xs, ys[:, :-1]), ys[:, 1:]

    generator = torch.Generator().manual_seed(seed)
    buckets = LengthBuckets((x != 0).sum(1), batch_size, generator)
    return torch.utils.data.DataLoader(dataset, batch_sampler=buckets, collate_fn=collate,
                                       generator=generator)


def translate(model: Seq2Seq, texts: Sequence[str], source: Codec, target: Codec,
              max_length: int, batch_size: int = 1000,
              beam: int = 1) -> tuple[list[str], list[torch.Tensor]]:
    """Greedy outputs for ``texts`` (``beam_decode``'s with ``beam`` > 1), and, greedy only, each
    one's attention weights (T_out, S) (empty without attention)."""
    device = next(model.parameters()).device
    outputs, weights = [], []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        if beam > 1:
            tokens, _ = beam_decode(model, source.encode(chunk).to(device), target.bos,
                                    target.eos, max_length, beam)
            outputs += target.decode(tokens.cpu())
            continue
        tokens, alpha = greedy_decode(model, source.encode(chunk).to(device), target.bos,
                                      target.eos, max_length)
        outputs += target.decode(tokens.cpu())
        if alpha is not None:
            weights += [a.cpu() for a in alpha]
    return outputs, weights
