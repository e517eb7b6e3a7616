r"""The data sets known by name, as the command line's :obj:`--dataset`
takes them, and where they live unless told otherwise."""
import functools
import os
import os.path as osp
from typing import Optional

from pyg_srgnn.data.dataset import (
    Diginetica,
    DigineticaSample,
    SessionDataset,
    YooChoose,
)
from pyg_srgnn.data.log_dataset import SessionLogDataset


def default_root(name: str) -> str:
    r"""Where data sets live unless told otherwise:
    :obj:`$PYG_SRGNN_HOME/<name>`, by default under :obj:`~/.cache`."""
    home = os.environ.get('PYG_SRGNN_HOME',
                          osp.join(osp.expanduser('~'), '.cache',
                                   'pyg_srgnn'))
    return osp.join(home, name)


DATASETS = {
    'diginetica-sample': DigineticaSample,
    # A data set prepared by `pyg-srgnn preprocess` (SessionLogDataset).
    'custom': None,
    'diginetica': Diginetica,
    'yoochoose1_64': functools.partial(YooChoose, fraction=64),
    'yoochoose1_4': functools.partial(YooChoose, fraction=4),
}


def load_dataset(name: str, root: Optional[str] = None,
                 split: str = 'train') -> SessionDataset:
    r"""Returns the split :obj:`split` of the data set called :obj:`name`,
    stored under :obj:`root` (default: :func:`default_root`)."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset '{name}' (expected one of "
                         f"{', '.join(DATASETS)})")
    if name == 'custom':
        if root is None:
            raise ValueError("The 'custom' dataset needs --root, the "
                             "directory 'pyg-srgnn preprocess' wrote")
        return SessionLogDataset(root, split=split)
    return DATASETS[name](root or default_root(name), split=split)
