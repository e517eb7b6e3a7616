import json
import os
import os.path as osp
import shutil
from abc import ABCMeta, abstractmethod
from pathlib import Path
from typing import (
    Callable,
    Dict,
    List,
    Optional,
    Sequence,
    Tuple,
)

import numpy as np
import torch
from torch import Tensor

from torch_geometric.data import Data, InMemoryDataset
from torch_geometric.io import fs

from pyg_srgnn.atomic_write import written_whole
from pyg_srgnn.data.click_logs import read_diginetica_csv
from pyg_srgnn.data.preprocess import official_split
from pyg_srgnn.data.safe_pickle import load_pickle
from pyg_srgnn.data.sequences import (
    Sequences,
    prefix_augment,
    sample_sessions,
)

# (prefixes, targets, session of each sample)
Samples = Tuple[Sequences, np.ndarray, np.ndarray]


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


class SessionDataset(InMemoryDataset, metaclass=ABCMeta):
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

    @abstractmethod
    def process_samples(
            self) -> Tuple[Dict[str, Samples], Optional[Sequence[str]]]:
        r"""Returns the samples of every split and the original label of
        every item id (:obj:`labels[i - 1]` for item :obj:`i`), or
        :obj:`None` where the ids are the labels."""

    def process(self) -> None:
        samples, item_labels = self.process_samples()
        if item_labels is None:
            num_items = max(
                max(int(prefixes.values.max(initial=0)),
                    int(np.max(targets, initial=0)))
                for prefixes, targets, _ in samples.values())
            item_labels = [str(i) for i in range(1, num_items + 1)]
        for split, (prefixes, targets, session) in samples.items():
            data = Data(clicks=torch.from_numpy(prefixes.values),
                        y=torch.from_numpy(targets),
                        session=torch.from_numpy(session))
            one_each = torch.arange(len(targets) + 1)
            slices = {'clicks': torch.from_numpy(prefixes.ptr),
                      'y': one_each, 'session': one_each}
            path = self.processed_paths[self.splits.index(split)]
            with written_whole(path) as tmp:
                fs.torch_save((data.to_dict(), slices, Data), tmp)
        meta = {'num_items': len(item_labels),
                'item_labels': list(item_labels)}
        with written_whole(self.processed_paths[-1]) as tmp:
            with open(tmp, 'w') as f:
                json.dump(meta, f)

    @property
    def num_items(self) -> int:
        r"""The number of items: ids run from :obj:`1` to :obj:`num_items`,
        and a model over this data set scores all of them."""
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

    def statistics(self) -> Dict[str, float]:
        r"""Counts of this split. A session's clicks are its longest prefix
        and that prefix's target, so that a prefix-augmented session of
        :obj:`n` clicks (:obj:`n - 1` samples) counts :obj:`n` clicks, and a
        session given by one sample (a test split that is not
        prefix-augmented) counts its prefix and target."""
        _, ptr, _, session = self.sample_tensors()
        num_samples = session.numel()
        sessions, inverse = session.unique(return_inverse=True)
        longest = torch.zeros(sessions.numel(), dtype=torch.long)
        longest.scatter_reduce_(0, inverse, ptr[1:] - ptr[:-1], 'amax')
        num_sessions = sessions.numel()
        clicks = int(longest.sum()) + num_sessions
        return {
            'samples': num_samples,
            'sessions': num_sessions,
            'items': self.num_items,
            'clicks': clicks,
            'avg_session_length': clicks / max(num_sessions, 1),
            'avg_prefix_length': int(ptr[-1] - ptr[0]) / max(num_samples, 1),
        }

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

    def process_samples(
            self) -> Tuple[Dict[str, Samples], Optional[Sequence[str]]]:
        split = official_split(read_diginetica_csv(self.raw_paths[0]))
        samples = {
            'train': prefix_augment(split.train),
            'test': prefix_augment(split.test),
        }
        return samples, [str(label) for label in split.item_labels]



def _check_sessions(obj, path, what: str) -> Sequences:
    if not isinstance(obj, (list, tuple)) or not all(
            isinstance(seq, (list, tuple)) for seq in obj):
        raise ValueError(f"{path}: expected {what} as a list of lists of item "
                         f"ids (got {type(obj).__name__})")
    seqs = Sequences.from_lists(obj)
    if len(seqs.values) > 0 and seqs.values.min() < 1:
        bad = int(np.flatnonzero(seqs.values < 1)[0])
        row = int(np.searchsorted(seqs.ptr, bad, side='right')) - 1
        raise ValueError(f"{path}: {what} {row} holds item id "
                         f"{int(seqs.values[bad])}; ids start at 1")
    return seqs


def read_srgnn_split(train_path, test_path) -> Dict[str, Samples]:
    r"""Reads a published SR-GNN split: :obj:`all_train_seq.txt` (the
    training sessions, prefix-augmented here exactly as the published
    :obj:`train.txt`) and :obj:`test.txt` (prefixes and targets)."""
    train = prefix_augment(_check_sessions(load_pickle(train_path),
                                           train_path, 'session'))
    test = load_pickle(test_path)
    if not (isinstance(test, (list, tuple)) and len(test) == 2
            and len(test[0]) == len(test[1])):
        raise ValueError(f"{test_path}: expected a pair (prefixes, targets) "
                         f"of equal length")
    prefixes = _check_sessions(test[0], test_path, 'prefix')
    targets = _check_sessions([[t] for t in test[1]], test_path, 'target')
    targets = targets.values
    return {
        'train': train,
        'test': (prefixes, targets, sample_sessions(prefixes, targets)),
    }


class SRGNNSplit(SessionDataset):
    r"""Base class of the published SR-GNN splits, read from the files every
    follow-up paper passes around: :obj:`all_train_seq.txt` and
    :obj:`test.txt` (pickles of plain lists, loaded with a class-refusing
    unpickler).

    :meth:`download` copies them from :obj:`$PYG_SRGNN_DATA/<folder>` when
    that folder holds them; otherwise its error says which files to place
    where.
    """
    folder: str = ''

    @property
    def raw_file_names(self) -> List[str]:
        return ['all_train_seq.txt', 'test.txt']

    def download(self) -> None:
        mirror = os.environ.get('PYG_SRGNN_DATA')
        source = Path(mirror) / self.folder if mirror else None
        if source is not None and all(
                (source / name).is_file() for name in self.raw_file_names):
            for name in self.raw_file_names:
                shutil.copyfile(source / name, osp.join(self.raw_dir, name))
            return
        raise FileNotFoundError(
            f"{self.__class__.__name__} needs the SR-GNN files "
            f"{' and '.join(self.raw_file_names)} in {self.raw_dir} (the "
            f"output of the official SR-GNN datasets/preprocess.py for "
            f"'{self.folder}', as shared by SR-GNN follow-up repositories); "
            f"place them there, or set PYG_SRGNN_DATA to a folder holding "
            f"'{self.folder}/'")

    def process_samples(
            self) -> Tuple[Dict[str, Samples], Optional[Sequence[str]]]:
        return read_srgnn_split(*self.raw_paths), None


class Diginetica(SRGNNSplit):
    r"""The SR-GNN split of Diginetica (CIKM Cup 2016): the official
    preprocessing of :obj:`train-item-views.csv` (test = the last 7 days).

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10 10
        :header-rows: 1

        * - split
          - #sessions
          - #samples
          - #items
          - #clicks
        * - train
          - 186,670
          - 719,470
          - 43,097
          - 906,140
        * - test
          - 15,963
          - 60,858
          - 43,097
          - 76,821

    Args: as for :class:`SessionDataset`.
    """
    folder = 'diginetica'


class YooChoose(SRGNNSplit):
    r"""The SR-GNN split of YOOCHOOSE (RecSys Challenge 2015): the most
    recent 1/64 (or 1/4) of the prefix-augmented training sequences, test =
    the last day; both fractions share the test set and the item ids of the
    full log (37,483, of which 1/64 uses 17,745).

    **STATS:**

    .. list-table::
        :widths: 10 10 10 10 10
        :header-rows: 1

        * - split
          - #sessions
          - #samples
          - #item ids
          - #clicks
        * - train (1/64)
          - 116,167
          - 369,859
          - 37,483
          - 486,026
        * - test
          - 15,324
          - 55,898
          - 37,483
          - 71,222

    Args:
        root (str): Root directory where the dataset should be saved.
        fraction (int, optional): :obj:`64` or :obj:`4`. (default: :obj:`64`)
        split, transform, force_reload: as for :class:`SessionDataset`.
    """
    fractions = (64, 4)

    def __init__(self, root: str, fraction: int = 64, split: str = 'train',
                 transform: Optional[Callable] = None,
                 force_reload: bool = False) -> None:
        if fraction not in self.fractions:
            raise ValueError(f"Unknown YOOCHOOSE fraction {fraction!r} "
                             f"(expected one of 64, 4)")
        self.fraction = fraction
        self.folder = f'yoochoose1_{fraction}'
        super().__init__(root, split, transform, force_reload)

    @property
    def raw_dir(self) -> str:
        return osp.join(self.root, self.folder, 'raw')

    @property
    def processed_dir(self) -> str:
        return osp.join(self.root, self.folder, 'processed')
