"""rnnlib.data: checksummed files, loaders, splits, vocabularies, batching, synthetic tasks."""

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


def test_pad_batch_rejects_mismatched_features():
    with pytest.raises(ValueError, match=r"sequence 1 has shape \(4, 3\)"):
        data.pad_batch([torch.zeros(2, 2), torch.zeros(4, 3)])


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
