"""From a raw click log to SR-GNN training and test sessions, as pure
functions over numpy arrays."""
from dataclasses import dataclass, replace
from typing import Optional, Tuple

import numpy as np

from pyg_srgnn.data.sequences import Sequences, prefix_augment

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
        date (numpy.ndarray, optional): Date of each click in seconds since
            the epoch, UTC, :obj:`int64` (Diginetica: :obj:`eventdate` at
            midnight), or :obj:`None` for a log without times, which cannot
            be split by date.
        item_labels (numpy.ndarray): The original item id strings, indexed by
            item code.
    """
    session: np.ndarray
    item: np.ndarray
    time: np.ndarray
    date: Optional[np.ndarray]
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


def group_sessions(
        log: ClickLog) -> Tuple[Sequences, Optional[np.ndarray]]:
    r"""Groups the clicks of :obj:`log` into sessions, as the official
    SR-GNN preprocessing does.

    Within a session, clicks are sorted by :obj:`time`, with ties kept in file
    order. A session's date is the date of its last click in file order (not
    of its latest :obj:`time`).

    Returns:
        (sessions, dates): the item codes of every session, in session code
        order, and the date of each session (:obj:`None` if :obj:`log` has
        no dates).
    """
    num_sessions = int(log.session.max()) + 1 if len(log) > 0 else 0
    ptr = np.zeros(num_sessions + 1, dtype=np.int64)
    np.cumsum(np.bincount(log.session, minlength=num_sessions), out=ptr[1:])
    # Stable sorts: by session, then by time where times differ (not in
    # YOOCHOOSE, whose clicks keep their file order).
    same_time = len(log) == 0 or bool((log.time == log.time[0]).all())
    if same_time and bool((log.session[1:] >= log.session[:-1]).all()):
        order = None  # each session's clicks together, as in YOOCHOOSE
    elif same_time:
        order = np.argsort(log.session, kind='stable')
    else:
        order = np.lexsort((log.time, log.session))
    sessions = Sequences(log.item if order is None else log.item[order], ptr)
    if log.date is None:
        return sessions, None
    if same_time:  # each session's clicks in file order
        last_row = ptr[1:] - 1 if order is None else order[ptr[1:] - 1]
    else:
        last_row = np.zeros(num_sessions, dtype=np.int64)
        np.maximum.at(last_row, log.session, np.arange(len(log)))
    return sessions, log.date[last_row]


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
    # The kept sequences keep their order, so one mask over the values
    # selects them (less memory than gathering their positions).
    seq_of_value = np.repeat(np.arange(len(seqs)), seqs.lengths)
    lengths = np.bincount(seq_of_value[mask], minlength=len(seqs))
    kept = lengths >= min_length
    mask = mask & kept[seq_of_value]
    del seq_of_value
    index = np.flatnonzero(kept)
    ptr = np.zeros(len(index) + 1, dtype=np.int64)
    np.cumsum(lengths[index], out=ptr[1:])
    return Sequences(seqs.values[mask], ptr), index


def official_split(log: ClickLog, test_days: int = 7) -> SessionSplit:
    r"""Splits a click log into training and test sessions exactly as the
    official SR-GNN :obj:`datasets/preprocess.py` does (Wu et al., AAAI 2019,
    `"Session-based Recommendation with Graph Neural Networks"
    <https://arxiv.org/abs/1811.00855>`_), dates read as UTC: the
    :obj:`"parity"` protocol of :func:`split_sessions`.

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
    sessions, dates = _multi_click_sessions(log)
    item_count = np.bincount(sessions.values, minlength=log.num_items)
    frequent = item_count[sessions.values] >= MIN_ITEM_COUNT
    sessions, kept = filter_clicks(sessions, frequent)
    dates = dates[kept]
    if len(sessions) == 0:
        raise _nothing_left(log, MIN_ITEM_COUNT)

    train_index, test_index = _split_by_date(dates, test_days)
    return _renumber(log.item_labels, sessions.select(train_index),
                     dates[train_index], sessions.select(test_index),
                     dates[test_index])


def clean_split(log: ClickLog, test_days: int = 7,
                min_item_count: int = MIN_ITEM_COUNT) -> SessionSplit:
    r"""Splits a click log into training and test sessions by the
    :obj:`"clean"` protocol of :func:`split_sessions`: as
    :func:`official_split`, except that items are counted in the training
    sessions only, so that clicks of the test period do not decide what is
    kept for training, and that filtering is repeated until every item kept
    has :obj:`min_item_count` training clicks.

    1. Group clicks into sessions (see :func:`group_sessions`) and drop
       sessions of one click.
    2. Split by date as :func:`official_split` does, the split date
       computed from these sessions (the official code computes it after
       the item filter).
    3. In the training sessions, drop items clicked fewer than
       :obj:`min_item_count` times *in training*, then sessions left shorter
       than 2, and count again, until nothing changes: every item left is
       clicked at least :obj:`min_item_count` times in training.
    4. Number items and filter the test sessions as :func:`official_split`
       does.

    Args:
        log (ClickLog): The click log.
        test_days (int, optional): Length of the test period in days.
            (default: :obj:`7`)
        min_item_count (int, optional): The fewest training clicks an item
            needs. (default: :obj:`5`)
    """
    sessions, dates = _multi_click_sessions(log)
    train_index, test_index = _split_by_date(dates, test_days)
    train = sessions.select(train_index)
    while True:
        item_count = np.bincount(train.values, minlength=log.num_items)
        filtered, kept = filter_clicks(
            train, item_count[train.values] >= min_item_count)
        if len(filtered.values) == len(train.values):
            break  # nothing dropped: counts hold
        train, train_index = filtered, train_index[kept]
    if len(train) == 0:
        raise _nothing_left(log, min_item_count, 'training ')

    return _renumber(log.item_labels, train, dates[train_index],
                     sessions.select(test_index), dates[test_index])


PROTOCOLS = {'parity': official_split, 'clean': clean_split}


def split_sessions(log: ClickLog, protocol: str = 'parity',
                   test_days: int = 7) -> SessionSplit:
    r"""Splits a click log into training and test sessions.

    Args:
        log (ClickLog): The click log.
        protocol (str, optional): :obj:`"parity"`, the official SR-GNN
            preprocessing (:func:`official_split`), or :obj:`"clean"`, item
            counts on training sessions only, filtered to a fixed point
            (:func:`clean_split`). (default: :obj:`"parity"`)
        test_days (int, optional): Length of the test period in days:
            :obj:`7` for Diginetica, :obj:`1` for YOOCHOOSE.
            (default: :obj:`7`)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown protocol '{protocol}' (expected one of "
                         f"{', '.join(PROTOCOLS)})")
    return PROTOCOLS[protocol](log, test_days)


def yoochoose_fraction(
    split: SessionSplit,
    fraction: int = 64,
) -> Tuple[SessionSplit, Tuple[Sequences, np.ndarray, np.ndarray]]:
    r"""The most recent :obj:`1 / fraction` of the training samples, as the
    official SR-GNN preprocessing cuts YOOCHOOSE 1/64 and 1/4 from
    :obj:`official_split(log, test_days=1)`.

    The samples are the last :obj:`len(samples) // fraction` of
    :obj:`prefix_augment(split.train)` (the official :obj:`train.txt`). The
    training sessions are, as in the official :obj:`all_train_seq.txt`,
    every session from the one of the first kept sample on, that one whole:
    when the cut falls inside a session, only its shorter prefixes are
    samples, so :obj:`prefix_augment` of the sessions can give a few more
    samples than returned, all from the first session.

    Args:
        split (SessionSplit): The split of the full log.
        fraction (int, optional): Keep the last :obj:`1 / fraction` of the
            samples. (default: :obj:`64`)

    Returns:
        (split, samples): the split with those training sessions and their
        dates, and the test sessions and item labels of the full split, so
        that item ids (and the size of the item table) stay those of the full
        log; and the samples as :func:`prefix_augment` gives them, the
        session of each counted in the new :obj:`split.train`.
    """
    if not isinstance(fraction, int) or fraction < 1:
        raise ValueError(f'fraction must be a positive integer, got '
                         f'{fraction!r}')
    # prefix_augment gives each session of n clicks n - 1 samples, session
    # after session: the cut is found from those counts, and only the
    # sessions kept are augmented (on YOOCHOOSE 1/4, a quarter of the work
    # and memory of augmenting them all).
    per_session = np.maximum(split.train.lengths - 1, 0)
    num_samples = int(per_session.sum())
    num_kept = num_samples // fraction
    if num_kept == 0:
        # The official slice, tr_seqs[-0:], would keep every sample.
        raise ValueError(f'{num_samples} training samples are too few to '
                         f'keep 1/{fraction} of them')
    first = num_samples - num_kept
    ends = np.cumsum(per_session)
    first_session = int(np.searchsorted(ends, first, side='right'))
    sessions = np.arange(first_session, len(split.train))
    train = split.train.select(sessions)
    prefixes, targets, session = prefix_augment(train)
    # The samples of the first session kept before the cut.
    skip = first - (int(ends[first_session - 1]) if first_session else 0)
    # The samples from the skip-th on: a view of their values.
    start = prefixes.ptr[skip]
    prefixes = Sequences(prefixes.values[start:], prefixes.ptr[skip:] - start)
    return (
        replace(split, train=train,
                train_dates=split.train_dates[first_session:]),
        (prefixes, targets[skip:], session[skip:]),
    )


def _multi_click_sessions(log: ClickLog) -> Tuple[Sequences, np.ndarray]:
    # The sessions of two clicks or more, and their dates.
    if log.date is None:
        raise ValueError('The click log has no dates (it was read without a '
                         'time column), so it cannot be split by date; name '
                         'its time column (--time-col)')
    sessions, dates = group_sessions(log)
    kept = np.flatnonzero(sessions.lengths >= 2)
    if len(kept) == 0:
        raise ValueError(f'No session of two or more clicks is in the '
                         f'{len(log)} clicks of the log')
    return sessions.select(kept), dates[kept]


def _nothing_left(log: ClickLog, min_item_count: int,
                  which: str = '') -> ValueError:
    return ValueError(f'No {which}session of two or more clicks on items '
                      f'clicked at least {min_item_count} times is left from '
                      f'{len(log)} clicks')


def _split_by_date(dates: np.ndarray,
                   test_days: int) -> Tuple[np.ndarray, np.ndarray]:
    # Positions of the training and of the test sessions, each by date.
    split_date = dates.max() - test_days * SECONDS_PER_DAY
    train_index = np.flatnonzero(dates < split_date)
    if len(train_index) == 0:
        raise ValueError(f'No session is dated more than {test_days} day(s) '
                         f'before the last one, '
                         f'{np.datetime64(int(dates.max()), "s")}: nothing is '
                         f'left for training')
    return (_sort_by_date(train_index, dates),
            _sort_by_date(np.flatnonzero(dates > split_date), dates))


def _renumber(item_labels: np.ndarray, train: Sequences,
              train_dates: np.ndarray, test: Sequences,
              test_dates: np.ndarray) -> SessionSplit:
    # Numbers items from 1 in order of first click in training, drops test
    # clicks on other items, then test sessions left shorter than 2.
    first_click = _first_positions(train.values, len(item_labels))
    clicked = np.flatnonzero(first_click < len(train.values))
    item_codes = clicked[np.argsort(first_click[clicked])]  # by first click
    new_id = np.zeros(len(item_labels), dtype=np.int64)  # 0: unseen
    new_id[item_codes] = np.arange(1, len(item_codes) + 1)

    train = Sequences(new_id[train.values], train.ptr)
    test = Sequences(new_id[test.values], test.ptr)
    test, kept = filter_clicks(test, test.values > 0)
    return SessionSplit(train, test, item_labels[item_codes], train_dates,
                        test_dates[kept])


def _first_positions(values: np.ndarray, size: int,
                     chunk: int = 1 << 20) -> np.ndarray:
    # The first position of each value 0 .. size - 1 in values (len(values)
    # where it does not occur), a chunk at a time: little memory on logs of
    # tens of millions of clicks.
    first = np.full(size, len(values), dtype=np.int64)
    for start in range(0, len(values), chunk):
        part = values[start:start + chunk]
        np.minimum.at(first, part, np.arange(start, start + len(part)))
    return first


def _sort_by_date(index: np.ndarray, dates: np.ndarray) -> np.ndarray:
    # Stable, so that sessions of the same date keep their order of first
    # appearance, as in the official sort of an insertion-ordered dict.
    return index[np.argsort(dates[index], kind='stable')]
