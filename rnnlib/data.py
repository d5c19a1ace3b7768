"""The course's data: shipped files (checked by SHA-256), splits, vocabularies, batching.

Everything is read from the repository's ``data/`` folder (or ``$RNNLIB_DATA``); nothing is
downloaded, ever. ``data/README.md`` says where each file came from, its license and how to
re-create it (``python scripts/make_data.py``).

Sections, in the order notebook 01 introduces them:

1. files and checksums: ``data_path``, ``verify_all``
2. the four datasets: ``load_shakespeare``, ``load_sentiment``, ``load_sunspots``,
   ``load_japanese_vowels``
3. deterministic splits: ``split_indices``, ``split_sequence``
4. tokenising and vocabularies: ``char_tokenize``, ``word_tokenize``, ``Vocab``
5. padding and packing: ``pad_batch``, ``collate_padded``, ``pack``
6. a token stream in (B, N) rows for truncated backpropagation through time: ``batchify``,
   ``bptt_batches``
7. synthetic tasks, seeded: ``adding_problem``, ``copy_task``, ``temporal_order``
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

# --------------------------------------------------------------------------- 1. files

#: Every shipped file and its SHA-256. ``data/README.md`` lists the same (a test checks).
FILES: dict[str, str] = {
    "shakespeare.txt":
        "13965707ed84639f88d7e4bf0419e8db1f0171b0157979880026afb13da21963",
    "movieReviewSnippets_GroundTruth.txt":
        "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350",
    "sunspots_monthly.dat":
        "cc303d26340b6d599bc2878899f8c50c12323dc04b52a26ad047965ea2b9d2a3",
    "JapaneseVowels_TRAIN.ts":
        "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
    "JapaneseVowels_TEST.ts":
        "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
}

_FIX = ("to fix it, restore the file with `git checkout -- data/{name}` (or download the "
        "course again), or re-create it with `make data`")


class DataError(RuntimeError):
    """A data file is missing or not the file the course was written for."""


def data_dir() -> Path:
    """The folder holding the data files: ``$RNNLIB_DATA`` or the repository's ``data/``."""
    override = os.environ.get("RNNLIB_DATA", "").strip()
    return Path(override) if override else Path(__file__).resolve().parents[1] / "data"


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


_verified: dict[tuple[Path, int, int], str] = {}  # (path, size, mtime) -> hash: hash once


def data_path(name: str) -> Path:
    """Path of a shipped data file, after checking it is there and is the right file.

    Raises ``DataError`` saying which file, what is wrong, and how to fix it.
    """
    if name not in FILES:
        raise DataError(f"unknown data file {name!r}; the course ships {sorted(FILES)}")
    path = data_dir() / name
    if not path.is_file():
        raise DataError(f"data file {name} is missing (looked for {path}); "
                        + _FIX.format(name=name))
    stat = path.stat()
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        _verified[key] = sha256(path)
    if _verified[key] != FILES[name]:
        raise DataError(f"data file {name} is corrupt or changed: its SHA-256 is "
                        f"{_verified[key][:16]}..., expected {FILES[name][:16]}...; "
                        + _FIX.format(name=name))
    return path


def verify_all() -> dict[str, str]:
    """Check every shipped file; returns ``{name: "ok" | what is wrong}`` (never raises)."""
    status = {}
    for name in FILES:
        try:
            data_path(name)
            status[name] = "ok"
        except DataError as error:
            status[name] = str(error)
    return status


# --------------------------------------------------------------------------- 2. datasets

def load_shakespeare() -> str:
    """Shakespeare's tragedies and Roman plays as one text (~1.3 million characters).

    Speaker names are lines ``NAME:``; stage directions and headings were removed.
    """
    return data_path("shakespeare.txt").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Sentences:
    """Movie-review sentences with a binary label (1 = positive) and the mean human rating."""

    texts: list[str]
    labels: np.ndarray   # (N,) int64, 1 when rating > 0
    ratings: np.ndarray  # (N,) float64, mean of >= 20 ratings on -4..+4

    def __len__(self) -> int:
        return len(self.texts)


def load_sentiment() -> Sentences:
    """The 10,605 Rotten Tomatoes sentences rated by people (Hutto & Gilbert 2014).

    Label 1 when the mean rating is above 0, 0 when below; the 37 sentences rated exactly 0
    are dropped, leaving 10,568.
    """
    texts, ratings = [], []
    raw = data_path("movieReviewSnippets_GroundTruth.txt").read_text(encoding="utf-8")
    for line in raw.splitlines():
        if not line.strip():
            continue
        _, rating, text = line.split("\t", 2)
        if float(rating) == 0.0:
            continue
        texts.append(text.strip())
        ratings.append(float(rating))
    ratings_array = np.array(ratings)
    return Sentences(texts, (ratings_array > 0).astype(np.int64), ratings_array)


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Monthly mean sunspot numbers, January 1749 to December 2008 (3,120 months).

    Returns ``(time, count)``: time in decimal years (1749.0, 1749.083, ...), and the count,
    both float64 arrays of shape (3120,). The file's preliminary 2009 months are left out.
    """
    values = []
    for line in data_path("sunspots_monthly.dat").read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if len(fields) == 13 and re.fullmatch(r"1[7-9]\d\d|200\d", fields[0]):
            if int(fields[0]) <= 2008:
                values.extend(float(v) for v in fields[1:])
    count = np.array(values)
    return 1749 + np.arange(len(count)) / 12, count


def load_japanese_vowels(split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Japanese vowels (Kudo et al. 1999): nine speakers saying /ae/, 12 LPC channels.

    ``split`` is ``"train"`` (270 utterances) or ``"test"`` (370). Returns ``(series,
    labels)``: a list of float32 arrays of shape (T_i, 12) with T_i from 7 to 29, and an int64
    array of speaker labels 0..8.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split should be 'train' or 'test', got {split!r}")
    path = data_path(f"JapaneseVowels_{split.upper()}.ts")
    series, labels = [], []
    in_data = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not in_data:
            in_data = line.strip().lower() == "@data"
            continue
        if not line.strip():
            continue
        *channels, label = line.split(":")
        series.append(np.array([[float(v) for v in c.split(",")] for c in channels],
                               dtype=np.float32).T)
        labels.append(int(label) - 1)
    return series, np.array(labels, dtype=np.int64)


# --------------------------------------------------------------------------- 3. splits

def split_indices(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                  seed: int = 0) -> tuple[np.ndarray, ...]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into parts of the given fractions.

    The same ``n``, fractions and seed give the same split on every machine.
    """
    if not fractions or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions should be positive and sum to 1, got {tuple(fractions)}")
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
    return tuple(np.split(order, cuts))


def split_sequence(sequence: Sequence, fractions: Sequence[float] = (0.9, 0.05, 0.05)) -> tuple:
    """Cut one long sequence (text, time series) into consecutive parts, in order.

    Not shuffled: the validation part comes after the training part, so nothing of the future
    leaks into training (the right split for a language model or a forecaster).
    """
    if not fractions or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions should be positive and sum to 1, got {tuple(fractions)}")
    cuts = [0, *np.round(np.cumsum(fractions)[:-1] * len(sequence)).astype(int), len(sequence)]
    return tuple(sequence[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True))


# --------------------------------------------------------------------------- 4. vocabularies

def char_tokenize(text: str) -> list[str]:
    """Characters are the tokens: ``"to be"`` -> ``['t', 'o', ' ', 'b', 'e']``."""
    return list(text)


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|''|[^\sa-z0-9]")


def word_tokenize(text: str) -> list[str]:
    """Lower-cased words, with punctuation marks as tokens of their own.

    ``"It's not bad!"`` -> ``["it's", 'not', 'bad', '!']``. Two apostrophes (``''``, how
    the sentiment data writes a quotation mark) are one token.
    """
    return _WORD.findall(text.lower())


class Vocab:
    """A mapping between tokens and integer ids.

    Id 0 is ``<pad>`` (padding) and id 1 is ``<unk>`` (any token not in the vocabulary);
    then the tokens by falling frequency (ties in alphabetical order, so the ids are the
    same on every machine). Build it from the training split only.
    """

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, tokens: Iterable[str], min_freq: int = 1, max_size: int | None = None,
                 specials: bool = True):
        counts = Counter(tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_freq),
                      key=lambda t: (-counts[t], t))
        self.itos: list[str] = [self.PAD, self.UNK] if specials else []
        self.itos += kept[: None if max_size is None else max_size - len(self.itos)]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.counts = counts

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {self.itos[:8]}...)"

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Tokens -> ids; unknown tokens become ``<unk>`` (or raise without specials)."""
        unk = self.stoi.get(self.UNK)
        ids = []
        for token in tokens:
            index = self.stoi.get(token, unk)
            if index is None:
                raise KeyError(f"token {token!r} is not in the vocabulary (built without "
                               "<unk>); rebuild it with specials=True or from more text")
            ids.append(index)
        return ids

    def decode(self, ids: Iterable[int], sep: str = "") -> str:
        """Ids -> text, tokens joined by ``sep`` (``""`` for characters, ``" "`` for words)."""
        return sep.join(self.itos[int(i)] for i in ids)


# --------------------------------------------------------------------------- 5. padding, packing

def pad_batch(sequences: Sequence[torch.Tensor], batch_first: bool = True,
              padding_value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack sequences of different lengths into one tensor, padding the short ones.

    ``sequences``: tensors of shape (T_i,) or (T_i, F). Returns ``(padded, lengths)``:
    padded of shape (B, T_max[, F]) with ``batch_first`` or (T_max, B[, F]) without (time
    major, PyTorch's RNN default), and lengths, an int64 tensor of shape (B,) on the CPU
    (where ``pack_padded_sequence`` wants it).
    """
    if len(sequences) == 0:
        raise ValueError("pad_batch needs at least one sequence")
    tail = sequences[0].shape[1:]
    for i, s in enumerate(sequences):
        if s.dim() == 0 or s.shape[1:] != tail:
            raise ValueError(f"sequences should all have shape (T_i, *{tuple(tail)}); "
                             f"sequence {i} has shape {tuple(s.shape)}")
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    padded = sequences[0].new_full((len(sequences), int(lengths.max()), *tail), padding_value)
    for i, s in enumerate(sequences):
        padded[i, : len(s)] = s
    return (padded if batch_first else padded.transpose(0, 1)), lengths


def collate_padded(batch: Sequence[tuple[torch.Tensor, torch.Tensor | int]],
                   batch_first: bool = True, padding_value: float = 0):
    """``collate_fn`` for a DataLoader of ``(sequence, label)`` pairs.

    Returns ``((padded, lengths), labels)``, ready for a model that packs its input.
    """
    sequences, labels = zip(*batch, strict=True)
    padded, lengths = pad_batch(sequences, batch_first, padding_value)
    return (padded, lengths), torch.as_tensor(np.asarray(labels))


def pack(padded: torch.Tensor, lengths: torch.Tensor, batch_first: bool = True) -> PackedSequence:
    """Pack a padded batch so that an RNN never steps over the padding.

    The batch does not need to be sorted by length (``enforce_sorted=False``): PyTorch sorts
    it inside and un-sorts the results.
    """
    return pack_padded_sequence(padded, lengths.cpu(), batch_first=batch_first,
                                enforce_sorted=False)


# --------------------------------------------------------------------------- 6. streams (TBPTT)

def batchify(ids: Sequence[int] | torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut one long stream of token ids into ``batch_size`` rows read in parallel: (B, N).

    Row b holds the b-th contiguous slice of the stream, so each row continues where it left
    off from one batch to the next: the carried hidden state stays meaningful.
    """
    ids = torch.as_tensor(ids, dtype=torch.int64)
    n = len(ids) // batch_size
    if n < 2:
        raise ValueError(f"a stream of {len(ids)} tokens is too short for {batch_size} rows")
    return ids[: n * batch_size].view(batch_size, n)


def bptt_batches(rows: torch.Tensor, seq_len: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Walk along (B, N) rows in windows of ``seq_len``: yields ``(x, y)`` of shape (B, L).

    ``y`` is ``x`` shifted one token ahead (the next character to predict). Consecutive
    windows continue each other, for truncated backpropagation through time.
    """
    if rows.dim() != 2:
        raise ValueError(f"expected rows of shape (B, N), got {tuple(rows.shape)}")
    for start in range(0, rows.shape[1] - 1, seq_len):
        end = min(start + seq_len, rows.shape[1] - 1)
        yield rows[:, start:end], rows[:, start + 1:end + 1]


# --------------------------------------------------------------------------- 7. synthetic tasks

def adding_problem(n: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997; the form of Le et al. 2015).

    Each input step has two channels: a value drawn from U[0, 1] and a marker that is 1 at
    exactly two steps (one in each half of the sequence) and 0 elsewhere. The target is the
    sum of the two marked values. Always answering the mean (1) scores the variance of the
    sum, MSE = 2 * 1/12 = 1/6 ~ 0.167: a model must beat that to have learned anything.

    Returns ``x`` of shape (n, length, 2) and ``y`` of shape (n,), float32.
    """
    if length < 2:
        raise ValueError(f"length should be at least 2, got {length}")
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(n, length, generator=g)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, length, (n,), generator=g)
    markers = torch.zeros(n, length)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    y = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), y


def copy_task(n: int, delay: int, n_symbols: int = 8, copy_len: int = 10,
              seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The copy (memory) task (Arjovsky et al. 2016): remember symbols across a long gap.

    Input: ``copy_len`` random symbols from 1..n_symbols, ``delay - 1`` blanks (0), a
    ``go`` marker (n_symbols + 1), then ``copy_len`` blanks. Target: blanks everywhere
    except the last ``copy_len`` steps, which repeat the symbols. Guessing (blanks, then
    any symbol) scores a cross-entropy of copy_len * ln(n_symbols) / (delay + 2 * copy_len).

    Returns ``x`` and ``y``, int64 of shape (n, delay + 2 * copy_len); ``n_symbols + 2``
    classes in all.
    """
    if delay < 1:
        raise ValueError(f"delay should be at least 1, got {delay}")
    g = torch.Generator().manual_seed(seed)
    total = delay + 2 * copy_len
    symbols = torch.randint(1, n_symbols + 1, (n, copy_len), generator=g)
    x = torch.zeros(n, total, dtype=torch.int64)
    y = torch.zeros(n, total, dtype=torch.int64)
    x[:, :copy_len] = symbols
    x[:, copy_len + delay - 1] = n_symbols + 1
    y[:, -copy_len:] = symbols
    return x, y


def temporal_order(n: int, length: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The temporal order task (Hochreiter & Schmidhuber 1997, experiment 6a).

    A sequence of random distractor symbols (a, b, c, d = ids 2..5) that starts with E (id 0)
    and ends with B (id 1) holds two relevant symbols, X (6) or Y (7): the first somewhere in
    the first half of the sequence, the second in the second half. The class is their order:
    XX = 0, XY = 1, YX = 2, YY = 3. Chance is 25%.

    Returns ``x``, int64 of shape (n, length) with 8 symbols in all, and ``y``, int64 (n,).
    """
    if length < 6:
        raise ValueError(f"length should be at least 6, got {length}")
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(2, 6, (n, length), generator=g)
    x[:, 0], x[:, -1] = 0, 1
    half = length // 2
    t1 = torch.randint(1, half, (n,), generator=g)
    t2 = torch.randint(half, length - 1, (n,), generator=g)
    first = torch.randint(0, 2, (n,), generator=g)
    second = torch.randint(0, 2, (n,), generator=g)
    rows = torch.arange(n)
    x[rows, t1] = 6 + first
    x[rows, t2] = 6 + second
    return x, 2 * first + second
