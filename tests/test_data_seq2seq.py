"""The sequence-to-sequence tasks of rnnlib.data (notebook 11): seeded, distinct, right."""

from __future__ import annotations

import datetime

import pytest

from rnnlib import data


def test_format_date_writes_every_form_of_one_day():
    day = datetime.date(2024, 3, 5)
    forms = {style: data.format_date(day, style) for style in data.DATE_FORMATS}
    assert forms == {"long": "March 5, 2024", "day_month": "5 March 2024",
                     "short": "5 Mar 2024", "chinese": "2024年3月5日",
                     "chinese_year": "二〇二四年3月5日", "slashes": "05/03/2024"}


def test_format_date_names_a_wrong_style():
    with pytest.raises(ValueError, match="style should be one of"):
        data.format_date(datetime.date(2024, 3, 5), "iso")


def test_date_pairs_are_seeded_distinct_and_their_targets_iso():
    pairs = data.date_pairs(500, seed=3)
    assert pairs == data.date_pairs(500, seed=3)
    assert pairs != data.date_pairs(500, seed=4)
    targets = [y for _, y in pairs]
    assert len(set(targets)) == 500
    for source, target in pairs:
        day = datetime.date.fromisoformat(target)
        assert 1950 <= day.year <= 2049
        assert source in {data.format_date(day, s) for s in data.DATE_FORMATS}


def test_date_pairs_use_every_form():
    sources = [x for x, _ in data.date_pairs(600, seed=0)]
    assert any("年" in x and x[0].isdigit() for x in sources)
    assert any(x.startswith(("一", "二")) for x in sources)
    assert any("/" in x for x in sources) and any("," in x for x in sources)


def test_date_pairs_refuse_more_days_than_exist():
    with pytest.raises(ValueError, match="at most"):
        data.date_pairs(400, first_year=2000, last_year=2000)


def test_reversal_pairs_reverse_distinct_digit_strings_in_the_length_range():
    pairs = data.reversal_pairs(300, 4, 12, seed=1)
    assert pairs == data.reversal_pairs(300, 4, 12, seed=1)
    assert len({x for x, _ in pairs}) == 300
    assert all(y == x[::-1] and x.isdigit() and 4 <= len(x) <= 12 for x, y in pairs)
    assert {len(x) for x, _ in pairs} == set(range(4, 13))


def test_reversal_pairs_check_their_arguments():
    with pytest.raises(ValueError, match="max_length"):
        data.reversal_pairs(10, 8, 4)
    with pytest.raises(ValueError, match="at most half"):
        data.reversal_pairs(100, 1, 2)
    with pytest.raises(TypeError):
        data.reversal_pairs("10")
