"""Reading SR-GNN pickles and raw click logs; errors name the file."""
import contextlib
import csv
import datetime
import gzip
import operator
import os
import pickle
import warnings
import zlib
from typing import Any, Dict, Iterator, List, TextIO, Tuple, Union

import numpy as np

from pyg_srgnn.data.preprocess import SECONDS_PER_DAY, ClickLog

PathLike = Union[str, os.PathLike]

ON_ERROR = ('raise', 'skip')

DIGINETICA_COLUMNS = ('session_id', 'user_id', 'item_id', 'timeframe',
                      'eventdate')

# Line numbers quoted in an error message; more would only bury it.
NUM_LINES_SHOWN = 5


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
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, "
                         f"got '{on_error}'")

    session_codes: Dict[str, int] = {}
    item_codes: Dict[str, int] = {}
    date_seconds: Dict[str, int] = {}
    session: List[int] = []
    item: List[int] = []
    time: List[int] = []
    date: List[int] = []
    bad_lines: List[int] = []

    with _open_text(path) as f, _decoding_errors(path):
        reader = csv.reader(f, delimiter=';')
        header = _read_header(reader, path, DIGINETICA_COLUMNS, ';')
        fields = operator.itemgetter(*(header.index(name) for name in (
            'session_id', 'item_id', 'timeframe', 'eventdate')))
        for row in reader:
            if not row:  # a blank line, skipped as csv.DictReader does
                continue
            try:
                if len(row) != len(header):
                    raise ValueError('wrong number of fields')
                session_id, item_id, timeframe, eventdate = fields(row)
                if not session_id or not item_id:
                    raise ValueError('empty session_id or item_id')
                timeframe = int(timeframe)
                seconds = date_seconds.get(eventdate)
                if seconds is None:  # few distinct dates: parse each once
                    seconds = date_seconds[eventdate] = _parse_day(eventdate)
            except ValueError:
                bad_lines.append(reader.line_num)
                continue
            session.append(session_codes.setdefault(session_id,
                                                    len(session_codes)))
            item.append(item_codes.setdefault(item_id, len(item_codes)))
            time.append(timeframe)
            date.append(seconds)

    _report_bad_rows(
        path, bad_lines, on_error,
        f"expected {';'.join(DIGINETICA_COLUMNS)} with an integer timeframe "
        f"and a YYYY-MM-DD eventdate")
    return ClickLog(
        session=np.array(session, dtype=np.int64),
        item=np.array(item, dtype=np.int64),
        time=np.array(time, dtype=np.int64),
        date=np.array(date, dtype=np.int64),
        item_labels=np.array(list(item_codes), dtype=str),
    )


def _open_text(path: PathLike) -> TextIO:
    # newline='' lets the csv module see line ends itself, as it requires;
    # utf-8-sig drops the byte-order mark that spreadsheet exports write.
    if os.fspath(path).endswith('.gz'):
        return gzip.open(path, 'rt', encoding='utf-8-sig', newline='')
    return open(path, encoding='utf-8-sig', newline='')


@contextlib.contextmanager
def _decoding_errors(path: PathLike) -> Iterator[None]:
    # Names the file in the errors of a truncated gzip file or of bytes that
    # are not UTF-8, raised while reading rather than at open.
    try:
        yield
    except UnicodeDecodeError as e:
        raise ValueError(f'{path} is not UTF-8 text: {e}') from e
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f'{path} is a truncated or corrupt gzip file: '
                         f'{e}') from e


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


def _parse_day(text: str) -> int:
    # strptime alone would also accept '2016-5-9'.
    if len(text) != 10:
        raise ValueError(f'not a YYYY-MM-DD date: {text!r}')
    day = datetime.datetime.strptime(text, '%Y-%m-%d')
    return (day.date() - datetime.date(1970, 1, 1)).days * SECONDS_PER_DAY


def _report_bad_rows(path: PathLike, bad_lines: List[int], on_error: str,
                     expected: str):
    if not bad_lines:
        return
    shown = ', '.join(str(line) for line in bad_lines[:NUM_LINES_SHOWN])
    if len(bad_lines) > NUM_LINES_SHOWN:
        shown += ', ...'
    plural = 's' if len(bad_lines) > 1 else ''
    message = (f'{path}: {len(bad_lines)} malformed row{plural} '
               f'(line{plural} {shown}): {expected}')
    if on_error == 'raise':
        raise ValueError(message)
    warnings.warn(f'{message}; skipped', stacklevel=3)
