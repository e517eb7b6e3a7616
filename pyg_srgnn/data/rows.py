r"""Reading the rows of a delimited text file (a click log) a chunk at a
time, with errors that name the malformed lines."""
import contextlib
import gc
import itertools
import re
import warnings
from typing import Callable, Dict, Iterator, List, Sequence, Tuple, Union

import numpy as np

from pyg_srgnn.typing import PathLike

# A column of a click log: its name in the header, or its position from 0.
Column = Union[str, int]

ON_ERROR = ('raise', 'skip')

# The separators that read_click_log recognises on its own.
SEPARATORS = (',', '\t', ';')

# Line numbers quoted in an error message; more would only bury it.
NUM_LINES_SHOWN = 5

# Rows converted per numpy call: enough to spread the cost of a call, few
# enough that the strings the csv module made are still in the processor's
# cache when numpy reads them (16 times more rows read up to 25% slower).
CHUNK_ROWS = 1 << 10

_LINE_BREAK = re.compile('\r\n|\r|\n')


def read_rows(
    path: PathLike,
    reader: Iterator[List[str]],
    num_fields: int,
    parse: Callable[[List[Tuple[str, ...]]], Tuple[np.ndarray, ...]],
    on_error: str,
    expected: str,
) -> Tuple[np.ndarray, ...]:
    r"""Reads the remaining rows of the :mod:`csv` reader :obj:`reader` of
    :obj:`path` a chunk at a time, and returns the arrays of all well-formed
    rows, in file order.

    :obj:`parse` turns the fields of rows (one tuple of strings per column)
    into arrays, one per output column, and raises :class:`ValueError` if
    any row is malformed; it must raise before it codes labels, so that
    malformed rows leave no code behind. Rows of another number of fields
    than :obj:`num_fields` are malformed too; blank lines are skipped, as
    :class:`csv.DictReader` does. Malformed rows raise a :class:`ValueError`
    (:obj:`on_error="raise"`) or a warning (:obj:`"skip"`), whose message
    ends with what was :obj:`expected`.
    """
    pieces: List[Tuple[np.ndarray, ...]] = []
    bad_lines: List[int] = []
    with _collector_paused():
        while True:
            line_before = reader.line_num
            rows = list(itertools.islice(reader, CHUNK_ROWS))
            if not rows:
                break
            lines = _row_lines(rows, line_before, reader.line_num)
            widths = np.fromiter(map(len, rows), dtype=np.int64,
                                 count=len(rows))
            fits = widths == num_fields
            if not fits.all():
                bad_lines.extend(lines[~fits & (widths > 0)].tolist())
                rows = [rows[i] for i in np.flatnonzero(fits)]
                lines = lines[fits]
            if rows:
                _parse_rows(parse, list(zip(*rows)), lines, pieces,
                            bad_lines)
    if bad_lines:
        message = bad_rows_message(path, sorted(bad_lines), expected)
        if on_error == 'raise':
            raise ValueError(message)
        # Points at the line that called the reader.
        warnings.warn(f'{message}; skipped', stacklevel=3)
    if not pieces:  # empty arrays of the right types
        pieces.append(parse([()] * num_fields))
    return tuple(np.concatenate(column) for column in zip(*pieces))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # The csv module makes a list per row, which the cyclic garbage
    # collector scans again and again while a chunk is alive: with it on,
    # reading takes 40% longer. Cycles made meanwhile are collected once it
    # is back on.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _parse_rows(parse: Callable, fields: List[Tuple[str, ...]],
                lines: np.ndarray, pieces: List[Tuple[np.ndarray, ...]],
                bad_lines: List[int]):
    try:
        pieces.append(parse(fields))
    except (ValueError, OverflowError):  # int64 overflow is not a ValueError
        if len(lines) == 1:
            bad_lines.append(int(lines[0]))
            return
        # Halving finds k malformed rows among n in about k * log2(n) calls,
        # each still vectorised; well-formed rows keep their order.
        half = len(lines) // 2
        for part in (slice(None, half), slice(half, None)):
            _parse_rows(parse, [column[part] for column in fields],
                        lines[part], pieces, bad_lines)


def _row_lines(rows: List[List[str]], line_before: int,
               line_after: int) -> np.ndarray:
    r"""The line on which each of :obj:`rows` ends, as
    :obj:`csv.reader.line_num` counts."""
    if line_after - line_before == len(rows):
        return np.arange(line_before + 1, line_after + 1)
    # A quoted field holds a line break, so a row spans several lines.
    spans = [1 + sum(len(_LINE_BREAK.findall(field)) for field in row)
             for row in rows]
    return line_before + np.cumsum(spans)


def bad_rows_message(path: PathLike, bad_lines: List[int],
                     expected: str) -> str:
    r"""The error message for malformed rows on lines :obj:`bad_lines` of
    :obj:`path`: their number, the first few lines and what was
    :obj:`expected`."""
    shown = ', '.join(str(line) for line in bad_lines[:NUM_LINES_SHOWN])
    if len(bad_lines) > NUM_LINES_SHOWN:
        shown += ', ...'
    plural = 's' if len(bad_lines) > 1 else ''
    return (f'{path}: {len(bad_lines)} malformed row{plural} '
            f'(line{plural} {shown}): {expected}')


def check_on_error(on_error: str):
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, "
                         f"got '{on_error}'")


def read_header(reader: Iterator[List[str]], path: PathLike,
                required: Tuple[str, ...], delimiter: str) -> List[str]:
    header = next(reader, None)
    if not header:
        raise ValueError(f'{path} is empty: expected a header line '
                         f'{delimiter.join(required)}')
    missing = [name for name in required if name not in header]
    if missing:
        raise ValueError(f'{path}: the header lacks the column(s) '
                         f"{', '.join(missing)} (found "
                         f"'{delimiter.join(header)}', expected "
                         f"'{delimiter.join(required)}')")
    return header


def sniff_separator(path: PathLike, first_line: str) -> str:
    counts = [first_line.count(sep) for sep in SEPARATORS]
    if max(counts) == 0:
        raise ValueError(
            f'{path}: cannot tell the separator from the first line '
            f'{first_line!r}, which holds none of {SEPARATORS}; pass sep')
    return SEPARATORS[counts.index(max(counts))]


def column_position(path: PathLike, column: Column, fields: List[str],
                    named: bool, sep: str) -> int:
    # `fields` is the header, or without one (`named=False`) the first row.
    if isinstance(column, str):
        if not named:
            raise ValueError(f"Column '{column}' is given by name, but "
                             f"header=False: give the columns of {path} by "
                             f"position, counting from 0")
        return fields.index(column)
    if not 0 <= column < len(fields):
        raise ValueError(f'{path}: there is no column {column}: the first '
                         f'line has {len(fields)} fields separated by '
                         f'{sep!r}')
    return column


class FirstAppearanceCodes:
    r"""Numbers strings from :obj:`0` in order of first appearance, over the
    chunks of a file: call it on each chunk, then :meth:`finish` on all the
    codes it returned."""
    def __init__(self):
        self.provisional: Dict[str, int] = {}
        self.counter = itertools.count()

    def __call__(self, labels: Sequence[str]) -> np.ndarray:
        # `setdefault` gives a new label the next counter value, all from C.
        # A label seen before wastes a counter value; `finish` closes the
        # gaps, which keeps the values' order: that of first appearance.
        return np.fromiter(map(self.provisional.setdefault, labels,
                               self.counter), dtype=np.int64,
                           count=len(labels))

    def finish(self, provisional: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        r"""Returns the codes and the labels they stand for."""
        issued = np.fromiter(self.provisional.values(), dtype=np.int64,
                             count=len(self.provisional))
        labels = np.array(list(self.provisional), dtype=str)
        return np.searchsorted(issued, provisional), labels


def check_labels(*columns: Tuple[str, ...]):
    if any('' in column for column in columns):
        raise ValueError('empty id')
