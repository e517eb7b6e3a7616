r"""Loading SR-GNN pickles without letting them run code."""
import pickle
from typing import Any

from pyg_srgnn.typing import PathLike


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
