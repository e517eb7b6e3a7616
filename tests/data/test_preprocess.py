from pathlib import Path

import numpy as np
import pytest

from pyg_srgnn.data.click_logs import read_diginetica_csv
from pyg_srgnn.data.preprocess import (
    ClickLog,
    SessionSplit,
    clean_split,
    filter_clicks,
    group_sessions,
    official_split,
    split_sessions,
    yoochoose_fraction,
)
from pyg_srgnn.data.safe_pickle import load_pickle
from pyg_srgnn.data.sequences import Sequences, prefix_augment

SAMPLE_CSV = (Path(__file__).resolve().parents[2] / 'datasets' /
              'diginetica-sample' / 'train-item-views.csv')
DAY = 86400


def click_log(rows):
    r"""A :class:`ClickLog` from :obj:`(session, item, time, day)` rows in
    file order. Item codes follow the labels' sorted order on purpose, so
    that they differ from the order of first appearance."""
    rows = np.array(rows, dtype=object)
    item_labels, item = np.unique(rows[:, 1].astype(str), return_inverse=True)
    return ClickLog(session=rows[:, 0].astype(np.int64), item=item,
                    time=rows[:, 2].astype(np.int64),
                    date=rows[:, 3].astype(np.int64) * DAY,
                    item_labels=item_labels)


def test_group_sessions():
    log = click_log([
        (0, 'a', 5, 1),
        (0, 'b', 3, 1),
        (1, 'c', 1, 2),
        (0, 'c', 3, 3),  # ties with 'b' on time: file order is kept
        (1, 'a', 0, 2),
        (2, 'b', 7, 1),
    ])
    assert len(log) == 6
    sessions, dates = group_sessions(log)
    assert sessions.tolist() == [[1, 2, 0], [0, 2], [1]]
    # The date of the last row in the file, not of the latest click:
    assert (dates // DAY).tolist() == [3, 2, 1]


def test_group_sessions_in_file_order():
    # Equal times (YOOCHOOSE): clicks in file order, sessions interleaved.
    log = click_log([(1, 'a', 0, 4), (0, 'b', 0, 1), (1, 'c', 0, 2),
                     (0, 'a', 0, 3), (2, 'c', 0, 5), (0, 'c', 0, 1)])
    sessions, dates = group_sessions(log)
    assert sessions.tolist() == [[1, 0, 2], [0, 2], [2]]
    assert (dates // DAY).tolist() == [1, 2, 5]
    # Each session's clicks together: no sort needed, the same grouping.
    log = click_log([(0, 'a', 0, 4), (0, 'b', 0, 1), (1, 'c', 0, 2),
                     (2, 'a', 0, 3), (2, 'c', 0, 5), (2, 'b', 0, 1)])
    sessions, dates = group_sessions(log)
    assert sessions.tolist() == [[0, 1], [2], [0, 2, 1]]
    assert (dates // DAY).tolist() == [1, 2, 1]


def test_select_gathers_any_order():
    rng = np.random.default_rng(0)
    lists = [rng.integers(0, 9, int(n)).tolist()
             for n in rng.integers(0, 5, 50)]
    seqs = Sequences.from_lists(lists)
    index = rng.integers(0, 50, 80)  # repeats, empty sequences, any order
    assert seqs.select(index).tolist() == [lists[i] for i in index]
    assert seqs.select(np.zeros(0, dtype=np.int64)).tolist() == []
    # A range: a view of the values.
    view = seqs.select(np.arange(10, 20))
    assert view.tolist() == lists[10:20] and view.ptr[0] == 0
    assert np.shares_memory(view.values, seqs.values)


def test_filter_clicks():
    seqs = Sequences.from_lists([[1, 2, 3], [4, 5], [6], [7, 8]])
    mask = np.array([True, False, True, True, False, True, True, True])
    seqs, index = filter_clicks(seqs, mask)
    assert seqs.tolist() == [[1, 3], [7, 8]]
    assert index.tolist() == [0, 3]

    seqs, index = filter_clicks(seqs, np.ones(4, dtype=bool), min_length=3)
    assert seqs.tolist() == []
    assert index.tolist() == []


def test_official_split():
    log = click_log([
        # Session 0, day 5: sorted by time, [A, B, A].
        (0, 'A', 2, 5), (0, 'A', 0, 5), (0, 'B', 1, 5),
        (1, 'B', 0, 3), (1, 'C', 1, 3),
        (2, 'C', 0, 5), (2, 'A', 1, 5),  # day 5 too: after session 0
        (3, 'D', 0, 4),  # one click: dropped before items are counted
        (4, 'A', 0, 8), (4, 'B', 1, 8), (4, 'C', 2, 8),  # on the split day
        (5, 'C', 0, 10), (5, 'E', 1, 10), (5, 'A', 2, 10),
        (6, 'E', 0, 9), (6, 'B', 1, 9),
        (7, 'D', 0, 2), (7, 'D', 1, 2), (7, 'D', 2, 2), (7, 'D', 3, 2),
        (7, 'C', 4, 2),  # D is clicked 4 times: left [C], too short
        (8, 'E', 0, 9), (8, 'E', 1, 9), (8, 'E', 2, 9), (8, 'B', 3, 9),
        (8, 'A', 4, 9),
    ])
    split = official_split(log, test_days=2)
    # Training sessions by date; items numbered by first click there:
    # B = 1, C = 2, A = 3. Item E (5 clicks, all in the test period) is
    # unknown to training and leaves session 6 too short.
    assert split.train.tolist() == [[1, 2], [3, 1, 3], [2, 3]]
    assert (split.train_dates // DAY).tolist() == [3, 5, 5]
    assert split.test.tolist() == [[1, 3], [2, 3]]
    assert (split.test_dates // DAY).tolist() == [9, 10]
    assert split.item_labels.tolist() == ['B', 'C', 'A']
    assert split.num_items == 3


def test_official_split_nothing_left():
    log = click_log([(0, 'A', 0, 1), (0, 'A', 1, 1), (1, 'B', 0, 1)])
    with pytest.raises(ValueError, match='is left from 3 clicks'):
        official_split(log)


def test_official_split_sample(shared_data):
    # The official preprocessing's output for the sample csv, as published.
    official = shared_data / 'sample'
    split = official_split(read_diginetica_csv(SAMPLE_CSV))
    assert split.num_items == 309
    assert split.train.values.max() == 309
    assert len(split.train) == 469
    assert split.train.tolist() == load_pickle(official / 'all_train_seq.txt')

    for part, name, num_samples in ((split.train, 'train.txt', 1205),
                                    (split.test, 'test.txt', 99)):
        prefixes, targets, _ = prefix_augment(part)
        official_prefixes, official_targets = load_pickle(official / name)
        assert len(targets) == num_samples
        assert prefixes.tolist() == official_prefixes
        assert targets.tolist() == official_targets

    # The 47 test sessions quoted for the sample are those dated in the test
    # period; 8 of them keep fewer than two clicks on items seen in training.
    # Each kept session gives exactly one sample with a one-click prefix.
    assert len(split.test) == 39
    assert sum(len(p) == 1 for p in official_prefixes) == 39


def test_clean_split():
    log = click_log([
        (0, 'A', 0, 1), (0, 'B', 1, 1),
        (1, 'A', 0, 2), (1, 'B', 1, 2),
        (2, 'E', 0, 2), (2, 'C', 1, 2),
        (3, 'E', 0, 3), (3, 'A', 1, 3),
        (4, 'E', 0, 10), (4, 'A', 1, 10), (4, 'B', 2, 10),
        (5, 'C', 0, 10), (5, 'E', 1, 10),
        (6, 'D', 0, 1),  # one click: dropped first
    ])
    # Training counts A 3, B 2, C 1, E 2: C goes, and session 2 with it,
    # which leaves E once: E goes, and session 3. A and B then hold. C has a
    # second click, in the test period, that does not count.
    split = clean_split(log, test_days=2, min_item_count=2)
    assert split.train.tolist() == [[1, 2], [1, 2]]
    assert (split.train_dates // DAY).tolist() == [1, 2]
    assert split.item_labels.tolist() == ['A', 'B']
    assert split.test.tolist() == [[1, 2]]  # E is unknown to training
    assert (split.test_dates // DAY).tolist() == [10]


def test_split_sessions():
    log = click_log([(s, item, t, 1 + 9 * (s >= 5)) for s in range(6)
                     for t, item in enumerate('AB')])
    parity = split_sessions(log, test_days=2)
    assert parity.train.tolist() == official_split(log, 2).train.tolist()
    assert parity.train.tolist() == [[1, 2]] * 5
    clean = split_sessions(log, protocol='clean', test_days=2)
    assert clean.train.tolist() == [[1, 2]] * 5
    assert clean.test.tolist() == [[1, 2]]
    with pytest.raises(ValueError, match=r"Unknown protocol 'official' "
                       r"\(expected one of parity, clean\)"):
        split_sessions(log, protocol='official')


def test_split_nothing_left():
    log = click_log([(0, 'A', 0, 1), (1, 'B', 0, 1)])
    for split in (official_split, clean_split):
        with pytest.raises(ValueError, match='No session of two or more '
                           'clicks is in the 2 clicks of the log'):
            split(log)

    # Nothing is dated before the test period:
    log = click_log([(s, item, t, 1) for s in range(5)
                     for t, item in enumerate('AB')])
    for split in (official_split, clean_split):
        with pytest.raises(ValueError, match=r'No session is dated more '
                           r'than 7 day\(s\) before the last one, '
                           r'1970-01-02T00:00:00: nothing is left for '
                           r'training'):
            split(log)

    # Five clicks on A and on B, but only two of each in training:
    log = click_log([(s, item, t, 1 + 9 * (s >= 2)) for s in range(5)
                     for t, item in enumerate('AB')])
    assert official_split(log, test_days=2).train.tolist() == [[1, 2]] * 2
    with pytest.raises(ValueError, match='No training session of two or more '
                       'clicks on items clicked at least 5 times is left '
                       'from 10 clicks'):
        clean_split(log, test_days=2)


def test_yoochoose_fraction():
    split = SessionSplit(
        train=Sequences.from_lists([[1, 2, 3], [4, 5], [6, 7, 8]]),
        test=Sequences.from_lists([[1, 8]]),
        item_labels=np.array([str(i) for i in range(10, 19)]),
        train_dates=np.array([1, 2, 3]) * DAY,
        test_dates=np.array([9]) * DAY,
    )
    # Samples: ([1, 2], 3), ([1], 2), ([4], 5), ([6, 7], 8), ([6], 7).
    part, (prefixes, targets, session) = yoochoose_fraction(split, 2)
    assert prefixes.tolist() == [[6, 7], [6]]
    assert targets.tolist() == [8, 7]
    assert session.tolist() == [0, 0]
    assert part.train.tolist() == [[6, 7, 8]]
    assert (part.train_dates // DAY).tolist() == [3]
    assert part.test is split.test
    assert part.item_labels is split.item_labels  # ids of the full log

    # A cut inside a session keeps that session whole, as the official
    # all_train_seq.txt does: it has a sample more than was kept.
    part, (prefixes, targets, session) = yoochoose_fraction(split, 4)
    assert prefixes.tolist() == [[6]]
    assert targets.tolist() == [7]
    assert part.train.tolist() == [[6, 7, 8]]

    part, (_, targets, session) = yoochoose_fraction(split, 1)
    assert len(targets) == 5 and part.train.tolist() == split.train.tolist()
    assert session.tolist() == [0, 0, 1, 2, 2]

    with pytest.raises(ValueError, match='5 training samples are too few to '
                       'keep 1/6 of them'):
        yoochoose_fraction(split, 6)
    with pytest.raises(ValueError, match='fraction must be a positive '
                       'integer, got 0.5'):
        yoochoose_fraction(split, 0.5)


@pytest.mark.parametrize('fraction', [1, 2, 3, 4, 7, 64])
def test_yoochoose_fraction_is_the_tail_of_all_samples(fraction):
    # The definition: the last 1/fraction of prefix_augment(train), the
    # sessions from that of the first sample kept; sessions of one click
    # (no sample) among them.
    rng = np.random.default_rng(fraction)
    lengths = rng.integers(1, 8, 300)
    train = Sequences.from_lists([rng.integers(1, 50, n).tolist()
                                  for n in lengths])
    split = SessionSplit(train=train, test=Sequences.from_lists([[1, 2]]),
                         item_labels=np.array([str(i) for i in range(50)]),
                         train_dates=np.arange(300) * DAY,
                         test_dates=np.array([400]) * DAY)
    prefixes, targets, session = prefix_augment(train)
    first = len(targets) - len(targets) // fraction
    part, (kept, kept_targets, kept_session) = yoochoose_fraction(split,
                                                                  fraction)
    assert kept.tolist() == prefixes.select(
        np.arange(first, len(targets))).tolist()
    assert kept_targets.tolist() == targets[first:].tolist()
    first_session = int(session[first])
    assert kept_session.tolist() == (session[first:] -
                                     first_session).tolist()
    assert part.train.tolist() == train.select(
        np.arange(first_session, 300)).tolist()
    assert part.train_dates.tolist() == split.train_dates[
        first_session:].tolist()
