import json
import os
import os.path as osp
import shutil
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.io import fs

from pyg_srgnn.data.io import read_diginetica_csv
from pyg_srgnn.data.preprocess import official_split
from pyg_srgnn.data.sequences import Sequences, prefix_augment

# (prefixes, targets, session of each sample)
Samples = Tuple[Sequences, np.ndarray, np.ndarray]


def default_root(name: str) -> str:
    r"""Where data sets live unless told otherwise:
    :obj:`$PYG_SRGNN_HOME/<name>`, by default under :obj:`~/.cache`."""
    home = os.environ.get('PYG_SRGNN_HOME',
                          osp.join(osp.expanduser('~'), '.cache',
                                   'pyg_srgnn'))
    return osp.join(home, name)


def shipped_file(name: str) -> Path:
    r"""Path of a file shipped in the repository's :obj:`datasets/` folder,
    which a wheel installs as :obj:`pyg_srgnn.datasets_shipped`."""
    from importlib.resources import files
    try:
        path = Path(str(files('pyg_srgnn.datasets_shipped') / name))
    except ModuleNotFoundError:  # a source checkout or an editable install
        path = Path(__file__).resolve().parents[2] / 'datasets' / name
    if not path.is_file():
        raise FileNotFoundError(f"The shipped data file '{name}' is missing "
                                f"(looked at {path}); reinstall pyg-srgnn")
    return path


class SessionDataset(InMemoryDataset):
    r"""Base class of session data sets: one sample per (prefix, target)
    pair, stored flat the way :class:`InMemoryDataset` collates, so that the
    whole data set is three tensors plus offsets.

    Each sample is a :class:`~torch_geometric.data.Data` with :obj:`clicks`
    (the prefix, item ids in click order), :obj:`y` (the target item id) and
    :obj:`session` (the position of the session it was cut from, in time
    order, used to cut a validation split by session). Pass
    :class:`~pyg_srgnn.data.SessionToGraph` as :obj:`transform` to get session
    graphs from PyG's :class:`~torch_geometric.loader.DataLoader`;
    :class:`~pyg_srgnn.data.SessionLoader` builds the same batches faster.

    Subclasses implement :meth:`process_samples`.

    Args:
        root (str): Root directory where the dataset should be saved.
        split (str, optional): :obj:`"train"` or :obj:`"test"`.
            (default: :obj:`"train"`)
        transform (callable, optional): A function/transform applied to each
            sample before every access. (default: :obj:`None`)
        force_reload (bool, optional): Whether to re-process the dataset.
            (default: :obj:`False`)
    """
    splits = ('train', 'test')

    def __init__(
        self,
        root: str,
        split: str = 'train',
        transform: Optional[Callable] = None,
        force_reload: bool = False,
    ) -> None:
        if split not in self.splits:
            raise ValueError(f"Unknown split '{split}' (expected one of "
                             f"{', '.join(self.splits)})")
        self.split = split
        super().__init__(root, transform, force_reload=force_reload)
        self.load(self.processed_paths[self.splits.index(split)])
        with open(self.processed_paths[-1]) as f:
            self.meta = json.load(f)

    @property
    def processed_file_names(self) -> List[str]:
        return [f'{split}.pt' for split in self.splits] + ['meta.json']

    def process_samples(self) -> Tuple[Dict[str, Samples], Sequence[str]]:
        r"""Returns the samples of every split and the original label of
        every item id (:obj:`labels[i - 1]` for item :obj:`i`)."""
        raise NotImplementedError

    def process(self) -> None:
        samples, item_labels = self.process_samples()
        num_items = 0
        for split, (prefixes, targets, session) in samples.items():
            if len(targets) > 0:
                num_items = max(num_items, int(prefixes.values.max(initial=0)),
                                int(targets.max()))
            data = Data(clicks=torch.from_numpy(prefixes.values),
                        y=torch.from_numpy(targets),
                        session=torch.from_numpy(session))
            one_each = torch.arange(len(targets) + 1)
            slices = {'clicks': torch.from_numpy(prefixes.ptr),
                      'y': one_each, 'session': one_each}
            path = self.processed_paths[self.splits.index(split)]
            fs.torch_save((data.to_dict(), slices, Data), path)
        meta = {'num_items': num_items, 'item_labels': list(item_labels)}
        with open(self.processed_paths[-1], 'w') as f:
            json.dump(meta, f)

    @property
    def num_items(self) -> int:
        r"""The largest item id over all splits: the model scores items
        :obj:`1..num_items`."""
        return self.meta['num_items']

    @property
    def item_labels(self) -> List[str]:
        return self.meta['item_labels']

    def sample_tensors(self) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        r"""Returns :obj:`(clicks, ptr, y, session)`: all prefixes flat, their
        offsets, the targets and the source sessions, of the samples in
        :meth:`indices` order."""
        data, slices = self._data, self.slices
        if self._indices is None:
            return data.clicks, slices['clicks'], data.y, data.session
        index = torch.as_tensor(self.indices(), dtype=torch.long)
        clicks, ptr = Sequences(data.clicks.numpy(),
                                slices['clicks'].numpy()).select(index.numpy())
        return (torch.from_numpy(clicks), torch.from_numpy(ptr),
                data.y[index], data.session[index])

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self)}, split={self.split!r})'


class DigineticaSample(SessionDataset):
    r"""The small Diginetica (CIKM Cup 2016) click-log sample that ships with
    pyg-srgnn (:obj:`datasets/diginetica-sample/train-item-views.csv`, from the
    official SR-GNN repository), preprocessed with the official SR-GNN
    protocol: the last 7 days are the test period, items seen fewer than 5
    times are dropped, sessions are prefix-augmented. The samples equal the
    official pickles; of the 47 sessions of the test period, 39 keep two or
    more clicks on items seen in training.

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10 10
        :header-rows: 1

        * - split
          - #sessions
          - #samples
          - #items
          - avg. prefix length
        * - train
          - 469
          - 1,205
          - 309
          - 2.81
        * - test
          - 39
          - 99
          - 309
          - 2.38

    Args: as for :class:`SessionDataset`.
    """
    shipped = 'diginetica-sample/train-item-views.csv'

    @property
    def raw_file_names(self) -> List[str]:
        return ['train-item-views.csv']

    def download(self) -> None:
        shutil.copyfile(shipped_file(self.shipped), self.raw_paths[0])

    def process_samples(self) -> Tuple[Dict[str, Samples], Sequence[str]]:
        split = official_split(read_diginetica_csv(self.raw_paths[0]))
        samples = {
            'train': prefix_augment(split.train),
            'test': prefix_augment(split.test),
        }
        return samples, [str(label) for label in split.item_labels]


DATASETS = {
    'diginetica-sample': DigineticaSample,
}


def load_dataset(name: str, root: Optional[str] = None,
                 split: str = 'train') -> SessionDataset:
    r"""Returns the split :obj:`split` of the data set called :obj:`name`,
    stored under :obj:`root` (default: :func:`default_root`)."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset '{name}' (expected one of "
                         f"{', '.join(DATASETS)})")
    return DATASETS[name](root or default_root(name), split=split)
