import collections
import gzip
import pickle
import re

import pytest

from pyg_srgnn.data.io import load_pickle, read_diginetica_csv

HEADER = 'session_id;user_id;item_id;timeframe;eventdate\n'
MAY_9 = 1462752000  # 2016-05-09 00:00 UTC
DAY = 86400


def write(path, text):
    path.write_text(text)
    return path


def raises_naming(path, message):
    r"""Expects a :class:`ValueError` whose message names :obj:`path`."""
    return pytest.raises(ValueError, match=re.escape(f'{path}{message}'))


def test_load_pickle(tmp_path):
    sessions = ([[1, 2], [1], [4]], [3, 2, 5])  # the layout of train.txt
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f'train-{protocol}.txt'
        path.write_bytes(pickle.dumps(sessions, protocol=protocol))
        assert load_pickle(path) == sessions


def test_load_pickle_refuses_classes(tmp_path):
    path = tmp_path / 'dict.txt'
    path.write_bytes(pickle.dumps(collections.OrderedDict(a=1)))
    with pytest.raises(ValueError, match="class 'collections.OrderedDict'"):
        load_pickle(path)

    # What a malicious file holds: GLOBAL os.system, called on a string.
    marker = tmp_path / 'ran'
    path = tmp_path / 'evil.txt'
    path.write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() +
                     b"'\ntR.")
    with pytest.raises(ValueError) as info:
        load_pickle(path)
    assert str(info.value) == (
        f"load_pickle refuses to load class 'os.system' from {path}: SR-GNN "
        f"pickles hold only lists, tuples and ints")
    assert not marker.exists()


def test_load_pickle_bad_files(tmp_path):
    path = tmp_path / 'train.txt'
    path.write_bytes(pickle.dumps(list(range(1000)), protocol=3)[:-100])
    with raises_naming(path, ' is not a complete pickle'):
        load_pickle(path)

    path.write_bytes(b'')
    with raises_naming(path, ' is not a complete pickle'):
        load_pickle(path)

    with pytest.raises(FileNotFoundError, match='missing.txt'):
        load_pickle(tmp_path / 'missing.txt')


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
    with pytest.raises(ValueError) as info:
        read_diginetica_csv(path)
    assert str(info.value) == (
        f"{path}: the header lacks the column(s) timeframe (found "
        f"'session_id;user_id;item_id;eventdate', expected "
        f"'session_id;user_id;item_id;timeframe;eventdate')")

    path = tmp_path / 'views.csv.gz'
    data = gzip.compress((HEADER + '1;NA;5;0;2016-05-09\n' * 5000).encode())
    path.write_bytes(data[:len(data) // 2])
    with raises_naming(path, ' is a truncated or corrupt gzip file'):
        read_diginetica_csv(path)

    path = tmp_path / 'latin1.csv'
    path.write_bytes((HEADER + '1;NA;caf\xe9;0;2016-05-09\n').encode('latin1'))
    with raises_naming(path, ' is not UTF-8 text'):
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
    message = (f'{path}: 6 malformed rows (lines 3, 4, 5, 6, 7, ...): '
               'expected session_id;user_id;item_id;timeframe;eventdate with '
               'an integer timeframe and a YYYY-MM-DD eventdate')
    with pytest.raises(ValueError) as info:
        read_diginetica_csv(path)
    assert str(info.value) == message

    with pytest.warns(UserWarning) as record:
        log = read_diginetica_csv(path, on_error='skip')
    assert [str(w.message) for w in record] == [f'{message}; skipped']
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
