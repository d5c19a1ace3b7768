"""The course's data: shipped files (checked by SHA-256), splits, vocabularies, batching.

Everything is read from the repository's ``data/`` folder (or ``$RNNLIB_DATA``); nothing is
downloaded, ever. ``data/README.md`` says where each file came from, its license and how to
re-create it (``python scripts/make_data.py``).

Sections, in the order notebook 01 introduces them (after section 0, the argument checks that
every public function runs before it does any work):

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
import numbers
import operator
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

# --------------------------------------------------------------------------- 0. checking arguments
#
# Every public function checks its arguments before it does any work, so that a mistake ends in
# one line naming the function, the argument, what it should be and what came
# (``batchify: batch_size should be an int >= 1, got 0``), not in a stack trace from deep inside
# NumPy or PyTorch. A wrong type raises TypeError, a wrong value ValueError.

def _got(value: object) -> str:
    """What came, for a message: the type, and the value when it is short (``float (3.5)``)."""
    if isinstance(value, torch.Tensor | np.ndarray):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} ({text})" if len(text) <= 40 else type(value).__name__


def _is_bool(value: object) -> bool:
    """True and False, also NumPy's and as tensors: Python counts them as ints, we do not."""
    if isinstance(value, torch.Tensor | np.ndarray):
        return value.dtype in (torch.bool, np.bool_)
    return isinstance(value, bool | np.bool_)


def _as_int(value: object) -> int | None:
    """``value`` as a Python int when it is an integer (Python's, NumPy's, a 0-d integer tensor
    or array), else None: a float, a bool or a string is not."""
    if _is_bool(value) or (isinstance(value, torch.Tensor | np.ndarray) and value.ndim != 0):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _expect_int(where: str, name: str, value: object, minimum: int | None = None,
                maximum: int | None = None) -> int:
    """``value`` as an int, after checking that it is one and lies in [minimum, maximum]."""
    number = _as_int(value)
    if number is None:
        raise TypeError(f"{where}: {name} should be an int, got {_got(value)}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = (f"from {minimum} to {maximum}" if minimum is not None and maximum is not None
                  else f">= {minimum}" if minimum is not None else f"<= {maximum}")
        raise ValueError(f"{where}: {name} should be an int {bounds}, got {number}")
    return number


#: The seeds ``torch.Generator.manual_seed`` accepts.
_TORCH_SEEDS = (-2**63, 2**64 - 1)


def _expect_bool(where: str, name: str, value: object) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{where}: {name} should be a bool (True or False), got {_got(value)}")
    return bool(value)


def _expect_str(where: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{where}: {name} should be a str, got {_got(value)}")
    return value


def _expect_fractions(where: str, fractions: object) -> tuple:
    """The fractions of a split: two or more positive numbers that sum to 1."""
    expected = "two or more positive numbers that sum to 1, such as (0.8, 0.1, 0.1)"
    if isinstance(fractions, str | bytes) or not isinstance(fractions, Sequence | np.ndarray):
        raise TypeError(f"{where}: fractions should be {expected}, got {_got(fractions)}")
    values = tuple(fractions)
    for i, f in enumerate(values):
        if not isinstance(f, numbers.Real) or _is_bool(f):
            raise TypeError(f"{where}: fractions should be {expected}, got {_got(f)} "
                            f"at fractions[{i}]")
    # Written so that NaN fails: every comparison with NaN is False.
    if not (len(values) >= 2 and all(f > 0 for f in values) and abs(sum(values) - 1) <= 1e-9):
        raise ValueError(f"{where}: fractions should be {expected}, "
                         f"got {tuple(float(f) for f in values)}")
    return values


def _cut_points(where: str, name: str, size: int, fractions: tuple) -> list[int]:
    """Where to cut ``size`` items into consecutive parts of the given fractions:
    ``[0, c_1, ..., size]``, after checking that no part comes out empty."""
    cuts = [0, *np.round(np.cumsum(fractions)[:-1] * size).astype(int).tolist(), size]
    parts = [b - a for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    if min(parts) < 1:
        raise ValueError(f"{where}: {name} should have enough items for every part of fractions "
                         f"{tuple(float(f) for f in fractions)} to get one, got {size} items "
                         f"(parts of {parts})")
    return cuts


def _expect_sequences(where: str, name: str, sequences: object, item: str) -> None:
    """A batch of tensors of shapes (T_i, *F): at least one, every T_i >= 1, one F, one dtype.

    ``item`` names the i-th tensor in messages, e.g. ``"sequences[{}]"``.
    """
    if isinstance(sequences, str) or not isinstance(sequences, Sequence | torch.Tensor):
        raise TypeError(f"{where}: {name} should be a list of tensors, got {_got(sequences)}")
    if len(sequences) == 0:
        raise ValueError(f"{where}: {name} should hold at least one sequence, got none")
    first = sequences[0]
    for i, s in enumerate(sequences):
        if not isinstance(s, torch.Tensor):
            raise TypeError(f"{where}: {item.format(i)} should be a tensor of shape (T_i, *F), "
                            f"got {_got(s)}")
        if s.dim() == 0 or len(s) == 0:
            raise ValueError(f"{where}: {item.format(i)} should have shape (T_i, *F) with at "
                             f"least one step, T_i >= 1, got shape {tuple(s.shape)}")
        if s.shape[1:] != first.shape[1:]:
            shape = "(T_i" + "".join(f", {d}" for d in first.shape[1:]) + ")"
            raise ValueError(f"{where}: {item.format(i)} should have shape {shape} like "
                             f"{item.format(0)}, got shape {tuple(s.shape)}")
        if s.dtype != first.dtype:
            raise TypeError(f"{where}: {item.format(i)} should have dtype {first.dtype} like "
                            f"{item.format(0)}, got {s.dtype}")


def _expect_padding_value(where: str, value: object, dtype: torch.dtype) -> None:
    if not isinstance(value, numbers.Real) or _is_bool(value):
        raise TypeError(f"{where}: padding_value should be a number, got {_got(value)}")
    if not (dtype.is_floating_point or dtype.is_complex) and not float(value).is_integer():
        raise ValueError(f"{where}: padding_value should be a whole number for sequences of "
                         f"dtype {dtype}, got {value}")


def _expect_integer_tensor(where: str, name: str, value: object, expected: str) -> torch.Tensor:
    """``value`` (a tensor, an array, a list or a tuple) as a tensor of an integer dtype."""
    listlike = isinstance(value, torch.Tensor | np.ndarray | Sequence)
    if isinstance(value, str | bytes) or not listlike:
        raise TypeError(f"{where}: {name} should be {expected}, got {_got(value)}")
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(f"{where}: {name} should be {expected}, got {_got(value)} "
                        f"({error})") from None
    integer = not (tensor.dtype.is_floating_point or tensor.dtype.is_complex
                   or tensor.dtype == torch.bool)
    if tensor.numel() and not integer:  # an empty list reads as float32: let it through
        raise TypeError(f"{where}: {name} should be {expected}, got dtype {tensor.dtype}")
    return tensor


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


def sha256(path: Path | str) -> str:
    """Hex SHA-256 of a file's bytes."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"sha256: path should be a path (a str or a pathlib.Path), got "
                        f"{_got(path)}")
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


_verified: dict[tuple[Path, int, int], str] = {}  # (path, size, mtime) -> hash: hash once


def data_path(name: str) -> Path:
    """Path of a shipped data file, after checking it is there and is the right file.

    Raises ``DataError`` saying which file, what is wrong, and how to fix it.
    """
    _expect_str("data_path", "name", name)
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

    def __post_init__(self) -> None:
        if not isinstance(self.texts, list) or not all(isinstance(t, str) for t in self.texts):
            raise TypeError(f"Sentences: texts should be a list of str, got {_got(self.texts)}")
        for name in ("labels", "ratings"):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray):
                raise TypeError(f"Sentences: {name} should be a NumPy array, got {_got(value)}")
            if value.shape != (len(self.texts),):
                raise ValueError(f"Sentences: {name} should have shape ({len(self.texts)},), one "
                                 f"per text, got shape {value.shape}")

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
    _expect_str("load_japanese_vowels", "split", split)
    if split not in ("train", "test"):
        raise ValueError(f"load_japanese_vowels: split should be 'train' or 'test', "
                         f"got {split!r}")
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

    The same ``n``, fractions and seed give the same split on every machine. Returns one int64
    array of indices per fraction; ``n`` must be large enough that no part is empty.
    """
    n = _expect_int("split_indices", "n", n, minimum=1)
    fractions = _expect_fractions("split_indices", fractions)
    seed = _expect_int("split_indices", "seed", seed, minimum=0)
    cuts = _cut_points("split_indices", "n", n, fractions)
    order = np.random.default_rng(seed).permutation(n)
    return tuple(np.split(order, cuts[1:-1]))


def split_sequence(sequence: Sequence, fractions: Sequence[float] = (0.9, 0.05, 0.05)) -> tuple:
    """Cut one long sequence (text, time series) into consecutive parts, in order.

    Not shuffled: the validation part comes after the training part, so nothing of the future
    leaks into training (the right split for a language model or a forecaster). ``sequence``
    is anything that slices: a str, a list, an array or tensor of shape (N, ...).
    """
    if isinstance(sequence, torch.Tensor | np.ndarray):
        if sequence.ndim == 0:
            raise ValueError("split_sequence: sequence should have at least one dimension to "
                             f"cut along, got {_got(sequence)}")
    elif not isinstance(sequence, Sequence):
        raise TypeError("split_sequence: sequence should be a str, list, tuple, array or tensor, "
                        f"got {_got(sequence)}")
    fractions = _expect_fractions("split_sequence", fractions)
    cuts = _cut_points("split_sequence", "sequence", len(sequence), fractions)
    return tuple(sequence[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True))


# --------------------------------------------------------------------------- 4. vocabularies

def char_tokenize(text: str) -> list[str]:
    """Characters are the tokens: ``"to be"`` -> ``['t', 'o', ' ', 'b', 'e']``."""
    return list(_expect_str("char_tokenize", "text", text))


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|''|[^\sa-z0-9]")


def word_tokenize(text: str) -> list[str]:
    """Lower-cased words, with punctuation marks as tokens of their own.

    ``"It's not bad!"`` -> ``["it's", 'not', 'bad', '!']``. Two apostrophes (``''``, how
    the sentiment data writes a quotation mark) are one token.
    """
    return _WORD.findall(_expect_str("word_tokenize", "text", text).lower())


class Vocab:
    """A mapping between tokens and integer ids.

    Id 0 is ``<pad>`` (padding) and id 1 is ``<unk>`` (any token not in the vocabulary);
    then the tokens by falling frequency (ties in alphabetical order, so the ids are the
    same on every machine). Build it from the training split only.

    ``tokens`` is one flat iterable of str tokens (a str is its characters); ``min_freq``
    drops the rarer ones; ``max_size`` caps the length, specials included; ``specials=False``
    leaves out ``<pad>`` and ``<unk>``.
    """

    PAD, UNK = "<pad>", "<unk>"

    def __init__(self, tokens: Iterable[str], min_freq: int = 1, max_size: int | None = None,
                 specials: bool = True):
        min_freq = _expect_int("Vocab", "min_freq", min_freq, minimum=1)
        specials = _expect_bool("Vocab", "specials", specials)
        if max_size is not None:  # room for <pad> and <unk> at least
            max_size = _expect_int("Vocab", "max_size", max_size, minimum=2 if specials else 1)
        if isinstance(tokens, bytes) or not isinstance(tokens, Iterable):
            raise TypeError(f"Vocab: tokens should be an iterable of str tokens, got "
                            f"{_got(tokens)}")
        counts: Counter = Counter()
        try:
            counts.update(tokens)
        except TypeError as error:  # an unhashable token: most often a list of token lists
            raise TypeError(f"Vocab: tokens should be one flat iterable of str tokens, got a "
                            f"token of {error} (flatten a list of lists first)") from None
        for token in counts:
            if not isinstance(token, str):
                raise TypeError(f"Vocab: tokens should be str tokens, got {_got(token)} "
                                "among them")
        kept = sorted((t for t, c in counts.items() if c >= min_freq),
                      key=lambda t: (-counts[t], t))
        self.itos: list[str] = [self.PAD, self.UNK] if specials else []
        self.itos += kept[: None if max_size is None else max_size - len(self.itos)]
        if not self.itos:
            raise ValueError(f"Vocab: tokens should hold a token that occurs min_freq={min_freq} "
                             f"times or more when specials=False, got {len(counts)} distinct "
                             "tokens and none kept: the vocabulary would be empty")
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.counts = counts

    def __len__(self) -> int:
        return len(self.itos)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens: {self.itos[:8]}...)"

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Tokens (a str is its characters) -> ids; unknown tokens become ``<unk>`` (or raise
        KeyError without specials)."""
        if isinstance(tokens, bytes) or not isinstance(tokens, Iterable):
            raise TypeError(f"Vocab.encode: tokens should be an iterable of str tokens, got "
                            f"{_got(tokens)}")
        ids = []
        for token in tokens:
            try:
                index = self.stoi[token]
            except (KeyError, TypeError):  # an unknown token, or not a token at all
                index = self._unknown(token, position=len(ids))
            ids.append(index)
        return ids

    def _unknown(self, token: object, position: int) -> int:
        """The id of a token that is not in the vocabulary: ``<unk>``'s, if there is one."""
        if not isinstance(token, str):
            raise TypeError(f"Vocab.encode: tokens should be str tokens, got {_got(token)} at "
                            f"position {position}")
        if self.UNK not in self.stoi:
            raise KeyError(f"token {token!r} is not in the vocabulary (built without "
                           "<unk>); rebuild it with specials=True or from more text")
        return self.stoi[self.UNK]

    def decode(self, ids: Iterable[int], sep: str = "") -> str:
        """Ids -> text, tokens joined by ``sep`` (``""`` for characters, ``" "`` for words).

        ``ids``: a list of ints or a 1-D integer tensor or array, each id in 0..len(vocab)-1.
        """
        sep = _expect_str("Vocab.decode", "sep", sep)
        if isinstance(ids, torch.Tensor | np.ndarray):
            if ids.ndim != 1:
                raise ValueError(f"Vocab.decode: ids should be 1-D, got {_got(ids)}")
            ids = ids.tolist()  # Python numbers: quick to check and to look up
        if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
            raise TypeError(f"Vocab.decode: ids should be an iterable of int ids, got {_got(ids)}")
        last = len(self.itos) - 1
        return sep.join(self.itos[_expect_int("Vocab.decode", f"ids[{k}]", i, 0, last)]
                        for k, i in enumerate(ids))


# --------------------------------------------------------------------------- 5. padding, packing

def pad_batch(sequences: Sequence[torch.Tensor], batch_first: bool = True,
              padding_value: float = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack sequences of different lengths into one tensor, padding the short ones.

    ``sequences``: tensors of shape (T_i,) or (T_i, F), one dtype, every T_i >= 1. Returns
    ``(padded, lengths)``: padded of shape (B, T_max[, F]) with ``batch_first`` or
    (T_max, B[, F]) without (time major, PyTorch's RNN default), and lengths, an int64 tensor
    of shape (B,) on the CPU (where ``pack_padded_sequence`` wants it).
    """
    _expect_sequences("pad_batch", "sequences", sequences, item="sequences[{}]")
    batch_first = _expect_bool("pad_batch", "batch_first", batch_first)
    _expect_padding_value("pad_batch", padding_value, sequences[0].dtype)
    return _pad(sequences, batch_first, padding_value)


def _pad(sequences: Sequence[torch.Tensor], batch_first: bool,
         padding_value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The work of ``pad_batch``, on checked arguments."""
    tail = sequences[0].shape[1:]
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.int64)
    padded = sequences[0].new_full((len(sequences), int(lengths.max()), *tail), padding_value)
    for i, s in enumerate(sequences):
        padded[i, : len(s)] = s
    return (padded if batch_first else padded.transpose(0, 1)), lengths


def collate_padded(batch: Sequence[tuple[torch.Tensor, torch.Tensor | int]],
                   batch_first: bool = True, padding_value: float = 0):
    """``collate_fn`` for a DataLoader of ``(sequence, label)`` pairs.

    Returns ``((padded, lengths), labels)``, ready for a model that packs its input: padded
    and lengths as from ``pad_batch``, labels a tensor of shape (B, *label shape).
    """
    where = "collate_padded"
    if isinstance(batch, str) or not isinstance(batch, Sequence):
        raise TypeError(f"{where}: batch should be a list of (sequence, label) pairs, got "
                        f"{_got(batch)}")
    if len(batch) == 0:
        raise ValueError(f"{where}: batch should hold at least one (sequence, label) pair, "
                         "got none")
    for i, pair in enumerate(batch):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"{where}: batch[{i}] should be a (sequence, label) pair, got "
                            f"{_got(pair)}")
    sequences, labels = zip(*batch, strict=True)
    _expect_sequences(where, "batch", sequences, item="batch[{}][0]")
    batch_first = _expect_bool(where, "batch_first", batch_first)
    _expect_padding_value(where, padding_value, sequences[0].dtype)
    for i, label in enumerate(labels):
        if not isinstance(label, numbers.Number | torch.Tensor | np.ndarray):
            raise TypeError(f"{where}: batch[{i}][1], a label, should be a number or a tensor, "
                            f"got {_got(label)}")
    shapes = sorted({tuple(getattr(label, "shape", ())) for label in labels})
    if len(shapes) > 1:
        raise ValueError(f"{where}: the labels batch[i][1] should all have one shape, got "
                         f"shapes {shapes}")
    padded, lengths = _pad(sequences, batch_first, padding_value)
    return (padded, lengths), torch.as_tensor(np.asarray(labels))


def pack(padded: torch.Tensor, lengths: torch.Tensor, batch_first: bool = True) -> PackedSequence:
    """Pack a padded batch so that an RNN never steps over the padding.

    ``padded``: (B, T, *) with ``batch_first``, (T, B, *) without; ``lengths``: (B,) integers
    from 1 to T (a tensor on any device, an array or a list). The batch does not need to be
    sorted by length (``enforce_sorted=False``): PyTorch sorts it inside and un-sorts the
    results.
    """
    batch_first = _expect_bool("pack", "batch_first", batch_first)
    layout = "(B, T, *) with batch_first=True" if batch_first else "(T, B, *) without"
    if not isinstance(padded, torch.Tensor):
        raise TypeError(f"pack: padded should be a tensor of shape {layout}, got {_got(padded)}")
    if padded.dim() < 2 or min(padded.shape[:2]) < 1:
        raise ValueError(f"pack: padded should be a tensor of shape {layout}, with B >= 1 and "
                         f"T >= 1, got shape {tuple(padded.shape)}")
    batch, steps = (padded.shape[0], padded.shape[1]) if batch_first else \
        (padded.shape[1], padded.shape[0])
    expected = f"a 1-D integer tensor of shape ({batch},), the length of each sequence"
    lengths = _expect_integer_tensor("pack", "lengths", lengths, expected).cpu()
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"pack: lengths should be {expected}, got shape {tuple(lengths.shape)}")
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest < 1 or longest > steps:
        shown = lengths.tolist() if batch <= 10 else f"lengths from {shortest} to {longest}"
        raise ValueError(f"pack: lengths should be from 1 to T = {steps} (the padded length), "
                         f"got {shown}")
    return pack_padded_sequence(padded, lengths, batch_first=batch_first, enforce_sorted=False)


# --------------------------------------------------------------------------- 6. streams (TBPTT)

def batchify(ids: Sequence[int] | torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut one long stream of token ids into ``batch_size`` rows read in parallel: (B, N).

    ``ids``: a list, array or 1-D tensor of integer ids >= 0, at least 2 per row. Row b holds
    the b-th contiguous slice of the stream, so each row continues where it left off from one
    batch to the next: the carried hidden state stays meaningful. Returns int64 (B, N).
    """
    batch_size = _expect_int("batchify", "batch_size", batch_size, minimum=1)
    expected = "a 1-D list, array or tensor of integer token ids >= 0"
    ids = _expect_integer_tensor("batchify", "ids", ids, expected)
    if ids.dim() != 1:
        raise ValueError(f"batchify: ids should be {expected}, got shape {tuple(ids.shape)}")
    if len(ids) < 2:
        raise ValueError(f"batchify: ids should hold at least 2 tokens, got {len(ids)}")
    if ids.min() < 0:
        raise ValueError(f"batchify: ids should be {expected}, got {int(ids.min())} among them")
    if batch_size > len(ids) // 2:
        raise ValueError(f"batchify: batch_size should be at most len(ids) // 2 = "
                         f"{len(ids) // 2} (each row needs 2 tokens or more), got {batch_size} "
                         f"for a stream of {len(ids)} tokens")
    ids = ids.to(torch.int64)
    n = len(ids) // batch_size
    return ids[: n * batch_size].view(batch_size, n)


def bptt_batches(rows: torch.Tensor, seq_len: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Walk along (B, N) rows in windows of ``seq_len``: yields ``(x, y)`` of shape (B, L).

    ``y`` is ``x`` shifted one token ahead (the next character to predict). Consecutive
    windows continue each other, for truncated backpropagation through time. The arguments
    are checked at the call, not at the first window.
    """
    if not isinstance(rows, torch.Tensor):
        raise TypeError(f"bptt_batches: rows should be a tensor of shape (B, N), as batchify "
                        f"makes, got {_got(rows)}")
    if rows.dim() != 2 or rows.shape[0] < 1 or rows.shape[1] < 2:
        raise ValueError(f"bptt_batches: rows should be a tensor of shape (B, N) with B >= 1 and "
                         f"N >= 2, as batchify makes, got shape {tuple(rows.shape)}")
    seq_len = _expect_int("bptt_batches", "seq_len", seq_len, minimum=1)
    return _windows(rows, seq_len)


def _windows(rows: torch.Tensor, seq_len: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The windows of ``bptt_batches``, on checked arguments."""
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
    n = _expect_int("adding_problem", "n", n, minimum=1)
    length = _expect_int("adding_problem", "length", length, minimum=2)
    seed = _expect_int("adding_problem", "seed", seed, *_TORCH_SEEDS)
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
    n = _expect_int("copy_task", "n", n, minimum=1)
    delay = _expect_int("copy_task", "delay", delay, minimum=1)
    n_symbols = _expect_int("copy_task", "n_symbols", n_symbols, minimum=1)
    copy_len = _expect_int("copy_task", "copy_len", copy_len, minimum=1)
    seed = _expect_int("copy_task", "seed", seed, *_TORCH_SEEDS)
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

    A sequence of random distractor symbols (a, b, c, d = ids 2..5) that starts with B (id 0)
    and ends with E (id 1) holds two relevant symbols, X (6) or Y (7): the first somewhere in
    the first half of the sequence (steps 1 .. length // 2 - 1), the second in the second half
    (steps length // 2 .. length - 2). The class is their order, 2 * first + second with X = 0
    and Y = 1: XX = 0, XY = 1, YX = 2, YY = 3. Chance is 25%.

    Returns ``x``, int64 of shape (n, length) with 8 symbols in all, and ``y``, int64 (n,).
    """
    n = _expect_int("temporal_order", "n", n, minimum=1)
    length = _expect_int("temporal_order", "length", length, minimum=6)
    seed = _expect_int("temporal_order", "seed", seed, *_TORCH_SEEDS)
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


# --------------------------------------------------------------------------- 8. sequence-to-sequence tasks
#
# Pairs of strings (source, target) for notebook 11, made by seeded code: no files.

import datetime  # noqa: E402  (this section was added after the others)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
_CHINESE_DIGITS = "〇一二三四五六七八九"
DATE_FORMATS = ("long", "day_month", "short", "chinese", "chinese_year", "slashes")


def format_date(day: datetime.date, style: str) -> str:
    """One date written in one of ``DATE_FORMATS``.

    ``long`` "March 5, 2024"; ``day_month`` "5 March 2024"; ``short`` "5 Mar 2024";
    ``chinese`` "2024年3月5日"; ``chinese_year`` "二〇二四年3月5日" (the year digit by digit);
    ``slashes`` "05/03/2024" (day first).
    """
    if not isinstance(day, datetime.date):
        raise TypeError(f"format_date: day should be a datetime.date, got {_got(day)}")
    month = MONTHS[day.month - 1]
    forms = {
        "long": f"{month} {day.day}, {day.year}",
        "day_month": f"{day.day} {month} {day.year}",
        "short": f"{day.day} {month[:3]} {day.year}",
        "chinese": f"{day.year}年{day.month}月{day.day}日",
        "chinese_year": "".join(_CHINESE_DIGITS[int(c)] for c in str(day.year))
                        + f"年{day.month}月{day.day}日",
        "slashes": f"{day.day:02d}/{day.month:02d}/{day.year}",
    }
    if style not in forms:
        raise ValueError(f"format_date: style should be one of {DATE_FORMATS}, got {style!r}")
    return forms[style]


def date_pairs(n: int, seed: int = 0, first_year: int = 1950,
               last_year: int = 2049) -> list[tuple[str, str]]:
    """``n`` distinct dates, each written in a random one of ``DATE_FORMATS``, with its ISO form.

    Returns ``[("March 5, 2024", "2024-03-05"), ...]``: no date occurs twice, so a split of the
    list by ``split_indices`` holds out dates never seen in training. Seeded: the same
    ``(n, seed)`` gives the same list on every machine.
    """

    n = _expect_int("date_pairs", "n", n, minimum=1)
    seed = _expect_int("date_pairs", "seed", seed, *_TORCH_SEEDS)
    first_year = _expect_int("date_pairs", "first_year", first_year, 1, 9999)
    last_year = _expect_int("date_pairs", "last_year", last_year, first_year, 9999)
    start = datetime.date(first_year, 1, 1)
    days = (datetime.date(last_year, 12, 31) - start).days + 1
    if n > days:
        raise ValueError(f"date_pairs: n should be at most the {days} days from {first_year} to "
                         f"{last_year}, got {n}")
    g = torch.Generator().manual_seed(seed)
    offsets = torch.randperm(days, generator=g)[:n].tolist()
    styles = torch.randint(len(DATE_FORMATS), (n,), generator=g).tolist()
    pairs = []
    for offset, style in zip(offsets, styles, strict=True):
        day = start + datetime.timedelta(days=offset)
        pairs.append((format_date(day, DATE_FORMATS[style]), day.isoformat()))
    return pairs


def reversal_pairs(n: int, min_length: int = 4, max_length: int = 40,
                   seed: int = 0) -> list[tuple[str, str]]:
    """``n`` distinct random digit strings and their reversals: ``[("3141", "1413"), ...]``.

    Lengths are uniform in ``min_length .. max_length``; each digit uniform in 0-9. No source
    occurs twice, so a split by ``split_indices`` holds out strings never seen in training.
    """
    n = _expect_int("reversal_pairs", "n", n, minimum=1)
    min_length = _expect_int("reversal_pairs", "min_length", min_length, minimum=1)
    max_length = _expect_int("reversal_pairs", "max_length", max_length, minimum=min_length)
    seed = _expect_int("reversal_pairs", "seed", seed, *_TORCH_SEEDS)
    possible = sum(10 ** k for k in range(min_length, min(max_length, 12) + 1))
    if max_length <= 12 and n > possible // 2:
        raise ValueError(f"reversal_pairs: n should be at most half the {possible} strings of "
                         f"length {min_length}..{max_length}, got {n}")
    g = torch.Generator().manual_seed(seed)
    seen: set[str] = set()
    pairs = []
    while len(pairs) < n:
        length = int(torch.randint(min_length, max_length + 1, (1,), generator=g))
        source = "".join(map(str, torch.randint(10, (length,), generator=g).tolist()))
        if source not in seen:
            seen.add(source)
            pairs.append((source, source[::-1]))
    return pairs
