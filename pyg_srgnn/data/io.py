"""Reading SR-GNN pickles and click logs; errors name the file."""
import contextlib
import csv
import dataclasses
import datetime
import functools
import gc
import gzip
import itertools
import json
import os
import pickle
import re
import warnings
import zlib
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Optional,
    Sequence,
    TextIO,
    Tuple,
    Union,
)

import numpy as np

from pyg_srgnn.data.preprocess import ClickLog

PathLike = Union[str, os.PathLike]

# A column of a click log: its name in the header, or its position from 0.
Column = Union[str, int]

ON_ERROR = ('raise', 'skip')

DIGINETICA_COLUMNS = ('session_id', 'user_id', 'item_id', 'timeframe',
                      'eventdate')

# The header the official script needs: it reads the header-less
# yoochoose-clicks.dat with csv.DictReader, so its users prepend this line.
YOOCHOOSE_COLUMNS = ('session_id', 'timestamp', 'item_id', 'category')

# The separators that read_click_log recognises on its own.
SEPARATORS = (',', '\t', ';')

# Line numbers quoted in an error message; more would only bury it.
NUM_LINES_SHOWN = 5

# Rows converted per numpy call: enough to spread the cost of a call, few
# enough that the strings the csv module made are still in the processor's
# cache when numpy reads them (16 times more rows read up to 25% slower).
CHUNK_ROWS = 1 << 10

MICROSECONDS_PER_SECOND = 10**6

UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

_LINE_BREAK = re.compile('\r\n|\r|\n')


class _RefusedClass(ValueError):
    r"""A pickle asked for a class; told apart from a corrupt pickle."""


class _NoClassUnpickler(pickle.Unpickler):
    # Unpickling a class can run arbitrary code (e.g. `os.system`), and
    # SR-GNN pickles never need one, so every class is refused.
    def __init__(self, file, path: PathLike):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        raise _RefusedClass(
            f"load_pickle refuses to load class '{module}.{name}' from "
            f"{self.path}: SR-GNN pickles hold only lists, tuples and ints")


@contextlib.contextmanager
def written_whole(path: str) -> Iterator[str]:
    r"""Yields a temporary path next to :obj:`path` to write to, then renames
    it over :obj:`path`: a process that reads :obj:`path` meanwhile (another
    one processing the same data set, say) sees the old file or the whole new
    one, never a partial one, and an interrupted write leaves the old file
    and no temporary behind."""
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_pickle(path: PathLike) -> Any:
    r"""Loads a pickle written by the official SR-GNN preprocessing:
    :obj:`all_train_seq.txt` (a list of sessions) or :obj:`train.txt` /
    :obj:`test.txt` (a tuple of a list of prefixes and a list of targets).

    Unlike :func:`pickle.load`, it refuses every class, so a file from the
    internet cannot run code.

    Args:
        path (str or os.PathLike): The pickle file.
    """
    with open(path, 'rb') as f:
        try:
            return _NoClassUnpickler(f, path).load()
        except _RefusedClass:
            raise
        except Exception as e:  # any decoding failure means bad bytes
            raise ValueError(f'{path} is not a complete pickle (truncated or '
                             f'corrupt?): {type(e).__name__}: {e}') from e


def read_diginetica_csv(path: PathLike, on_error: str = 'raise') -> ClickLog:
    r"""Reads a Diginetica (CIKM Cup 2016) click log such as
    :obj:`train-item-views.csv`: :obj:`;`-separated, with the header
    :obj:`session_id;user_id;item_id;timeframe;eventdate`, an integer
    :obj:`timeframe` and a :obj:`YYYY-MM-DD` :obj:`eventdate`. A :obj:`.gz`
    file is decompressed on the fly.

    Args:
        path (str or os.PathLike): The csv file.
        on_error (str, optional): What to do with malformed rows:
            :obj:`"raise"` a :class:`ValueError` naming their lines, or
            :obj:`"skip"` them with a warning. (default: :obj:`"raise"`)
    """
    _check_on_error(on_error)
    sessions, items = _FirstAppearanceCodes(), _FirstAppearanceCodes()
    with open_text(path) as f, decoding_errors(path):
        reader = csv.reader(f, delimiter=';')
        header = _read_header(reader, path, DIGINETICA_COLUMNS, ';')
        session_at, item_at, time_at, date_at = map(header.index, (
            'session_id', 'item_id', 'timeframe', 'eventdate'))

        def parse(fields: List[Tuple[str, ...]]) -> Tuple[np.ndarray, ...]:
            time = np.array(fields[time_at], dtype=np.int64)
            date = _days(fields[date_at])
            _check_labels(fields[session_at], fields[item_at])
            return (sessions(fields[session_at]), items(fields[item_at]),
                    time, date)

        session, item, time, date = _read_rows(
            path, reader, len(header), parse, on_error,
            f"expected {';'.join(DIGINETICA_COLUMNS)} with an integer "
            f"timeframe and a YYYY-MM-DD eventdate")

    session, _ = sessions.finish(session)
    item, item_labels = items.finish(item)
    return ClickLog(session=session, item=item, time=time, date=date,
                    item_labels=item_labels)


def read_yoochoose_clicks(path: PathLike,
                          on_error: str = 'raise') -> ClickLog:
    r"""Reads the YOOCHOOSE (RecSys Challenge 2015) click log
    :obj:`yoochoose-clicks.dat`: :obj:`,`-separated rows
    :obj:`session_id,timestamp,item_id,category` with an ISO 8601 timestamp
    such as :obj:`2014-04-07T10:51:09.277Z`, read as UTC. The published file
    has no header; a first line :obj:`session_id,...` (which the official
    SR-GNN script needs) is skipped. A :obj:`.gz` file is decompressed on the
    fly.

    As in the official SR-GNN preprocessing, clicks keep their file order
    inside a session (:obj:`time` is constant) and :obj:`date` is the
    timestamp in whole seconds, so the test period is the last 24 hours.

    Args:
        path (str or os.PathLike): The click file.
        on_error (str, optional): What to do with malformed rows:
            :obj:`"raise"` a :class:`ValueError` naming their lines, or
            :obj:`"skip"` them with a warning. (default: :obj:`"raise"`)
    """
    with open_text(path) as f, decoding_errors(path):
        header = f.readline().startswith(YOOCHOOSE_COLUMNS[0] + ',')
    log = read_click_log(path, session_col=0, item_col=2, time_col=1,
                         sep=',', time_format='iso', header=header,
                         on_error=on_error)
    return dataclasses.replace(log, time=np.zeros_like(log.time))


def read_click_log(
    path: PathLike,
    session_col: Column,
    item_col: Column,
    time_col: Optional[Column] = None,
    sep: Optional[str] = None,
    time_format: Optional[str] = None,
    header: bool = True,
    on_error: str = 'raise',
) -> ClickLog:
    r"""Reads a click log in a delimited text format of one's own, one click
    per row, such as :obj:`SessionId<TAB>ItemId<TAB>Time`. Session and item
    ids may be any strings; items are coded in order of first appearance and
    :obj:`item_labels` keeps their original ids, so that recommendations can
    be given back in them. A :obj:`.gz` file is decompressed on the fly.

    With a time column, clicks are sorted by time inside their session and
    :obj:`date` is the time in whole seconds, so that the log can be split by
    date. Without one, clicks keep their file order and :obj:`date` is
    :obj:`None`: sessions can still be grouped, but not split by date.

    Args:
        path (str or os.PathLike): The click log.
        session_col (str or int): The session id column: its name in the
            header, or its position counting from :obj:`0`.
        item_col (str or int): The item id column.
        time_col (str or int, optional): The time column.
            (default: :obj:`None`)
        sep (str, optional): The field separator; by default, whichever of
            :obj:`","`, :obj:`"\t"` and :obj:`";"` occurs most in the first
            line. (default: :obj:`None`)
        time_format (str, optional): :obj:`"unix"` (seconds since the epoch,
            integer or not), :obj:`"iso"` (ISO 8601, such as
            :obj:`2014-04-07T10:51:09.277Z`; UTC, offsets other than
            :obj:`Z` are refused) or a :func:`~datetime.datetime.strptime`
            format such as :obj:`"%d/%m/%Y %H:%M"` (UTC unless it has a
            :obj:`%z`). By default, the first rows that read as unix seconds
            or as ISO 8601 fix the format for the file. (default: :obj:`None`)
        header (bool, optional): Whether the first line names the columns.
            (default: :obj:`True`)
        on_error (str, optional): What to do with malformed rows:
            :obj:`"raise"` a :class:`ValueError` naming their lines, or
            :obj:`"skip"` them with a warning. (default: :obj:`"raise"`)
    """
    _check_on_error(on_error)
    if sep is not None and (len(sep) != 1 or sep in '"\r\n'):
        raise ValueError(f"The separator must be one character other than "
                         f"a quote or a line break (got {sep!r}); for a tab, "
                         f"pass it as a tab character")
    times = _Times(time_format)
    sessions, items = _FirstAppearanceCodes(), _FirstAppearanceCodes()
    columns = [session_col, item_col] + ([] if time_col is None else
                                         [time_col])
    if len(set(columns)) < len(columns):
        raise ValueError(f"The session, item and time columns must differ "
                         f"(got {columns})")
    with open_text(path) as f, decoding_errors(path):
        first_line = f.readline()
        if not first_line:
            raise ValueError(f'{path} is empty')
        sep = sep or _sniff_separator(path, first_line)
        # The first line is read again as a row, so that line numbers and
        # quoting stay the csv module's.
        reader = csv.reader(itertools.chain([first_line], f), delimiter=sep)
        if header:
            names = _read_header(reader, path, tuple(
                column for column in columns if isinstance(column, str)), sep)
        else:  # the first row tells how many fields rows have
            names = next(csv.reader([first_line], delimiter=sep))
        session_at, item_at, *time_at = (
            _column_position(path, column, names, header, sep)
            for column in columns)

        def parse(fields: List[Tuple[str, ...]]) -> Tuple[np.ndarray, ...]:
            time = tuple(times(fields[at]) for at in time_at)
            _check_labels(fields[session_at], fields[item_at])
            return (sessions(fields[session_at]),
                    items(fields[item_at])) + time

        described = [f'a session id ({session_col})',
                     f'an item id ({item_col})']
        if time_col is not None:
            described.append(f'a time ({time_col}) {times.description}')
        session, item, *time = _read_rows(
            path, reader, len(names), parse, on_error,
            f'expected {len(names)} fields separated by {sep!r}, with '
            f"{', '.join(described)}")

    session, _ = sessions.finish(session)
    item, item_labels = items.finish(item)
    if time_col is None:  # a constant time keeps the file's order
        time, date = np.zeros_like(session), None
    else:
        time, = time  # microseconds, to order clicks within a second
        date = time // MICROSECONDS_PER_SECOND
    return ClickLog(session=session, item=item, time=time, date=date,
                    item_labels=item_labels)


def open_text(path: PathLike) -> TextIO:
    r"""Opens a UTF-8 text file for reading, decompressing it on the fly if
    its name ends with :obj:`.gz`. Line ends are left as they are
    (:obj:`newline=''`), as the :mod:`csv` module requires; a byte-order
    mark, which spreadsheet exports write, is dropped."""
    if os.fspath(path).endswith('.gz'):
        return gzip.open(path, 'rt', encoding='utf-8-sig', newline='')
    return open(path, encoding='utf-8-sig', newline='')


def decode_text(data: bytes, name: str) -> str:
    r"""Decodes the bytes of a text file named :obj:`name`; a file that is
    not UTF-8 text raises a :class:`ValueError` naming the line and byte
    that are not, a binary file one that says so."""
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b'\n') + 1
        column = e.start - (data.rfind(b'\n', 0, e.start) + 1) + 1
        raise ValueError(not_utf8(name, line, data[e.start], column)
                         ) from None
    nul = text.find('\x00')
    if nul >= 0:
        line = text.count('\n', 0, nul) + 1
        raise ValueError(f"{name}: a binary file, not text (a NUL byte on "
                         f"line {line})")
    return text


def read_json_object(path: str, remedy: str) -> Dict[str, Any]:
    r"""The JSON object in the file :obj:`path`; a file that is not one
    raises a :class:`ValueError` naming it, why, and the :obj:`remedy`."""
    try:
        with open(path, 'rb') as f:
            value = json.loads(decode_text(f.read(), path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); {remedy}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a JSON object, found "
                         f"{type(value).__name__}; {remedy}")
    return value


def not_utf8(name: PathLike, line: int, byte: int, column: int) -> str:
    return (f'{name}: line {line} is not UTF-8 text (byte {byte:#04x} at '
            f'column {column}); save the file as UTF-8')


def first_undecodable(path: PathLike) -> Tuple[int, int, int]:
    r"""Where a file (gzip-compressed if its name ends with :obj:`.gz`)
    first holds bytes that are not UTF-8: its line, the byte and its
    column, counting from 1."""
    opener = gzip.open if os.fspath(path).endswith('.gz') else open
    with opener(path, 'rb') as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode('utf-8')
            except UnicodeDecodeError as e:
                return number, line[e.start], e.start + 1
    raise ValueError(f'{path} holds no bytes that are not UTF-8')


@contextlib.contextmanager
def decoding_errors(path: PathLike) -> Iterator[None]:
    r"""Turns the errors of a truncated gzip file or of bytes that are not
    UTF-8, raised while reading rather than at open, into a
    :class:`ValueError` that names the file."""
    try:
        yield
    except UnicodeDecodeError:
        raise ValueError(not_utf8(path, *first_undecodable(path))) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f'{path} is a truncated or corrupt gzip file: '
                         f'{e}') from e


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


def _check_on_error(on_error: str):
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, "
                         f"got '{on_error}'")


def _read_header(reader: Iterator[List[str]], path: PathLike,
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


def _sniff_separator(path: PathLike, first_line: str) -> str:
    counts = [first_line.count(sep) for sep in SEPARATORS]
    if max(counts) == 0:
        raise ValueError(
            f'{path}: cannot tell the separator from the first line '
            f'{first_line!r}, which holds none of {SEPARATORS}; pass sep')
    return SEPARATORS[counts.index(max(counts))]


def _column_position(path: PathLike, column: Column, fields: List[str],
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


class _FirstAppearanceCodes:
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


def _check_labels(*columns: Tuple[str, ...]):
    if any('' in column for column in columns):
        raise ValueError('empty id')


class _Times:
    r"""Parses times to microseconds since the epoch, UTC, in the format
    :obj:`time_format` (see :func:`read_click_log`); without one, the first
    chunk of times that parses as unix seconds or ISO 8601 fixes it."""
    def __init__(self, time_format: Optional[str]):
        self.parse: Optional[Callable[[Sequence[str]], np.ndarray]]
        if time_format is None or time_format in _NAMED_TIME_FORMATS:
            self.parse = _NAMED_TIME_FORMATS.get(time_format)
        elif '%' in time_format:
            self.parse = functools.partial(_strptime_microseconds,
                                           time_format=time_format)
        else:
            raise ValueError(
                f"time_format must be None, one of "
                f"{tuple(_NAMED_TIME_FORMATS)} or a strptime format such as "
                f"'%Y-%m-%d %H:%M:%S', got {time_format!r}")
        self.description = {
            None: 'in unix seconds or ISO 8601',
            'unix': 'in unix seconds',
            'iso': 'in ISO 8601, UTC',
        }.get(time_format, f'in the format {time_format!r}')

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self.parse is not None:
            return self.parse(texts)
        for parse in _NAMED_TIME_FORMATS.values():
            with contextlib.suppress(ValueError):
                times = parse(texts)
                self.parse = parse
                return times
        raise ValueError('neither unix seconds nor ISO 8601')


def _unix_microseconds(texts: Sequence[str]) -> np.ndarray:
    seconds = np.array(texts, dtype=np.float64)
    if not np.isfinite(seconds).all():  # float() reads 'nan' and 'inf'
        raise ValueError('not a finite number of seconds')
    return np.round(seconds * MICROSECONDS_PER_SECOND).astype(np.int64)


def _iso_microseconds(texts: Sequence[str]) -> np.ndarray:
    # numpy reads an offset such as '+02:00' only with a warning that it will
    # stop, and a trailing 'Z' (UTC, as numpy assumes anyway) likewise.
    texts = np.char.rstrip(np.asarray(texts, dtype=str), 'Z')
    if ((np.char.find(texts, '+', 10) >= 0) |
            (np.char.find(texts, '-', 10) >= 0)).any():
        raise ValueError('time zone offset')
    times = texts.astype('datetime64[us]')
    if np.isnat(times).any():  # numpy reads '' and 'NaT' as NaT
        raise ValueError('not a time')
    return times.astype(np.int64)


def _strptime_microseconds(texts: Sequence[str],
                           time_format: str) -> np.ndarray:
    # strptime is slow, but a log holds far fewer distinct times than clicks.
    distinct, inverse = np.unique(np.asarray(texts, dtype=str),
                                  return_inverse=True)
    times = np.array([_strptime(text, time_format)
                      for text in distinct.tolist()], dtype=np.int64)
    return times[inverse]


def _strptime(text: str, time_format: str) -> int:
    moment = datetime.datetime.strptime(text, time_format)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return (moment - UNIX_EPOCH) // datetime.timedelta(microseconds=1)


_NAMED_TIME_FORMATS = {'unix': _unix_microseconds, 'iso': _iso_microseconds}


def _days(texts: Sequence[str]) -> np.ndarray:
    r"""Parses :obj:`YYYY-MM-DD` dates to seconds since the epoch."""
    texts = np.asarray(texts, dtype=str)
    # numpy alone would also read '2016-05' or '2016-05-09T10:00'.
    if (np.char.str_len(texts) != 10).any():
        raise ValueError('not a YYYY-MM-DD date')
    return _iso_microseconds(texts) // MICROSECONDS_PER_SECOND


def _read_rows(
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
