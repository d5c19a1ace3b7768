"""rnnlib.data: checksummed files, loaders, splits, vocabularies, batching, synthetic tasks."""

import re
import shutil

import numpy as np
import pytest
import torch
from conftest import ROOT
from torch.nn.utils.rnn import pad_packed_sequence

from rnnlib import data


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    for name in data.FILES:
        shutil.copy(ROOT / "data" / name, tmp_path / name)
    monkeypatch.setenv("RNNLIB_DATA", str(tmp_path))
    return tmp_path


def test_every_shipped_file_matches_its_checksum():
    assert data.verify_all() == {name: "ok" for name in data.FILES}


def test_data_readme_lists_every_file_and_hash():
    readme = (ROOT / "data" / "README.md").read_text()
    for name, digest in data.FILES.items():
        assert name in readme and digest in readme, name


def test_data_is_small():
    assert sum((ROOT / "data" / n).stat().st_size for n in data.FILES) < 10 * 2**20


def test_deleting_a_byte_names_the_file_and_the_fix(data_copy):
    path = data_copy / "sunspots_monthly.dat"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(data.DataError, match=r"sunspots_monthly.dat is corrupt.*git checkout -- data/sunspots_monthly.dat.*make data"):
        data.load_sunspots()


def test_missing_file_names_the_file_and_the_fix(data_copy):
    (data_copy / "shakespeare.txt").unlink()
    with pytest.raises(data.DataError, match=r"shakespeare.txt is missing.*git checkout"):
        data.load_shakespeare()
    assert "missing" in data.verify_all()["shakespeare.txt"]


def test_shakespeare_is_clean_text():
    text = data.load_shakespeare()
    assert 1_200_000 < len(text) < 1_400_000
    assert not set("*_#\\") & set(text)
    assert "MACBETH:\n" in text and "To be, or not to be" in text


def test_sentiment_has_10568_balanced_labelled_sentences():
    s = data.load_sentiment()
    assert len(s) == 10_568 and len(s.labels) == len(s.ratings) == len(s.texts)
    assert (s.labels == (s.ratings > 0)).all() and not (s.ratings == 0).any()
    assert 0.45 < s.labels.mean() < 0.55


def test_sunspots_are_3120_months_from_1749():
    t, count = data.load_sunspots()
    assert t.shape == count.shape == (3120,)
    assert t[0] == 1749 and abs(t[-1] - (2008 + 11 / 12)) < 1e-9
    assert count[0] == 58.0 and count.min() >= 0 and count.max() < 300


@pytest.mark.parametrize("split,n,counts", [("train", 270, [30] * 9),
                                            ("test", 370, [31, 35, 88, 44, 29, 24, 40, 50, 29])])
def test_japanese_vowels_shapes_and_classes(split, n, counts):
    series, labels = data.load_japanese_vowels(split)
    assert len(series) == n and np.bincount(labels).tolist() == counts
    assert all(s.shape[1] == 12 and 7 <= s.shape[0] <= 29 for s in series)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_japanese_vowels("valid")


def test_split_indices_is_deterministic_and_a_partition():
    a = data.split_indices(1000, (0.8, 0.1, 0.1), seed=1)
    b = data.split_indices(1000, (0.8, 0.1, 0.1), seed=1)
    assert [len(p) for p in a] == [800, 100, 100]
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(1000))
    assert not (a[0] == data.split_indices(1000, seed=2)[0]).all()
    with pytest.raises(ValueError, match="sum to 1"):
        data.split_indices(10, (0.5, 0.2))


def test_split_sequence_keeps_order():
    train, val, test = data.split_sequence("abcdefghij", (0.6, 0.2, 0.2))
    assert (train, val, test) == ("abcdef", "gh", "ij")


def test_vocab_is_ordered_by_frequency_with_pad_and_unk():
    vocab = data.Vocab("abracadabra")
    assert vocab.itos[:4] == ["<pad>", "<unk>", "a", "b"] and len(vocab) == 7
    assert vocab.decode(vocab.encode("cab")) == "cab"
    assert vocab.encode("z") == [1]
    small = data.Vocab(data.word_tokenize("the cat the dog the end cat"), min_freq=2)
    assert small.itos == ["<pad>", "<unk>", "the", "cat"]
    strict = data.Vocab("ab", specials=False)
    with pytest.raises(KeyError, match="not in the vocabulary"):
        strict.encode("c")


def test_word_tokenize_keeps_contractions_and_splits_punctuation():
    assert data.word_tokenize("It's NOT bad, really!") == ["it's", "not", "bad", ",", "really", "!"]


@pytest.mark.parametrize("batch_first", [True, False])
def test_pad_and_pack_round_trip(batch_first):
    seqs = [torch.arange(1, 4), torch.arange(1, 6), torch.arange(1, 2)]
    padded, lengths = data.pad_batch(seqs, batch_first=batch_first)
    assert padded.shape == ((3, 5) if batch_first else (5, 3))
    assert lengths.tolist() == [3, 5, 1]
    unpacked, back = pad_packed_sequence(data.pack(padded, lengths, batch_first),
                                         batch_first=batch_first)
    assert torch.equal(unpacked, padded) and back.tolist() == [3, 5, 1]


def test_collate_padded_for_labelled_sequences():
    (padded, lengths), labels = data.collate_padded([(torch.ones(2, 12), 3), (torch.ones(5, 12), 0)])
    assert padded.shape == (2, 5, 12) and lengths.tolist() == [2, 5] and labels.tolist() == [3, 0]
    assert padded[0, 2:].abs().sum() == 0


def test_bptt_batches_continue_each_other():
    rows = data.batchify(list(range(20)), batch_size=2)
    assert rows.tolist() == [list(range(10)), list(range(10, 20))]
    windows = list(data.bptt_batches(rows, seq_len=4))
    assert [x.shape[1] for x, _ in windows] == [4, 4, 1]
    x0, y0 = windows[0]
    assert x0[0].tolist() == [0, 1, 2, 3] and y0[0].tolist() == [1, 2, 3, 4]
    assert windows[1][0][0, 0] == 4


def test_adding_problem_targets_and_baseline():
    x, y = data.adding_problem(20000, 50, seed=0)
    assert x.shape == (20000, 50, 2) and y.shape == (20000,)
    markers = x[..., 1]
    assert (markers.sum(1) == 2).all()
    assert (markers[:, :25].sum(1) == 1).all()
    assert torch.allclose((x[..., 0] * markers).sum(1), y)
    assert abs(((y - 1.0) ** 2).mean().item() - 1 / 6) < 0.01
    assert torch.equal(data.adding_problem(5, 10, seed=3)[0], data.adding_problem(5, 10, seed=3)[0])


def test_copy_task_layout():
    x, y = data.copy_task(4, delay=6, n_symbols=8, copy_len=3, seed=0)
    assert x.shape == y.shape == (4, 12)
    assert (x[:, 8] == 9).all() and torch.equal(y[:, -3:], x[:, :3])
    assert (y[:, :-3] == 0).all() and ((x[:, :3] >= 1) & (x[:, :3] <= 8)).all()


def test_temporal_order_label_matches_the_two_symbols():
    x, y = data.temporal_order(500, 20, seed=0)
    relevant = x[(x >= 6)].view(500, 2) - 6
    assert torch.equal(y, 2 * relevant[:, 0] + relevant[:, 1])
    assert set(y.tolist()) == {0, 1, 2, 3} and (x[:, 0] == 0).all() and (x[:, -1] == 1).all()


# ---- bad arguments: one clear line naming the function, the argument, what was expected and
# what came; TypeError for a wrong type, ValueError for a wrong value.

def raises(error, *fragments):
    """pytest.raises(error) whose message holds every fragment, in that order."""
    return pytest.raises(error, match=".*".join(re.escape(f) for f in fragments))


def bad(call, error, *fragments, id):
    """A bad call, the error it should raise and the message fragments: the function and the
    argument it names, then what came."""
    return pytest.param(call, error, fragments, id=id)


def test_messages_name_the_function_the_argument_what_was_expected_and_what_came():
    with pytest.raises(ValueError, match=r"^batchify: batch_size should be an int >= 1, got 0$"):
        data.batchify(list(range(20)), batch_size=0)
    with pytest.raises(TypeError, match=r"^adding_problem: n should be an int, got float \(3\.5\)$"):
        data.adding_problem(3.5, 10)


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.adding_problem(3.5, 10), TypeError, "adding_problem: n", "got float (3.5)", id="n-float"),
    bad(lambda: data.adding_problem(0, 10), ValueError, "adding_problem: n", ">= 1, got 0", id="n-zero"),
    bad(lambda: data.adding_problem(-4, 10), ValueError, "adding_problem: n", ">= 1, got -4", id="n-negative"),
    bad(lambda: data.adding_problem(True, 10), TypeError, "adding_problem: n", "got bool (True)", id="n-bool"),
    bad(lambda: data.adding_problem(np.bool_(True), 10), TypeError, "adding_problem: n", "got bool", id="n-numpy-bool"),
    bad(lambda: data.adding_problem("8", 10), TypeError, "adding_problem: n", "got str ('8')", id="n-str"),
    bad(lambda: data.adding_problem(None, 10), TypeError, "adding_problem: n", "got NoneType (None)", id="n-none"),
    bad(lambda: data.adding_problem(np.float64(8), 10), TypeError, "adding_problem: n", "got float64", id="n-numpy-float"),
    bad(lambda: data.adding_problem(torch.tensor(8.0), 10), TypeError, "adding_problem: n", "got Tensor of shape () and dtype torch.float32", id="n-float-tensor"),
    bad(lambda: data.adding_problem(8, 1), ValueError, "adding_problem: length", ">= 2, got 1", id="length-one"),
    bad(lambda: data.adding_problem(8, 10.0), TypeError, "adding_problem: length", "got float (10.0)", id="length-float"),
    bad(lambda: data.adding_problem(8, 10, seed=1.5), TypeError, "adding_problem: seed", "got float (1.5)", id="seed-float"),
    bad(lambda: data.adding_problem(8, 10, seed=None), TypeError, "adding_problem: seed", "got NoneType", id="seed-none"),
    bad(lambda: data.adding_problem(8, 10, seed="0"), TypeError, "adding_problem: seed", "got str ('0')", id="seed-str"),
    bad(lambda: data.adding_problem(8, 10, seed=2**64), ValueError, "adding_problem: seed", f"got {2**64}", id="seed-too-big"),
    bad(lambda: data.copy_task(0, 5), ValueError, "copy_task: n", ">= 1, got 0", id="copy-n-zero"),
    bad(lambda: data.copy_task(4, 0), ValueError, "copy_task: delay", ">= 1, got 0", id="copy-delay-zero"),
    bad(lambda: data.copy_task(4, 2.5), TypeError, "copy_task: delay", "got float (2.5)", id="copy-delay-float"),
    bad(lambda: data.copy_task(4, 5, n_symbols=0), ValueError, "copy_task: n_symbols", ">= 1, got 0", id="copy-no-symbols"),
    bad(lambda: data.copy_task(4, 5, n_symbols=8.0), TypeError, "copy_task: n_symbols", "got float (8.0)", id="copy-symbols-float"),
    bad(lambda: data.copy_task(4, 5, copy_len=0), ValueError, "copy_task: copy_len", ">= 1, got 0", id="copy-len-zero"),
    bad(lambda: data.copy_task(4, 5, copy_len=False), TypeError, "copy_task: copy_len", "got bool (False)", id="copy-len-bool"),
    bad(lambda: data.copy_task(4, 5, seed=[0]), TypeError, "copy_task: seed", "got list ([0])", id="copy-seed-list"),
    bad(lambda: data.temporal_order(0, 16), ValueError, "temporal_order: n", ">= 1, got 0", id="order-n-zero"),
    bad(lambda: data.temporal_order(4, 5), ValueError, "temporal_order: length", ">= 6, got 5", id="order-too-short"),
    bad(lambda: data.temporal_order(4, 16.0), TypeError, "temporal_order: length", "got float (16.0)", id="order-length-float"),
    bad(lambda: data.temporal_order(4, 16, seed=0.0), TypeError, "temporal_order: seed", "got float (0.0)", id="order-seed-float"),
])
def test_synthetic_tasks_reject_bad_sizes_and_seeds_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.split_indices(0), ValueError, "split_indices: n", ">= 1, got 0", id="n-zero"),
    bad(lambda: data.split_indices(10.0), TypeError, "split_indices: n", "got float (10.0)", id="n-float"),
    bad(lambda: data.split_indices(True), TypeError, "split_indices: n", "got bool (True)", id="n-bool"),
    bad(lambda: data.split_indices(2), ValueError, "split_indices: n", "got 2 items (parts of [2, 0, 0])", id="n-fewer-than-parts"),
    bad(lambda: data.split_indices(10, (0.98, 0.01, 0.01)), ValueError, "split_indices: n", "got 10 items", id="a-part-empty"),
    bad(lambda: data.split_indices(10, (0.5, 0.2)), ValueError, "split_indices: fractions", "sum to 1", "got (0.5, 0.2)", id="sum-below-1"),
    bad(lambda: data.split_indices(10, (float("nan"), 0.5)), ValueError, "split_indices: fractions", "got (nan, 0.5)", id="nan"),
    bad(lambda: data.split_indices(10, (0.5, float("inf"))), ValueError, "split_indices: fractions", "got (0.5, inf)", id="inf"),
    bad(lambda: data.split_indices(10, (1.0,)), ValueError, "split_indices: fractions", "two or more", "got (1.0,)", id="one-part"),
    bad(lambda: data.split_indices(10, ()), ValueError, "split_indices: fractions", "got ()", id="no-parts"),
    bad(lambda: data.split_indices(10, (1.5, -0.5)), ValueError, "split_indices: fractions", "positive", "got (1.5, -0.5)", id="negative"),
    bad(lambda: data.split_indices(10, 0.8), TypeError, "split_indices: fractions", "got float (0.8)", id="a-number"),
    bad(lambda: data.split_indices(10, "0.8"), TypeError, "split_indices: fractions", "got str ('0.8')", id="a-str"),
    bad(lambda: data.split_indices(10, {0.5, 0.25}), TypeError, "split_indices: fractions", "got set", id="a-set"),
    bad(lambda: data.split_indices(10, (0.5, "0.5")), TypeError, "split_indices: fractions", "got str ('0.5') at fractions[1]", id="a-str-inside"),
    bad(lambda: data.split_indices(10, (True, False)), TypeError, "split_indices: fractions", "got bool (True) at fractions[0]", id="bools"),
    bad(lambda: data.split_indices(10, seed=-1), ValueError, "split_indices: seed", ">= 0, got -1", id="seed-negative"),
    bad(lambda: data.split_indices(10, seed=0.5), TypeError, "split_indices: seed", "got float (0.5)", id="seed-float"),
    bad(lambda: data.split_indices(10, seed=None), TypeError, "split_indices: seed", "got NoneType", id="seed-none"),
    bad(lambda: data.split_sequence(12345), TypeError, "split_sequence: sequence", "got int (12345)", id="seq-int"),
    bad(lambda: data.split_sequence({"a": 1}), TypeError, "split_sequence: sequence", "got dict", id="seq-dict"),
    bad(lambda: data.split_sequence(torch.tensor(3.0)), ValueError, "split_sequence: sequence", "got Tensor of shape ()", id="seq-0d"),
    bad(lambda: data.split_sequence("ab"), ValueError, "split_sequence: sequence", "got 2 items", id="seq-too-short"),
    bad(lambda: data.split_sequence("", (0.5, 0.5)), ValueError, "split_sequence: sequence", "got 0 items", id="seq-empty"),
    bad(lambda: data.split_sequence("abcdefghij", (0.6, 0.2)), ValueError, "split_sequence: fractions", "got (0.6, 0.2)", id="seq-sum"),
    bad(lambda: data.split_sequence("abcdefghij", (float("nan"), 1.0)), ValueError, "split_sequence: fractions", "got (nan, 1.0)", id="seq-nan"),
    bad(lambda: data.split_sequence("abcdefghij", None), TypeError, "split_sequence: fractions", "got NoneType", id="seq-fractions-none"),
])
def test_splits_reject_bad_sizes_fractions_and_seeds_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()


@pytest.mark.parametrize("tokenize", [data.char_tokenize, data.word_tokenize])
@pytest.mark.parametrize("text, got", [(None, "NoneType (None)"), (5, "int (5)"),
                                       (["to", "be"], "list (['to', 'be'])"),
                                       (b"to be", "bytes (b'to be')")])
def test_tokenizers_reject_what_is_not_text_naming_it(tokenize, text, got):
    with raises(TypeError, f"{tokenize.__name__}: text should be a str", f"got {got}"):
        tokenize(text)


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.Vocab("abc", min_freq=0), ValueError, "Vocab: min_freq", ">= 1, got 0", id="min-freq-zero"),
    bad(lambda: data.Vocab("abc", min_freq=1.5), TypeError, "Vocab: min_freq", "got float (1.5)", id="min-freq-float"),
    bad(lambda: data.Vocab("abc", min_freq=True), TypeError, "Vocab: min_freq", "got bool (True)", id="min-freq-bool"),
    bad(lambda: data.Vocab("abc", max_size=0), ValueError, "Vocab: max_size", ">= 2, got 0", id="max-size-zero"),
    bad(lambda: data.Vocab("abc", max_size=1), ValueError, "Vocab: max_size", ">= 2, got 1", id="max-size-below-specials"),
    bad(lambda: data.Vocab("abc", max_size=0, specials=False), ValueError, "Vocab: max_size", ">= 1, got 0", id="max-size-zero-no-specials"),
    bad(lambda: data.Vocab("abc", max_size=10.0), TypeError, "Vocab: max_size", "got float (10.0)", id="max-size-float"),
    bad(lambda: data.Vocab("abc", specials=1), TypeError, "Vocab: specials", "bool", "got int (1)", id="specials-int"),
    bad(lambda: data.Vocab("abc", specials="no"), TypeError, "Vocab: specials", "got str ('no')", id="specials-str"),
    bad(lambda: data.Vocab(5), TypeError, "Vocab: tokens", "got int (5)", id="tokens-int"),
    bad(lambda: data.Vocab(None), TypeError, "Vocab: tokens", "got NoneType", id="tokens-none"),
    bad(lambda: data.Vocab(b"abc"), TypeError, "Vocab: tokens", "got bytes", id="tokens-bytes"),
    bad(lambda: data.Vocab([["to", "be"], ["or"]]), TypeError, "Vocab: tokens", "list", id="list-of-lists"),
    bad(lambda: data.Vocab([1, 2, 2]), TypeError, "Vocab: tokens", "got int (1)", id="int-tokens"),
    bad(lambda: data.Vocab(("a", ("b",))), TypeError, "Vocab: tokens", "got tuple (('b',))", id="tuple-token"),
    bad(lambda: data.Vocab([], specials=False), ValueError, "Vocab: tokens", "got 0 distinct tokens", id="empty"),
    bad(lambda: data.Vocab("aab", min_freq=3, specials=False), ValueError, "Vocab: tokens", "min_freq=3", "got 2 distinct tokens", id="all-too-rare"),
])
def test_vocab_rejects_bad_tokens_and_settings_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda v: v.encode(5), TypeError, "Vocab.encode: tokens", "got int (5)", id="encode-int"),
    bad(lambda v: v.encode(None), TypeError, "Vocab.encode: tokens", "got NoneType", id="encode-none"),
    bad(lambda v: v.encode(b"ab"), TypeError, "Vocab.encode: tokens", "got bytes", id="encode-bytes"),
    bad(lambda v: v.encode(["a", 3]), TypeError, "Vocab.encode: tokens", "got int (3) at position 1", id="encode-int-token"),
    bad(lambda v: v.encode(["a", ["b"]]), TypeError, "Vocab.encode: tokens", "got list (['b']) at position 1", id="encode-list-token"),
    bad(lambda v: v.decode([1, 2.5]), TypeError, "Vocab.decode: ids[1]", "got float (2.5)", id="decode-float"),
    bad(lambda v: v.decode([True]), TypeError, "Vocab.decode: ids[0]", "got bool (True)", id="decode-bool"),
    bad(lambda v: v.decode(["a"]), TypeError, "Vocab.decode: ids[0]", "got str ('a')", id="decode-str-id"),
    bad(lambda v: v.decode([2, -1]), ValueError, "Vocab.decode: ids[1]", "from 0 to 6, got -1", id="decode-negative"),
    bad(lambda v: v.decode([7]), ValueError, "Vocab.decode: ids[0]", "from 0 to 6, got 7", id="decode-past-the-end"),
    bad(lambda v: v.decode(torch.tensor([2.0, 3.0])), TypeError, "Vocab.decode: ids[0]", "got float (2.0)", id="decode-float-tensor"),
    bad(lambda v: v.decode(torch.tensor([[2, 3]])), ValueError, "Vocab.decode: ids", "1-D", "got Tensor of shape (1, 2)", id="decode-2d"),
    bad(lambda v: v.decode(torch.tensor(2)), ValueError, "Vocab.decode: ids", "got Tensor of shape ()", id="decode-0d"),
    bad(lambda v: v.decode(np.array([0.5])), TypeError, "Vocab.decode: ids[0]", "got float (0.5)", id="decode-float-array"),
    bad(lambda v: v.decode(5), TypeError, "Vocab.decode: ids", "got int (5)", id="decode-int"),
    bad(lambda v: v.decode("23"), TypeError, "Vocab.decode: ids", "got str ('23')", id="decode-str"),
    bad(lambda v: v.decode([2], sep=None), TypeError, "Vocab.decode: sep", "got NoneType (None)", id="decode-sep-none"),
    bad(lambda v: v.decode([2], sep=0), TypeError, "Vocab.decode: sep", "got int (0)", id="decode-sep-int"),
])
def test_vocab_encode_and_decode_reject_bad_tokens_and_ids_naming_them(call, error, fragments):
    vocab = data.Vocab("abracadabra")  # 7 tokens: ids 0..6
    with raises(error, *fragments):
        call(vocab)


def seqs(*lengths, features=(), dtype=torch.float32):
    return [torch.zeros(n, *features, dtype=dtype) for n in lengths]


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.pad_batch([]), ValueError, "pad_batch: sequences", "got none", id="empty"),
    bad(lambda: data.pad_batch(5), TypeError, "pad_batch: sequences", "got int (5)", id="int"),
    bad(lambda: data.pad_batch("abc"), TypeError, "pad_batch: sequences", "got str ('abc')", id="str"),
    bad(lambda: data.pad_batch(s for s in seqs(2, 3)), TypeError, "pad_batch: sequences", "got generator", id="generator"),
    bad(lambda: data.pad_batch([torch.zeros(2), [1, 2]]), TypeError, "pad_batch: sequences[1]", "got list ([1, 2])", id="a-list-inside"),
    bad(lambda: data.pad_batch([np.zeros(3)]), TypeError, "pad_batch: sequences[0]", "got ndarray of shape (3,)", id="an-array-inside"),
    bad(lambda: data.pad_batch(seqs(2, 4, features=(3,))[:1] + seqs(4, features=(2,))), ValueError, "pad_batch: sequences[1]", "(T_i, 3)", "got shape (4, 2)", id="features-differ"),
    bad(lambda: data.pad_batch(seqs(2) + seqs(2, features=(1,))), ValueError, "pad_batch: sequences[1]", "(T_i)", "got shape (2, 1)", id="dims-differ"),
    bad(lambda: data.pad_batch([torch.tensor(1.0)]), ValueError, "pad_batch: sequences[0]", "got shape ()", id="0-d"),
    bad(lambda: data.pad_batch(seqs(3, 0, 2)), ValueError, "pad_batch: sequences[1]", "T_i >= 1, got shape (0,)", id="an-empty-sequence"),
    bad(lambda: data.pad_batch(seqs(3) + seqs(2, dtype=torch.int64)), TypeError, "pad_batch: sequences[1]", "dtype torch.float32", "got torch.int64", id="dtypes-differ"),
    bad(lambda: data.pad_batch(seqs(3, 2), batch_first=1), TypeError, "pad_batch: batch_first", "bool", "got int (1)", id="batch-first-int"),
    bad(lambda: data.pad_batch(seqs(3, 2), batch_first="True"), TypeError, "pad_batch: batch_first", "got str ('True')", id="batch-first-str"),
    bad(lambda: data.pad_batch(seqs(3, 2), batch_first=None), TypeError, "pad_batch: batch_first", "got NoneType", id="batch-first-none"),
    bad(lambda: data.pad_batch(seqs(3, 2), padding_value="0"), TypeError, "pad_batch: padding_value", "got str ('0')", id="padding-str"),
    bad(lambda: data.pad_batch(seqs(3, 2), padding_value=None), TypeError, "pad_batch: padding_value", "got NoneType", id="padding-none"),
    bad(lambda: data.pad_batch(seqs(3, 2), padding_value=True), TypeError, "pad_batch: padding_value", "got bool (True)", id="padding-bool"),
    bad(lambda: data.pad_batch(seqs(3, 2, dtype=torch.int64), padding_value=0.5), ValueError, "pad_batch: padding_value", "torch.int64, got 0.5", id="padding-fraction-for-ids"),
    bad(lambda: data.pad_batch(seqs(3, 2, dtype=torch.int64), padding_value=float("nan")), ValueError, "pad_batch: padding_value", "got nan", id="padding-nan-for-ids"),
])
def test_pad_batch_rejects_bad_sequences_and_settings_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.collate_padded([]), ValueError, "collate_padded: batch", "got none", id="empty"),
    bad(lambda: data.collate_padded(5), TypeError, "collate_padded: batch", "got int (5)", id="int"),
    bad(lambda: data.collate_padded(seqs(2, 3)), TypeError, "collate_padded: batch[0]", "pair", "got Tensor of shape (2,)", id="no-labels"),
    bad(lambda: data.collate_padded([(torch.zeros(2), 1, 2)]), TypeError, "collate_padded: batch[0]", "pair", "got tuple", id="a-triple"),
    bad(lambda: data.collate_padded([([1, 2], 0)]), TypeError, "collate_padded: batch[0][0]", "got list ([1, 2])", id="a-list-sequence"),
    bad(lambda: data.collate_padded([(torch.zeros(2, 3), 0), (torch.zeros(2, 4), 1)]), ValueError, "collate_padded: batch[1][0]", "(T_i, 3)", "got shape (2, 4)", id="features-differ"),
    bad(lambda: data.collate_padded([(torch.zeros(2), 0), (torch.zeros(0), 1)]), ValueError, "collate_padded: batch[1][0]", "got shape (0,)", id="an-empty-sequence"),
    bad(lambda: data.collate_padded([(torch.zeros(2), 0), (torch.zeros(2).double(), 1)]), TypeError, "collate_padded: batch[1][0]", "got torch.float64", id="dtypes-differ"),
    bad(lambda: data.collate_padded([(torch.zeros(2), "pos")]), TypeError, "collate_padded: batch[0][1]", "got str ('pos')", id="a-str-label"),
    bad(lambda: data.collate_padded([(torch.zeros(2), None)]), TypeError, "collate_padded: batch[0][1]", "got NoneType", id="a-none-label"),
    bad(lambda: data.collate_padded([(torch.zeros(2), torch.zeros(2)), (torch.zeros(3), torch.zeros(3))]), ValueError, "collate_padded: the labels", "got shapes [(2,), (3,)]", id="label-shapes-differ"),
    bad(lambda: data.collate_padded([(torch.zeros(2), 0)], batch_first=0), TypeError, "collate_padded: batch_first", "got int (0)", id="batch-first-int"),
    bad(lambda: data.collate_padded([(torch.zeros(2), 0)], padding_value="x"), TypeError, "collate_padded: padding_value", "got str ('x')", id="padding-str"),
])
def test_collate_padded_rejects_bad_pairs_and_settings_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()


X = torch.zeros(3, 5, 4)  # (B, T, F) = (3, 5, 4), batch first


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.pack([[1.0]], torch.tensor([1])), TypeError, "pack: padded", "got list", id="padded-list"),
    bad(lambda: data.pack(torch.zeros(5), torch.tensor([5])), ValueError, "pack: padded", "got shape (5,)", id="padded-1d"),
    bad(lambda: data.pack(torch.zeros(0, 5, 4), torch.tensor([], dtype=torch.int64)), ValueError, "pack: padded", "B >= 1", "got shape (0, 5, 4)", id="padded-no-sequences"),
    bad(lambda: data.pack(torch.zeros(3, 0, 4), torch.tensor([1, 1, 1])), ValueError, "pack: padded", "T >= 1", "got shape (3, 0, 4)", id="padded-no-steps"),
    bad(lambda: data.pack(X, torch.tensor([3.0, 5.0, 1.0])), TypeError, "pack: lengths", "integer", "got dtype torch.float32", id="float-lengths"),
    bad(lambda: data.pack(X, [3.0, 5.0, 1.0]), TypeError, "pack: lengths", "got dtype torch.float32", id="float-list"),
    bad(lambda: data.pack(X, torch.tensor([True, True, True])), TypeError, "pack: lengths", "got dtype torch.bool", id="bool-lengths"),
    bad(lambda: data.pack(X, torch.tensor([3, 5])), ValueError, "pack: lengths", "shape (3,)", "got shape (2,)", id="too-few"),
    bad(lambda: data.pack(X, torch.tensor([[3], [5], [1]])), ValueError, "pack: lengths", "shape (3,)", "got shape (3, 1)", id="2-d"),
    bad(lambda: data.pack(X, torch.tensor(3)), ValueError, "pack: lengths", "got shape ()", id="0-d"),
    bad(lambda: data.pack(X, torch.tensor([3, 0, 1])), ValueError, "pack: lengths", "from 1 to T = 5", "got [3, 0, 1]", id="a-zero"),
    bad(lambda: data.pack(X, torch.tensor([3, -2, 1])), ValueError, "pack: lengths", "got [3, -2, 1]", id="negative"),
    bad(lambda: data.pack(X, torch.tensor([3, 6, 1])), ValueError, "pack: lengths", "from 1 to T = 5", "got [3, 6, 1]", id="past-the-padding"),
    bad(lambda: data.pack(torch.zeros(20, 5), torch.full((20,), 9)), ValueError, "pack: lengths", "got lengths from 9 to 9", id="long-batch"),
    bad(lambda: data.pack(torch.zeros(5, 3, 4), torch.tensor([5, 2, 3, 1, 1]), batch_first=False), ValueError, "pack: lengths", "shape (3,)", "got shape (5,)", id="time-major-batch-size"),
    bad(lambda: data.pack(torch.zeros(5, 3, 4), torch.tensor([5, 6, 3]), batch_first=False), ValueError, "pack: lengths", "T = 5", "got [5, 6, 3]", id="time-major-too-long"),
    bad(lambda: data.pack(X, 3), TypeError, "pack: lengths", "got int (3)", id="int"),
    bad(lambda: data.pack(X, None), TypeError, "pack: lengths", "got NoneType", id="none"),
    bad(lambda: data.pack(X, "351"), TypeError, "pack: lengths", "got str ('351')", id="str"),
    bad(lambda: data.pack(X, [[1, 2], [3]]), TypeError, "pack: lengths", "got list", id="ragged-list"),
    bad(lambda: data.pack(X, torch.tensor([3, 5, 1]), batch_first="yes"), TypeError, "pack: batch_first", "got str ('yes')", id="batch-first-str"),
    bad(lambda: data.pack(X, torch.tensor([3, 5, 1]), batch_first=1), TypeError, "pack: batch_first", "got int (1)", id="batch-first-int"),
])
def test_pack_rejects_bad_batches_and_lengths_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.batchify(list(range(20)), 0), ValueError, "batchify: batch_size", ">= 1, got 0", id="batch-size-zero"),
    bad(lambda: data.batchify(list(range(20)), -2), ValueError, "batchify: batch_size", ">= 1, got -2", id="batch-size-negative"),
    bad(lambda: data.batchify(list(range(20)), 2.0), TypeError, "batchify: batch_size", "got float (2.0)", id="batch-size-float"),
    bad(lambda: data.batchify(list(range(20)), True), TypeError, "batchify: batch_size", "got bool (True)", id="batch-size-bool"),
    bad(lambda: data.batchify(list(range(20)), None), TypeError, "batchify: batch_size", "got NoneType", id="batch-size-none"),
    bad(lambda: data.batchify(list(range(20)), 11), ValueError, "batchify: batch_size", "at most len(ids) // 2 = 10", "got 11", id="more-rows-than-the-stream-allows"),
    bad(lambda: data.batchify(list(range(20)), 50), ValueError, "batchify: batch_size", "got 50 for a stream of 20 tokens", id="batch-larger-than-stream"),
    bad(lambda: data.batchify("abcdef", 2), TypeError, "batchify: ids", "got str ('abcdef')", id="ids-str"),
    bad(lambda: data.batchify(5, 2), TypeError, "batchify: ids", "got int (5)", id="ids-int"),
    bad(lambda: data.batchify(None, 2), TypeError, "batchify: ids", "got NoneType", id="ids-none"),
    bad(lambda: data.batchify([1.5, 2.5, 3.5, 4.0], 2), TypeError, "batchify: ids", "integer", "got dtype torch.float32", id="ids-floats"),
    bad(lambda: data.batchify(torch.rand(10), 2), TypeError, "batchify: ids", "got dtype torch.float32", id="ids-float-tensor"),
    bad(lambda: data.batchify(np.linspace(0, 1, 10), 2), TypeError, "batchify: ids", "got dtype torch.float64", id="ids-float-array"),
    bad(lambda: data.batchify([True, False] * 5, 2), TypeError, "batchify: ids", "got dtype torch.bool", id="ids-bools"),
    bad(lambda: data.batchify(["a", "b", "c", "d"], 2), TypeError, "batchify: ids", "got list", id="ids-strs"),
    bad(lambda: data.batchify([[1, 2], [3]], 1), TypeError, "batchify: ids", "got list", id="ids-ragged"),
    bad(lambda: data.batchify(torch.zeros(2, 10, dtype=torch.int64), 2), ValueError, "batchify: ids", "1-D", "got shape (2, 10)", id="ids-2d"),
    bad(lambda: data.batchify([], 1), ValueError, "batchify: ids", "at least 2 tokens, got 0", id="ids-empty"),
    bad(lambda: data.batchify([7], 1), ValueError, "batchify: ids", "at least 2 tokens, got 1", id="ids-one"),
    bad(lambda: data.batchify([3, -1, 2, 4], 2), ValueError, "batchify: ids", ">= 0", "got -1 among them", id="ids-negative"),
])
def test_batchify_rejects_bad_streams_and_batch_sizes_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()


def test_batchify_rejects_a_batch_size_of_zero_naming_it():
    with raises(ValueError, "batchify: batch_size should be an int >= 1, got 0"):
        data.batchify(torch.arange(20), batch_size=0)


ROWS = torch.arange(20).view(2, 10)


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.bptt_batches(ROWS.tolist(), 4), TypeError, "bptt_batches: rows", "got list", id="rows-list"),
    bad(lambda: data.bptt_batches(ROWS.numpy(), 4), TypeError, "bptt_batches: rows", "got ndarray of shape (2, 10)", id="rows-array"),
    bad(lambda: data.bptt_batches(torch.arange(10), 4), ValueError, "bptt_batches: rows", "(B, N)", "got shape (10,)", id="rows-1d"),
    bad(lambda: data.bptt_batches(torch.zeros(2, 3, 4), 4), ValueError, "bptt_batches: rows", "got shape (2, 3, 4)", id="rows-3d"),
    bad(lambda: data.bptt_batches(torch.zeros(2, 1), 4), ValueError, "bptt_batches: rows", "N >= 2", "got shape (2, 1)", id="rows-one-column"),
    bad(lambda: data.bptt_batches(torch.zeros(0, 10), 4), ValueError, "bptt_batches: rows", "B >= 1", "got shape (0, 10)", id="rows-no-rows"),
    bad(lambda: data.bptt_batches(ROWS, 0), ValueError, "bptt_batches: seq_len", ">= 1, got 0", id="seq-len-zero"),
    bad(lambda: data.bptt_batches(ROWS, -3), ValueError, "bptt_batches: seq_len", ">= 1, got -3", id="seq-len-negative"),
    bad(lambda: data.bptt_batches(ROWS, 2.5), TypeError, "bptt_batches: seq_len", "got float (2.5)", id="seq-len-float"),
    bad(lambda: data.bptt_batches(ROWS, True), TypeError, "bptt_batches: seq_len", "got bool (True)", id="seq-len-bool"),
    bad(lambda: data.bptt_batches(ROWS, None), TypeError, "bptt_batches: seq_len", "got NoneType", id="seq-len-none"),
])
def test_bptt_batches_rejects_bad_rows_and_seq_len_at_the_call_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()  # not iterated: the check comes at the call, not at the first window


@pytest.mark.parametrize("call, error, fragments", [
    bad(lambda: data.load_japanese_vowels("valid"), ValueError, "load_japanese_vowels: split", "'train' or 'test'", "got 'valid'", id="vowels-unknown-split"),
    bad(lambda: data.load_japanese_vowels("TRAIN"), ValueError, "load_japanese_vowels: split", "got 'TRAIN'", id="vowels-upper-case"),
    bad(lambda: data.load_japanese_vowels(0), TypeError, "load_japanese_vowels: split", "got int (0)", id="vowels-int"),
    bad(lambda: data.load_japanese_vowels(None), TypeError, "load_japanese_vowels: split", "got NoneType", id="vowels-none"),
    bad(lambda: data.data_path(5), TypeError, "data_path: name", "got int (5)", id="data-path-int"),
    bad(lambda: data.data_path(ROOT / "data" / "shakespeare.txt"), TypeError, "data_path: name", "got PosixPath", id="data-path-a-path"),
    bad(lambda: data.sha256(5), TypeError, "sha256: path", "got int (5)", id="sha256-int"),
    bad(lambda: data.Sentences("ab", np.zeros(2), np.zeros(2)), TypeError, "Sentences: texts", "got str ('ab')", id="sentences-texts-str"),
    bad(lambda: data.Sentences(["a", "b"], [1, 0], np.zeros(2)), TypeError, "Sentences: labels", "got list ([1, 0])", id="sentences-labels-list"),
    bad(lambda: data.Sentences(["a", "b"], np.zeros(2), np.zeros(3)), ValueError, "Sentences: ratings", "shape (2,)", "got shape (3,)", id="sentences-ratings-length"),
])
def test_loaders_reject_bad_names_and_fields_naming_them(call, error, fragments):
    with raises(error, *fragments):
        call()


def test_the_kinds_of_input_the_notebooks_use_are_still_accepted():
    # NumPy integers and 0-d integer tensors count as ints; lists, tuples, arrays and tensors
    # of ids all batchify; lengths may be int32, a list or a tensor.
    assert [len(p) for p in data.split_indices(np.int64(10), np.array([0.5, 0.5]), np.int64(1))] == [5, 5]
    assert data.adding_problem(np.int64(2), np.int32(4), seed=np.int64(3))[0].shape == (2, 4, 2)
    assert data.copy_task(torch.tensor(2), 3)[0].shape == (2, 3 + 2 * 10)
    for ids in (list(range(12)), tuple(range(12)), np.arange(12), torch.arange(12, dtype=torch.int32)):
        rows = data.batchify(ids, np.int64(3))
        assert rows.dtype == torch.int64 and rows.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert len(list(data.bptt_batches(rows, np.int64(2)))) == 2
    vocab = data.Vocab(iter("abracadabra"), min_freq=np.int64(1), max_size=np.int64(5), specials=np.bool_(True))
    assert vocab.decode(torch.tensor(vocab.encode("aba"))) == vocab.decode(np.array([2, 3, 2])) == "aba"
    x, lengths = data.pad_batch((torch.ones(2, 3), torch.ones(4, 3)), batch_first=np.bool_(False), padding_value=np.float32(-1))
    assert x.shape == (4, 2, 3) and x[2:, 0].eq(-1).all()
    for lens in (lengths, lengths.int(), [2, 4], np.array([2, 4])):
        assert data.pack(x, lens, batch_first=False).batch_sizes.tolist() == [2, 2, 1, 1]
    (_, _), labels = data.collate_padded([(torch.ones(2), torch.tensor(1.0)), (torch.ones(3), np.float64(0))])
    assert labels.tolist() == [1.0, 0.0]
    assert data.split_sequence(np.arange(10), (0.5, 0.5))[1].tolist() == [5, 6, 7, 8, 9]
