import collections
import pickle

import pytest

from pyg_srgnn.data.safe_pickle import load_pickle
from tests.data.errors import raises_exactly, raises_naming


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
    with raises_exactly(
            f"load_pickle refuses to load class 'os.system' from {path}: "
            f"SR-GNN pickles hold only lists, tuples and ints"):
        load_pickle(path)
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
