"""From a raw click log to SR-GNN training and test sessions, as pure
functions over numpy arrays."""
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from pyg_srgnn.data.sequences import Sequences

SECONDS_PER_DAY = 86400

# The official threshold; its comment says it gives about the number of items
# reported in the paper.
MIN_ITEM_COUNT = 5


@dataclass
class ClickLog:
    r"""A click log as parallel arrays, one entry per click, in file order.

    Args:
        session (numpy.ndarray): Session code of each click, :obj:`int64`,
            numbered from :obj:`0` in order of first appearance in the file.
            The official preprocessing breaks ties between sessions of the
            same date by this order.
        item (numpy.ndarray): Item code of each click, :obj:`int64`, indexing
            :obj:`item_labels`.
        time (numpy.ndarray): Ordering key of each click inside its session,
            :obj:`int64` (Diginetica: :obj:`timeframe`). Ties keep file
            order, so a constant keeps the file's order, as the official
            code does for YOOCHOOSE.
        date (numpy.ndarray): Date of each click in seconds since the epoch,
            UTC, :obj:`int64` (Diginetica: :obj:`eventdate` at midnight).
        item_labels (numpy.ndarray): The original item id strings, indexed by
            item code.
    """
    session: np.ndarray
    item: np.ndarray
    time: np.ndarray
    date: np.ndarray
    item_labels: np.ndarray

    def __len__(self) -> int:  # the number of clicks
        return len(self.session)

    @property
    def num_items(self) -> int:
        return len(self.item_labels)


@dataclass
class SessionSplit:
    r"""Training and test sessions with items renumbered from :obj:`1`.

    Args:
        train (Sequences): Training sessions in date order.
        test (Sequences): Test sessions in date order.
        item_labels (numpy.ndarray): The original item id strings:
            :obj:`item_labels[i - 1]` is the label of item :obj:`i`.
        train_dates (numpy.ndarray): Date of each training session in seconds
            since the epoch.
        test_dates (numpy.ndarray): Date of each test session in seconds
            since the epoch.
    """
    train: Sequences
    test: Sequences
    item_labels: np.ndarray
    train_dates: np.ndarray
    test_dates: np.ndarray

    @property
    def num_items(self) -> int:
        r"""The number of items; ids run from :obj:`1` to :obj:`num_items`,
        so an embedding table needs :obj:`num_items + 1` rows."""
        return len(self.item_labels)


def group_sessions(log: ClickLog) -> Tuple[Sequences, np.ndarray]:
    r"""Groups the clicks of :obj:`log` into sessions, as the official
    SR-GNN preprocessing does.

    Within a session, clicks are sorted by :obj:`time`, with ties kept in file
    order. A session's date is the date of its last click in file order (not
    of its latest :obj:`time`).

    Returns:
        (sessions, dates): the item codes of every session, in session code
        order, and the date of each session.
    """
    num_sessions = int(log.session.max()) + 1 if len(log) > 0 else 0
    order = np.lexsort((log.time, log.session))  # a stable sort
    ptr = np.zeros(num_sessions + 1, dtype=np.int64)
    np.cumsum(np.bincount(log.session, minlength=num_sessions), out=ptr[1:])

    last_row = np.zeros(num_sessions, dtype=np.int64)
    np.maximum.at(last_row, log.session, np.arange(len(log)))
    return Sequences(log.item[order], ptr), log.date[last_row]


def filter_clicks(seqs: Sequences, mask: np.ndarray,
                  min_length: int = 2) -> Tuple[Sequences, np.ndarray]:
    r"""Keeps the values of :obj:`seqs` where :obj:`mask` is :obj:`True`,
    then drops the sequences left shorter than :obj:`min_length`.

    Args:
        seqs (Sequences): The sequences.
        mask (numpy.ndarray): Boolean mask over :obj:`seqs.values`.
        min_length (int, optional): The shortest sequence to keep.
            (default: :obj:`2`)

    Returns:
        (seqs, index): the filtered sequences and the positions in the input
        of the sequences kept.
    """
    seq_of_value = np.repeat(np.arange(len(seqs)), seqs.lengths)
    lengths = np.bincount(seq_of_value[mask], minlength=len(seqs))
    ptr = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    index = np.flatnonzero(lengths >= min_length)
    return Sequences(seqs.values[mask], ptr).select(index), index


def official_split(log: ClickLog, test_days: int = 7) -> SessionSplit:
    r"""Splits a click log into training and test sessions exactly as the
    official SR-GNN :obj:`datasets/preprocess.py` does (Wu et al., AAAI 2019,
    `"Session-based Recommendation with Graph Neural Networks"
    <https://arxiv.org/abs/1811.00855>`_), dates read as UTC:

    1. Group clicks into sessions (see :func:`group_sessions`).
    2. Drop sessions of one click; drop items clicked fewer than
       :obj:`MIN_ITEM_COUNT = 5` times in what remains (test period
       included); drop sessions left shorter than 2. One pass, no
       re-counting.
    3. Sessions dated before :obj:`max_date - test_days` days are training
       sessions, those after are test sessions; sessions dated exactly on
       the split date are dropped. Each part is sorted by date, ties in order
       of first appearance in the log.
    4. Number items from :obj:`1` in order of first click in the training
       sessions; drop test clicks on items never seen in training, then test
       sessions left shorter than 2.

    Args:
        log (ClickLog): The click log.
        test_days (int, optional): Length of the test period in days:
            :obj:`7` for Diginetica, :obj:`1` for YOOCHOOSE.
            (default: :obj:`7`)
    """
    sessions, dates = group_sessions(log)
    kept = np.flatnonzero(sessions.lengths >= 2)
    sessions, dates = sessions.select(kept), dates[kept]
    item_count = np.bincount(sessions.values, minlength=log.num_items)
    frequent = item_count[sessions.values] >= MIN_ITEM_COUNT
    sessions, kept = filter_clicks(sessions, frequent)
    dates = dates[kept]
    if len(sessions) == 0:
        raise ValueError(f'No session of two or more clicks on items clicked '
                         f'at least {MIN_ITEM_COUNT} times is left from '
                         f'{len(log)} clicks')

    split_date = dates.max() - test_days * SECONDS_PER_DAY
    train_index = _sort_by_date(np.flatnonzero(dates < split_date), dates)
    test_index = _sort_by_date(np.flatnonzero(dates > split_date), dates)
    train = sessions.select(train_index)
    test = sessions.select(test_index)

    codes, first_click = np.unique(train.values, return_index=True)
    item_codes = codes[np.argsort(first_click)]  # in order of first click
    new_id = np.zeros(log.num_items, dtype=np.int64)  # 0: unseen in training
    new_id[item_codes] = np.arange(1, len(item_codes) + 1)

    train = Sequences(new_id[train.values], train.ptr)
    test = Sequences(new_id[test.values], test.ptr)
    test, kept = filter_clicks(test, test.values > 0)
    return SessionSplit(train, test, log.item_labels[item_codes],
                        dates[train_index], dates[test_index[kept]])


def _sort_by_date(index: np.ndarray, dates: np.ndarray) -> np.ndarray:
    # Stable, so that sessions of the same date keep their order of first
    # appearance, as in the official sort of an insertion-ordered dict.
    return index[np.argsort(dates[index], kind='stable')]
