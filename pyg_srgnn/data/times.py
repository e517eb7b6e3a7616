r"""Parsing the times and dates of click logs, a chunk of rows at a time,
to seconds or microseconds since the epoch, UTC."""
import contextlib
import datetime
import functools
from typing import Callable, Optional, Sequence

import numpy as np

MICROSECONDS_PER_SECOND = 10**6

UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class Times:
    r"""Parses times to microseconds since the epoch, UTC, in the format
    :obj:`time_format` (see
    :func:`~pyg_srgnn.data.click_logs.read_click_log`); without one, the
    first chunk of times that parses as unix seconds or ISO 8601 fixes it."""
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


def days(texts: Sequence[str]) -> np.ndarray:
    r"""Parses :obj:`YYYY-MM-DD` dates to seconds since the epoch."""
    texts = np.asarray(texts, dtype=str)
    # numpy alone would also read '2016-05' or '2016-05-09T10:00'.
    if (np.char.str_len(texts) != 10).any():
        raise ValueError('not a YYYY-MM-DD date')
    return _iso_microseconds(texts) // MICROSECONDS_PER_SECOND
