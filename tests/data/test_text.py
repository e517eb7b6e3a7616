import gzip
import re

import numpy as np
import pytest

from pyg_srgnn.data.safe_pickle import load_pickle
from pyg_srgnn.data.sequences import Sequences, prefix_augment, sample_sessions
from pyg_srgnn.data.text import (
    read_samples_text,
    read_sessions_text,
    write_samples_text,
    write_sessions_text,
)

SESSIONS = [[1, 2, 3], [40], [5, 6]]


def write(path, text):
    path.write_text(text)
    return path


def raises_exactly(message):
    r"""Expects a :class:`ValueError` whose message is :obj:`message`."""
    return pytest.raises(ValueError, match=f'^{re.escape(message)}$')


@pytest.mark.parametrize('name', ['sessions.txt', 'sessions.txt.gz'])
def test_sessions_round_trip(tmp_path, name):
    path = tmp_path / name
    write_sessions_text(path, Sequences.from_lists(SESSIONS))
    text = '1 2 3\n40\n5 6\n'
    if name.endswith('.gz'):
        assert gzip.decompress(path.read_bytes()).decode() == text
        # No time stamp in the gzip header: the same sessions, the same bytes.
        first = path.read_bytes()
        write_sessions_text(path, Sequences.from_lists(SESSIONS))
        assert path.read_bytes() == first
    else:
        assert path.read_text() == text
    assert read_sessions_text(path).tolist() == SESSIONS

    write_sessions_text(path, Sequences.from_lists([]))
    assert read_sessions_text(path).tolist() == []


@pytest.mark.parametrize('name', ['samples.tsv', 'samples.tsv.gz'])
def test_samples_round_trip(tmp_path, name):
    path = tmp_path / name
    prefixes = Sequences.from_lists([[1, 2], [3]])
    write_samples_text(path, prefixes, np.array([3, 4]))
    text = '1 2\t3\n3\t4\n'
    if name.endswith('.gz'):
        assert gzip.decompress(path.read_bytes()).decode() == text
    else:
        assert path.read_text() == text
    prefixes, targets = read_samples_text(path)
    assert prefixes.tolist() == [[1, 2], [3]]
    assert targets.tolist() == [3, 4]

    write_samples_text(path, Sequences.from_lists([]), np.array([]))
    prefixes, targets = read_samples_text(path)
    assert prefixes.tolist() == [] and targets.tolist() == []


def test_read_text_whitespace(tmp_path):
    # Windows line ends, runs of spaces and a missing last line end are read.
    path = write(tmp_path / 'sessions.txt', ' 1  2 \r\n3')
    assert read_sessions_text(path).tolist() == [[1, 2], [3]]
    path = write(tmp_path / 'samples.tsv', '1  2 \t 3\r\n')
    prefixes, targets = read_samples_text(path)
    assert prefixes.tolist() == [[1, 2]] and targets.tolist() == [3]


def test_read_sessions_text_bad_lines(tmp_path):
    path = write(tmp_path / 'sessions.txt',
                 '1 2\n'
                 '1 x\n'  # line 2: not an id
                 '\n'  # 3: empty
                 '3\t4\n'  # 4: a samples line
                 '0 5\n'  # 5: ids start at 1
                 '1 99999999999999999999\n'  # 6: too large
                 '7 8\n')
    with raises_exactly(
            f"{path}: 5 malformed rows (lines 2, 3, 4, 5, 6): expected one "
            f"session per line: item ids (integers from 1) separated by "
            f"spaces (line 2: 'x' is not an item id)"):
        read_sessions_text(path)

    path = write(tmp_path / 'one.txt', '1 2\n\n')
    with pytest.raises(ValueError, match=re.escape(
            '1 malformed row (line 2): expected one session per line: item '
            'ids (integers from 1) separated by spaces (line 2: an empty '
            'session)')):
        read_sessions_text(path)

    path = tmp_path / 'sessions.txt.gz'
    data = gzip.compress(b'1 2 3\n' * 20000)
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match=re.escape(
            f'{path} is a truncated or corrupt gzip file')):
        read_sessions_text(path)


def test_read_samples_text_bad_lines(tmp_path):
    path = write(tmp_path / 'samples.tsv',
                 '1 2\t3\n'
                 '1 2 3\n'  # line 2: no tab
                 '\t4\n'  # 3: empty prefix
                 '1\t2 3\n'  # 4: two targets
                 '1\t0\n'  # 5: target 0
                 '1\t\n'  # 6: no target
                 '1\t2\t3\n'  # 7: two tabs
                 '5 y\t6\n')  # 8: not an id
    with raises_exactly(
            f"{path}: 7 malformed rows (lines 2, 3, 4, 5, 6, ...): expected "
            f"one sample per line: the prefix (item ids, integers from 1, "
            f"separated by spaces), a tab and the target item id (line 2: no "
            f"tab)"):
        read_samples_text(path)

    for text, reason in (('\t4\n', 'an empty prefix'),
                         ('1\t2 3\n', 'more than one target'),
                         ('1\t0\n', "'0' is not an item id"),
                         ('1\t\n', 'an empty target'),
                         ('1\t2\t3\n', 'more than one tab'),
                         ('5 y\t6\n', "'y' is not an item id")):
        path = write(tmp_path / 'one.tsv', text)
        with pytest.raises(ValueError, match=re.escape(
                f'(line 1: {reason})')):
            read_samples_text(path)


def test_write_text_refuses(tmp_path):
    path = tmp_path / 'sessions.txt'
    with pytest.raises(ValueError, match=re.escape(
            f'{path}: cannot write session 1: it is empty')):
        write_sessions_text(path, Sequences.from_lists([[1], [], [2]]))
    with pytest.raises(ValueError, match=re.escape(
            f'{path}: cannot write session 1: it holds item id 0; ids start '
            f'at 1')):
        write_sessions_text(path, Sequences.from_lists([[1], [2, 0]]))
    with pytest.raises(ValueError, match=re.escape(
            f'{path}: cannot write target 0: it holds item id -1')):
        write_samples_text(path, Sequences.from_lists([[1]]), np.array([-1]))
    with pytest.raises(ValueError, match=re.escape(
            f'{path}: cannot write 1 prefixes with 2 targets')):
        write_samples_text(path, Sequences.from_lists([[1]]),
                           np.array([2, 3]))
    assert not path.exists()


@pytest.mark.parametrize('folder, stats', [
    # (training sessions, samples, clicks; test sessions, samples; max id)
    ('diginetica', (186670, 719470, 906140, 15963, 60858, 43097)),
    ('yoochoose1_64', (116167, 369859, 486026, 15324, 55898, 37483)),
])
def test_plain_text_equals_pickles(shared_data, folder, stats):
    folder = shared_data / folder
    sessions = read_sessions_text(folder / 'all_train_seq.txt.plain.gz')
    prefixes, targets = read_samples_text(folder / 'test.tsv.gz')

    official = Sequences.from_lists(load_pickle(folder / 'all_train_seq.txt'))
    assert np.array_equal(sessions.ptr, official.ptr)
    assert np.array_equal(sessions.values, official.values)
    official_prefixes, official_targets = load_pickle(folder / 'test.txt')
    official_prefixes = Sequences.from_lists(official_prefixes)
    assert np.array_equal(prefixes.ptr, official_prefixes.ptr)
    assert np.array_equal(prefixes.values, official_prefixes.values)
    assert targets.tolist() == official_targets

    num_test_sessions = int(sample_sessions(prefixes, targets).max()) + 1
    assert (len(sessions), len(prefix_augment(sessions)[1]),
            len(sessions.values), num_test_sessions, len(targets),
            int(sessions.values.max())) == stats
    # The clicks quoted for these data sets count the test sessions too: a
    # test session of n clicks gives n - 1 samples.
    num_clicks = len(sessions.values) + len(targets) + num_test_sessions
    assert num_clicks == {'diginetica': 982961,
                          'yoochoose1_64': 557248}[folder.name]
