import functools
import gzip
import sys

import numpy as np
import pytest

from pyg_srgnn.data import rows as rows_module
from pyg_srgnn.data.click_logs import (
    read_click_log,
    read_diginetica_csv,
    read_yoochoose_clicks,
)
from pyg_srgnn.data.preprocess import (
    group_sessions,
    official_split,
    yoochoose_fraction,
)
from pyg_srgnn.data.sequences import prefix_augment
from tests.data.errors import raises_exactly, raises_naming

HEADER = 'session_id;user_id;item_id;timeframe;eventdate\n'
MAY_9 = 1462752000  # 2016-05-09 00:00 UTC
DAY = 86400


def write(path, text):
    path.write_text(text)
    return path


def read_malformed(read, path, message):
    r"""Expects :obj:`read(path)` to raise :obj:`message`, and to warn with it
    under :obj:`on_error="skip"`; returns what it read then."""
    with raises_exactly(message):
        read(path)
    with pytest.warns(UserWarning) as record:
        log = read(path, on_error='skip')
    assert [str(w.message) for w in record] == [f'{message}; skipped']
    return log


def test_read_diginetica_csv(tmp_path):
    # Session and item codes follow first appearance, not the ids' order.
    text = (HEADER + '20;NA;7;50;2016-05-09\n'
            '3;NA;5;10;2016-05-10\n'
            '\n'  # blank lines are skipped
            '20;NA;5;0;2016-05-09\n')
    log = read_diginetica_csv(write(tmp_path / 'views.csv', text))
    assert len(log) == 3
    assert log.session.tolist() == [0, 1, 0]
    assert log.item.tolist() == [0, 1, 1]
    assert log.time.tolist() == [50, 10, 0]
    assert log.date.tolist() == [MAY_9, MAY_9 + DAY, MAY_9]
    assert log.item_labels.tolist() == ['7', '5']
    assert log.num_items == 2

    path = tmp_path / 'views.csv.gz'
    path.write_bytes(gzip.compress(text.encode()))
    log_gz = read_diginetica_csv(path)
    for name in ('session', 'item', 'time', 'date', 'item_labels'):
        assert getattr(log_gz, name).tolist() == getattr(log, name).tolist()


def test_read_diginetica_csv_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.csv'):
        read_diginetica_csv(tmp_path / 'missing.csv')

    path = write(tmp_path / 'empty.csv', '')
    with raises_naming(path, ' is empty: expected a header line '
                       'session_id;user_id;item_id;timeframe;eventdate'):
        read_diginetica_csv(path)

    path = write(tmp_path / 'no-time.csv', 'session_id;user_id;item_id;'
                 'eventdate\n1;NA;5;2016-05-09\n')
    with raises_exactly(
            f"{path}: the header lacks the column(s) timeframe (found "
            f"'session_id;user_id;item_id;eventdate', expected "
            f"'session_id;user_id;item_id;timeframe;eventdate')"):
        read_diginetica_csv(path)

    path = tmp_path / 'views.csv.gz'
    data = gzip.compress((HEADER + '1;NA;5;0;2016-05-09\n' * 5000).encode())
    path.write_bytes(data[:len(data) // 2])
    with raises_naming(path, ' is a truncated or corrupt gzip file'):
        read_diginetica_csv(path)

    path = tmp_path / 'latin1.csv'
    path.write_bytes((HEADER + '1;NA;caf\xe9;0;2016-05-09\n').encode('latin1'))
    with raises_exactly(f'{path}: line 2 is not UTF-8 text (byte 0xe9 at '
                        f'column 9); save the file as UTF-8'):
        read_diginetica_csv(path)


def test_read_diginetica_csv_malformed_rows(tmp_path):
    path = write(tmp_path / 'views.csv', HEADER +
                 '1;NA;5;0;2016-05-09\n'      # line 2: fine
                 '1;NA;6;1\n'                 # 3: a field short
                 '2;NA;6;1.5;2016-05-09\n'    # 4: timeframe not an integer
                 '2;NA;6;1;2016-5-9\n'        # 5: not YYYY-MM-DD
                 '9;NA;6;1;2016-02-30\n'      # 6: no such day
                 '1;NA;;2;2016-05-09\n'       # 7: no item
                 ';NA;6;1;2016-05-09\n'       # 8: no session
                 '1;NA;6;3;2016-05-10\n')     # 9: fine
    log = read_malformed(
        read_diginetica_csv, path,
        f'{path}: 6 malformed rows (lines 3, 4, 5, 6, 7, ...): expected '
        f'session_id;user_id;item_id;timeframe;eventdate with an integer '
        f'timeframe and a YYYY-MM-DD eventdate')
    # Sessions and items seen only in skipped rows get no code.
    assert log.session.tolist() == [0, 0]
    assert log.item.tolist() == [0, 1]
    assert log.time.tolist() == [0, 3]
    assert log.date.tolist() == [MAY_9, MAY_9 + DAY]
    assert log.item_labels.tolist() == ['5', '6']

    path = write(tmp_path / 'one.csv', HEADER + '1;NA;5;x;2016-05-09\n')
    with pytest.raises(ValueError, match=r'1 malformed row \(line 2\)'):
        read_diginetica_csv(path)

    with pytest.raises(ValueError, match=r"one of \('raise', 'skip'\), got "
                       "'ignore'"):
        read_diginetica_csv(path, on_error='ignore')


APRIL_7 = 1396828800  # 2014-04-07 00:00 UTC
YOOCHOOSE_ROWS = ('1,2014-04-07T10:51:09.277Z,214536502,0\n'
                  '1,2014-04-07T10:54:09.868Z,214536500,0\n'
                  '2,2014-04-06T23:59:59.999Z,214536502,S\n'
                  '1,2014-04-07T10:50:00.000Z,214577561,2053\n')


def test_read_yoochoose_clicks(tmp_path):
    path = write(tmp_path / 'yoochoose-clicks.dat', YOOCHOOSE_ROWS)
    log = read_yoochoose_clicks(path)
    assert log.session.tolist() == [0, 0, 1, 0]
    assert log.item.tolist() == [0, 1, 0, 2]
    assert log.item_labels.tolist() == ['214536502', '214536500', '214577561']
    # File order inside a session, as the official code keeps it:
    assert log.time.tolist() == [0, 0, 0, 0]
    # Whole seconds, UTC:
    assert log.date.tolist() == [APRIL_7 + 39069, APRIL_7 + 39249,
                                 APRIL_7 - 1, APRIL_7 + 39000]

    # The header the official script needs is skipped; .gz is read as well.
    path = tmp_path / 'yoochoose-clicks.dat.gz'
    path.write_bytes(gzip.compress(
        ('session_id,timestamp,item_id,category\n' +
         YOOCHOOSE_ROWS).encode()))
    log_gz = read_yoochoose_clicks(path)
    for name in ('session', 'item', 'time', 'date', 'item_labels'):
        assert getattr(log_gz, name).tolist() == getattr(log, name).tolist()


def test_read_yoochoose_clicks_bad_files(tmp_path):
    path = write(tmp_path / 'empty.dat', '')
    with raises_exactly(f'{path} is empty'):
        read_yoochoose_clicks(path)

    path = tmp_path / 'clicks.dat.gz'
    data = gzip.compress(YOOCHOOSE_ROWS.encode() * 2000)
    path.write_bytes(data[:len(data) // 2])
    with raises_naming(path, ' is a truncated or corrupt gzip file'):
        read_yoochoose_clicks(path)

    path = write(tmp_path / 'clicks.dat', YOOCHOOSE_ROWS[:40] +
                 '2,2014-04-07T10:51:09.277Z,214536502\n'  # 2: a field short
                 '3,2014-04-07,5,0\n'  # 3: fine, a date is ISO 8601
                 '3,yesterday,5,0\n'  # 4: not a time
                 '3,2014-04-07T10:51:09+02:00,5,0\n'  # 5: an offset
                 ',2014-04-07T10:51:09Z,5,0\n'  # 6: no session
                 '4,2014-04-07T10:51:09Z,,0\n'  # 7: no item
                 '4,,5,0\n')  # 8: no time
    log = read_malformed(
        read_yoochoose_clicks, path,
        f"{path}: 6 malformed rows (lines 2, 4, 5, 6, 7, ...): expected 4 "
        f"fields separated by ',', with a session id (0), an item id (2), a "
        f"time (1) in ISO 8601, UTC")
    assert log.session.tolist() == [0, 1]
    assert log.item_labels.tolist() == ['214536502', '5']
    assert log.date.tolist() == [APRIL_7 + 39069, APRIL_7]


CLICKS = ('SessionId\tItemId\tTime\n'
          's1\tshoe\t1396437466.5\n'
          's2\tbag\t1396437400\n'
          's1\that\t1396437466.25\n')


@pytest.mark.parametrize('sep', ['\t', ',', ';'])
def test_read_click_log(tmp_path, sep):
    path = write(tmp_path / 'clicks.txt', CLICKS.replace('\t', sep))
    log = read_click_log(path, 'SessionId', 'ItemId', 'Time')
    assert log.session.tolist() == [0, 1, 0]
    assert log.item.tolist() == [0, 1, 2]
    assert log.item_labels.tolist() == ['shoe', 'bag', 'hat']
    # Microseconds order clicks within a second; dates are whole seconds.
    assert log.time.tolist() == [1396437466500000, 1396437400000000,
                                 1396437466250000]
    assert log.date.tolist() == [1396437466, 1396437400, 1396437466]
    sessions, _ = group_sessions(log)
    assert sessions.tolist() == [[2, 0], [1]]  # 'hat' came before 'shoe'


def test_read_click_log_formats(tmp_path):
    # No header: columns by position; a quoted field may hold the separator.
    path = write(tmp_path / 'clicks.csv',
                 '2014-04-07T10:51:09.5Z,"a,b",7\n'
                 '2014-04-07 10:51:10,c,7\n')
    log = read_click_log(path, session_col=2, item_col=1, time_col=0,
                         header=False)
    assert log.item_labels.tolist() == ['a,b', 'c']
    assert log.session.tolist() == [0, 0]
    assert log.time.tolist() == [(APRIL_7 + 39069) * 10**6 + 500000,
                                 (APRIL_7 + 39070) * 10**6]
    assert log.date.tolist() == [APRIL_7 + 39069, APRIL_7 + 39070]
    assert read_click_log(path, 2, 1, 0, header=False,
                          time_format='iso').time.tolist() == log.time.tolist()

    path = write(tmp_path / 'clicks.tsv', 'user\twhat\twhen\n'
                 'u1\ti1\t07/04/2014 10:51\n'
                 'u1\ti2\t07/04/2014 10:52\n')
    log = read_click_log(path, 'user', 'what', 'when',
                         time_format='%d/%m/%Y %H:%M')
    assert log.date.tolist() == [APRIL_7 + 39060, APRIL_7 + 39120]

    # Without a time column, clicks keep their file order and the log has
    # no dates, so it cannot be split by date.
    path = write(tmp_path / 'no-time.tsv', CLICKS)
    log = read_click_log(path, 'SessionId', 'ItemId')
    assert log.time.tolist() == [0, 0, 0]
    assert log.date is None
    sessions, dates = group_sessions(log)
    assert sessions.tolist() == [[0, 2], [1]]
    assert dates is None
    with pytest.raises(ValueError, match='has no dates'):
        official_split(log)


def test_read_click_log_bad_arguments(tmp_path):
    path = write(tmp_path / 'clicks.tsv', CLICKS)
    with raises_exactly(
            f"{path}: the header lacks the column(s) Timestamp (found "
            f"'SessionId\tItemId\tTime', expected "
            f"'SessionId\tItemId\tTimestamp')"):
        read_click_log(path, 'SessionId', 'ItemId', 'Timestamp')

    with pytest.raises(ValueError, match="'SessionId' is given by name, but "
                       "header=False"):
        read_click_log(path, 'SessionId', 1, header=False)
    with raises_naming(path, ': there is no column 3: the first line has 3 '
                       "fields separated by '\\t'"):
        read_click_log(path, 0, 3)
    with pytest.raises(ValueError, match=r"time_format must be None, one of "
                       r"\('unix', 'iso'\) or a strptime format"):
        read_click_log(path, 0, 1, 2, time_format='seconds')
    with pytest.raises(ValueError, match=r"one of \('raise', 'skip'\)"):
        read_click_log(path, 0, 1, on_error='warn')

    path = write(tmp_path / 'one-column.txt', 'SessionId\n1\n')
    with raises_naming(path, ": cannot tell the separator from the first "
                       "line 'SessionId\\n'"):
        read_click_log(path, 0, 1)

    path = write(tmp_path / 'empty.tsv', '')
    with raises_exactly(f'{path} is empty'):
        read_click_log(path, 'SessionId', 'ItemId')


def test_read_click_log_malformed_rows(tmp_path, monkeypatch):
    # Chunks of 4 rows: malformed rows are found inside and across chunks.
    monkeypatch.setattr(rows_module, 'CHUNK_ROWS', 4)
    rows = [f's{i // 3}\ti{i % 5}\t{1396437400 + i}\n' for i in range(20)]
    rows[2] = 's0\ti2\tlater\n'  # line 4: not a time
    rows[7] = 's9\ti9\n'  # line 9: a field short
    rows[8] = '\n'  # line 10: blank, skipped
    rows[9] = '\ti4\t1396437409\n'  # line 11: no session
    rows[15] = 's5\t"i\n0"\t1396437415\n'  # lines 17-18: a quoted line end
    rows[16] = 's5\ti1\t1396437416.5.\n'  # line 19: not a number
    path = write(tmp_path / 'clicks.tsv', 'SessionId\tItemId\tTime\n' +
                 ''.join(rows))
    log = read_malformed(
        functools.partial(read_click_log, session_col='SessionId',
                          item_col='ItemId', time_col='Time'), path,
        f"{path}: 4 malformed rows (lines 4, 9, 11, 19): expected 3 fields "
        f"separated by '\\t', with a session id (SessionId), an item id "
        f"(ItemId), a time (Time) in unix seconds or ISO 8601")
    kept = [i for i in range(20) if i not in (2, 7, 8, 9, 16)]
    assert (log.date - 1396437400).tolist() == kept
    # Sessions and items seen only in malformed rows (s9, i9) get no code.
    assert log.session.tolist() == [i // 3 for i in kept]
    assert log.item_labels.tolist() == ['i0', 'i1', 'i3', 'i4', 'i2',
                                        'i\n0']


def test_read_click_log_yoochoose_slice(shared_data):
    folder = shared_data / 'yoochoose_clicks_100k'
    logs = {
        part: read_click_log(folder / f'yoochoose-clicks-100k_{part}.txt.gz',
                             'SessionId', 'ItemId', 'Time')
        for part in ('train_full', 'test')
    }
    for part, (num_clicks, num_sessions, num_items) in {
            'train_full': (70278, 17794, 2933),
            'test': (13568, 3416, 1771)}.items():
        log = logs[part]
        assert len(log) == num_clicks
        assert log.session.max() + 1 == num_sessions
        assert log.num_items == num_items
        assert all(label.isdigit() for label in log.item_labels.tolist())

    # The YOOCHOOSE protocol: the last day is the test period.
    split = official_split(logs['train_full'], test_days=1)
    assert len(split.train) > 0 and len(split.test) > 0
    assert split.train.lengths.min() >= 2 and split.test.lengths.min() >= 2
    ids = np.unique(split.train.values)
    assert ids.tolist() == list(range(1, split.num_items + 1))
    assert set(split.test.values.tolist()) <= set(ids.tolist())
    split_date = split.test_dates.max() - 86400
    assert split.train_dates.max() < split_date < split.test_dates.min()

    fraction_split, (prefixes, targets, session) = yoochoose_fraction(
        split, 64)
    _, all_targets, _ = prefix_augment(split.train)
    assert len(targets) == len(all_targets) // 64 > 0
    assert targets.tolist() == all_targets[-len(targets):].tolist()
    # The sessions behind the samples, the first one whole:
    _, session_targets, _ = prefix_augment(fraction_split.train)
    assert session_targets[-len(targets):].tolist() == targets.tolist()
    assert fraction_split.num_items == split.num_items


def yoochoose_log_from_slice(shared_data, path):
    r"""The shipped YOOCHOOSE slice (session-rec's TSV) written as
    yoochoose-clicks.dat: session, ISO 8601 time, item, category."""
    import csv
    import datetime
    rows = []
    for name in ('train_full', 'test'):
        with gzip.open(shared_data / 'yoochoose_clicks_100k' /
                       f'yoochoose-clicks-100k_{name}.txt.gz', 'rt') as f:
            for row in csv.DictReader(f, delimiter='\t'):
                time = datetime.datetime.fromtimestamp(
                    float(row['Time']), datetime.timezone.utc)
                rows.append(f"{row['SessionId']},"
                            f"{time.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z,"
                            f"{row['ItemId']},0\n")
    path.write_text(''.join(rows))
    return path


def test_read_yoochoose_clicks_with_pyarrow_as_the_row_reader(
        tmp_path, shared_data, monkeypatch):
    pytest.importorskip('pyarrow')
    from pyg_srgnn.data import click_logs

    path = yoochoose_log_from_slice(shared_data, tmp_path / 'clicks.dat')
    fast = click_logs._read_yoochoose_arrow(path, header=False)
    assert fast is not None
    assert len(fast) == len(path.read_text().splitlines()) > 80000
    # Without pyarrow, the row reader: the same log.
    monkeypatch.setitem(sys.modules, 'pyarrow', None)
    assert click_logs._read_yoochoose_arrow(path, header=False) is None
    rows = read_yoochoose_clicks(path)
    for name in ('session', 'item', 'time', 'date', 'item_labels'):
        assert np.array_equal(getattr(fast, name), getattr(rows, name)), name
    assert fast.item_labels.dtype == rows.item_labels.dtype


def test_pyarrow_reads_block_by_block_as_the_row_reader(tmp_path,
                                                        monkeypatch):
    # Blocks of 256 bytes: sessions interleave and come back in later
    # blocks, items recur across blocks; the codes stay those of first
    # appearance in the whole log.
    pytest.importorskip('pyarrow')
    from pyg_srgnn.data import click_logs
    rng = np.random.default_rng(0)
    lines = [f'{900 - 7 * int(rng.integers(40))},2014-04-0{1 + i % 7}T10:51:'
             f'{i % 60:02d}.277Z,{214000000 + int(rng.zipf(1.5)) % 97},0\n'
             for i in range(600)]
    path = tmp_path / 'clicks.dat'
    path.write_text(''.join(lines))
    fast = click_logs._read_yoochoose_arrow(path, header=False,
                                            block_size=256)
    monkeypatch.setitem(sys.modules, 'pyarrow', None)
    rows = read_yoochoose_clicks(path)
    for name in ('session', 'item', 'time', 'date', 'item_labels'):
        assert np.array_equal(getattr(fast, name), getattr(rows, name)), name
    monkeypatch.undo()

    # Times without the 'Z' read alike (UTC); an offset, which the row
    # reader refuses, sends the file to it.
    path.write_text(''.join(line.replace('Z,', ',') for line in lines))
    naive = click_logs._read_yoochoose_arrow(path, header=False,
                                             block_size=256)
    assert np.array_equal(naive.date, rows.date)
    path.write_text(''.join(lines) + '17,2014-04-07T10:51:09+02:00,5,0\n')
    assert click_logs._read_yoochoose_arrow(path, header=False,
                                            block_size=256) is None
    with pytest.raises(ValueError, match=r'line 601'):
        read_yoochoose_clicks(path)

    # A malformed row in a late block: the row reader, which names it.
    path.write_text(''.join(lines) + '17,2014-04-07T10:51:09Z,,0\n')
    assert click_logs._read_yoochoose_arrow(path, header=False,
                                            block_size=256) is None
    with pytest.raises(ValueError, match=r'clicks\.dat.*line 601'):
        read_yoochoose_clicks(path)
