"""Trade-id spans: union, difference, and the runs a set of ids leaves out (worked by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from tradestream.history.ids import IdSpan, merge, missing_runs, subtract


def test_spans_merge_when_they_overlap_or_touch_and_drop_empty_ones():
    assert merge([IdSpan(5, 9), IdSpan(1, 3), IdSpan(4, 4), IdSpan(20, 19), IdSpan(12, 15), IdSpan(14, 30)]) == \
        [IdSpan(1, 9), IdSpan(12, 30)]


def test_held_spans_are_taken_out_of_a_range():
    assert subtract(IdSpan(1, 100), [IdSpan(10, 19), IdSpan(50, 200), IdSpan(0, 2)]) == \
        [IdSpan(3, 9), IdSpan(20, 49)]
    assert subtract(IdSpan(1, 10), []) == [IdSpan(1, 10)]
    assert subtract(IdSpan(5, 6), [IdSpan(1, 10)]) == []


def test_missing_runs_are_the_ids_a_page_left_out():
    ids = np.array([10, 9, 7, 3, 2, 2], dtype=np.int64)
    assert missing_runs(ids, IdSpan(1, 12)) == [IdSpan(1, 1), IdSpan(4, 6), IdSpan(8, 8), IdSpan(11, 12)]
    assert missing_runs(ids, IdSpan(7, 7)) == []
    assert missing_runs(np.array([], dtype=np.int64), IdSpan(3, 4)) == [IdSpan(3, 4)]


def test_a_reversed_span_is_refused_and_an_empty_one_has_no_ids():
    with pytest.raises(ValueError, match=r"id span \[5, 2\] is reversed"):
        IdSpan(5, 2)
    assert len(IdSpan(5, 4)) == 0
