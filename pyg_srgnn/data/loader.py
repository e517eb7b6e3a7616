import itertools
from typing import Iterator, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from torch_geometric.data import Batch

from pyg_srgnn.data.sequences import Sequences
from pyg_srgnn.data.session_graph import SessionGraphs

# How many batches SessionLoader gathers at once by default.
GATHER_BATCHES = 16


class SessionLoader(torch.utils.data.DataLoader):
    r"""A data loader over session samples that builds the session graphs of
    all its samples once (:class:`~pyg_srgnn.data.SessionGraphs`) and
    gathers each mini-batch from them, instead of collating one
    :class:`~torch_geometric.data.Data` per sample. Its batches equal those
    of PyG's :class:`~torch_geometric.loader.DataLoader` over the same
    dataset with :class:`~pyg_srgnn.data.SessionToGraph` as transform.
    Building takes a fraction of a second for Diginetica; the stored graphs
    take a few bytes (int32) per click, node and edge of the samples.

    Args:
        dataset (SessionDataset): The samples.
        index (torch.Tensor, optional): Positions in :obj:`dataset` of the
            samples to iterate over. (default: all)
        edge_weight (str, optional): :obj:`"binary"` or :obj:`"count"`.
            (default: :obj:`"binary"`)
        gather_batches (int, optional): In the main process
            (:obj:`num_workers=0`), how many batches are gathered at once
            (:meth:`~pyg_srgnn.data.SessionGraphs.batches`), which spreads the
            fixed cost of a gather over them; the batches and their order
            are the same for any value. (default: :obj:`16`)
        **kwargs (optional): Arguments of
            :class:`torch.utils.data.DataLoader`, such as :obj:`batch_size`,
            :obj:`shuffle` or :obj:`generator`.
    """
    def __init__(self, dataset, index: Optional[Tensor] = None,
                 edge_weight: str = 'binary',
                 gather_batches: int = GATHER_BATCHES,
                 **kwargs):
        kwargs.pop('collate_fn', None)
        if gather_batches < 1:
            raise ValueError(f"'gather_batches' must be at least 1 (got "
                             f"{gather_batches})")
        self.gather_batches = gather_batches
        clicks, ptr, y, _ = dataset.sample_tensors()
        self.sequences = Sequences(clicks.numpy(), ptr.numpy())
        if index is None:
            index = torch.arange(y.numel())
        else:
            self.sequences = self.sequences.select(index.numpy())
            y = y[index]
        self.index = index
        self.y = y  # the targets of the loader's samples, in `index` order
        self.graphs = SessionGraphs(self.sequences, edge_weight)
        # Iterate over positions in `index`; a range holds no per-sample
        # Python objects, however many samples there are.
        super().__init__(range(index.numel()), collate_fn=self.collate_fn,
                         **kwargs)

    @property
    def edge_weight(self) -> str:
        return self.graphs.edge_weight

    def collate_fn(self, positions: Union[List[int], Tensor]) -> Batch:
        r"""Returns the batch of the samples at :obj:`positions` of
        :obj:`self.index`."""
        return self.collate_many([positions])[0]

    def collate_many(
        self,
        batches: Sequence[Union[List[int], Tensor]],
    ) -> List[Batch]:
        r"""Returns the batches of the samples at each of :obj:`batches`
        (lists of positions in :obj:`self.index`), gathered at once."""
        positions = [np.asarray(b, dtype=np.int64) for b in batches]
        y = self.y.numpy()
        return self.graphs.batches(
            positions, [torch.from_numpy(y[p]) for p in positions])

    def __iter__(self) -> Iterator[Batch]:
        if (self.num_workers > 0 or self.batch_sampler is None
                or self.pin_memory):
            # Worker processes and pinning go through PyTorch's iterator,
            # which collates one batch at a time.
            return super().__iter__()
        return self._gathered_iter()

    def _gathered_iter(self) -> Iterator[Batch]:
        batches = iter(self.batch_sampler)
        # PyTorch's iterator draws a seed for worker processes here; drawing
        # it too keeps the shuffled order the same as DataLoader's for the
        # same random state.
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        while True:
            chunk = list(itertools.islice(batches, self.gather_batches))
            if not chunk:
                return
            yield from self.collate_many(chunk)
