r"""Reading click logs: Diginetica, YOOCHOOSE, and delimited text files of
one's own; errors name the file and the malformed lines."""
import csv
import dataclasses
import itertools
from typing import Dict, List, Optional, Tuple

import numpy as np

from pyg_srgnn.data.preprocess import ClickLog
from pyg_srgnn.data.rows import (
    Column,
    FirstAppearanceCodes,
    check_labels,
    check_on_error,
    column_position,
    read_header,
    read_rows,
    sniff_separator,
)
from pyg_srgnn.data.times import MICROSECONDS_PER_SECOND, Times, days
from pyg_srgnn.text_files import decoding_errors, open_text
from pyg_srgnn.typing import PathLike

DIGINETICA_COLUMNS = ('session_id', 'user_id', 'item_id', 'timeframe',
                      'eventdate')

# The header the official script needs: it reads the header-less
# yoochoose-clicks.dat with csv.DictReader, so its users prepend this line.
YOOCHOOSE_COLUMNS = ('session_id', 'timestamp', 'item_id', 'category')


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
    check_on_error(on_error)
    sessions, items = FirstAppearanceCodes(), FirstAppearanceCodes()
    with open_text(path) as f, decoding_errors(path):
        reader = csv.reader(f, delimiter=';')
        header = read_header(reader, path, DIGINETICA_COLUMNS, ';')
        session_at, item_at, time_at, date_at = map(header.index, (
            'session_id', 'item_id', 'timeframe', 'eventdate'))

        def parse(fields: List[Tuple[str, ...]]) -> Tuple[np.ndarray, ...]:
            time = np.array(fields[time_at], dtype=np.int64)
            date = days(fields[date_at])
            check_labels(fields[session_at], fields[item_at])
            return (sessions(fields[session_at]), items(fields[item_at]),
                    time, date)

        session, item, time, date = read_rows(
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
    log = _read_yoochoose_arrow(path, header) if on_error == 'raise' else None
    if log is None:  # no pyarrow, or a row it cannot read: the lines named
        log = read_click_log(path, session_col=0, item_col=2, time_col=1,
                             sep=',', time_format='iso', header=header,
                             on_error=on_error)
    # Zeros that take no memory until written.
    return dataclasses.replace(log, time=np.zeros(len(log), dtype=np.int64))


def _read_yoochoose_arrow(path: PathLike, header: bool,
                         block_size: int = 1 << 24) -> Optional[ClickLog]:
    r"""The YOOCHOOSE log read by pyarrow's multi-threaded streaming CSV
    reader, block by block, so that only the int64 columns of the whole log
    are held, not its text: the same :class:`ClickLog` as the row reader
    gives (sessions and items coded in order of first appearance), in a
    fraction of its time and memory. :obj:`None` where pyarrow is not
    installed or any row is malformed, so that the row reader names the
    lines."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pa_csv
    except ImportError:
        return None
    items: Dict[str, int] = {}  # item id -> code, in order of appearance
    item_parts, date_parts, run_ids, run_lengths = [], [], [], []
    try:
        reader = pa_csv.open_csv(
            str(path),
            read_options=pa_csv.ReadOptions(
                column_names=list(YOOCHOOSE_COLUMNS), skip_rows=int(header),
                block_size=block_size),
            parse_options=pa_csv.ParseOptions(delimiter=','),
            convert_options=pa_csv.ConvertOptions(
                include_columns=['session_id', 'timestamp', 'item_id'],
                # YOOCHOOSE's session ids are integers, which take less
                # memory than strings; only their order of first
                # appearance is kept. Others send the file to the row
                # reader.
                column_types={'session_id': pa.int64(),
                              'item_id': pa.string(),
                              'timestamp': pa.string()},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False))
        for batch in reader:
            session, time, item = (batch.column(name) for name in (
                'session_id', 'timestamp', 'item_id'))
            if session.null_count or time.null_count or pc.any(
                    pc.equal(pc.utf8_length(item), 0)).as_py():
                return None  # the row reader names the row
            # Items: the block's distinct ids in order of appearance, each
            # given the next code where it is new.
            encoded = item.dictionary_encode()
            codes = np.fromiter(
                (items.setdefault(label, len(items))
                 for label in encoded.dictionary.to_pylist()),
                dtype=np.int64, count=len(encoded.dictionary))
            item_parts.append(codes[encoded.indices.to_numpy()])
            # As the row reader reads them: a trailing 'Z' dropped, read as
            # UTC; a time with an offset is an error there, here the row
            # reader's turn (the cast fails).
            time = pc.utf8_rtrim(time, characters='Z').cast(
                pa.timestamp('us'))
            date_parts.append(time.cast(pa.int64()).to_numpy() //
                              MICROSECONDS_PER_SECOND)
            # Sessions: runs of one id (a session's clicks are mostly
            # together), coded once all are read.
            session = session.to_numpy()
            starts = np.flatnonzero(np.concatenate(
                [[True], session[1:] != session[:-1]]))
            run_ids.append(session[starts])
            run_lengths.append(np.diff(starts, append=len(session)))
            del batch, session, time, item, encoded
            pa.default_memory_pool().release_unused()
    except (pa.ArrowException, OSError):
        return None
    if not item_parts:
        return None
    return ClickLog(session=_first_appearance_codes(
                        np.concatenate(run_ids), np.concatenate(run_lengths)),
                    item=np.concatenate(item_parts),
                    time=np.zeros(sum(map(len, item_parts)), dtype=np.int64),
                    date=np.concatenate(date_parts),
                    item_labels=np.array(list(items), dtype=str))


def _first_appearance_codes(run_ids: np.ndarray,
                            run_lengths: np.ndarray) -> np.ndarray:
    r"""The codes 0, 1, ... of the ids of runs of equal ids, in order of
    first appearance, one per element of the runs."""
    ids, first, inverse = np.unique(run_ids, return_index=True,
                                    return_inverse=True)
    code = np.empty(len(ids), dtype=np.int64)
    code[np.argsort(first)] = np.arange(len(ids))
    return np.repeat(code[inverse.reshape(-1)], run_lengths)


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
    check_on_error(on_error)
    if sep is not None and (len(sep) != 1 or sep in '"\r\n'):
        raise ValueError(f"The separator must be one character other than "
                         f"a quote or a line break (got {sep!r}); for a tab, "
                         f"pass it as a tab character")
    times = Times(time_format)
    sessions, items = FirstAppearanceCodes(), FirstAppearanceCodes()
    columns = [session_col, item_col] + ([] if time_col is None else
                                         [time_col])
    if len(set(columns)) < len(columns):
        raise ValueError(f"The session, item and time columns must differ "
                         f"(got {columns})")
    with open_text(path) as f, decoding_errors(path):
        first_line = f.readline()
        if not first_line:
            raise ValueError(f'{path} is empty')
        sep = sep or sniff_separator(path, first_line)
        # The first line is read again as a row, so that line numbers and
        # quoting stay the csv module's.
        reader = csv.reader(itertools.chain([first_line], f), delimiter=sep)
        if header:
            names = read_header(reader, path, tuple(
                column for column in columns if isinstance(column, str)), sep)
        else:  # the first row tells how many fields rows have
            names = next(csv.reader([first_line], delimiter=sep))
        session_at, item_at, *time_at = (
            column_position(path, column, names, header, sep)
            for column in columns)

        def parse(fields: List[Tuple[str, ...]]) -> Tuple[np.ndarray, ...]:
            time = tuple(times(fields[at]) for at in time_at)
            check_labels(fields[session_at], fields[item_at])
            return (sessions(fields[session_at]),
                    items(fields[item_at])) + time

        described = [f'a session id ({session_col})',
                     f'an item id ({item_col})']
        if time_col is not None:
            described.append(f'a time ({time_col}) {times.description}')
        session, item, *time = read_rows(
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
