from typing import List, Optional, Union

import numpy as np
import torch
from torch import Tensor

from torch_geometric.data import Batch

from pyg_srgnn.data.sequences import Sequences
from pyg_srgnn.data.session_graph import SessionGraphs


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
        **kwargs (optional): Arguments of
            :class:`torch.utils.data.DataLoader`, such as :obj:`batch_size`,
            :obj:`shuffle` or :obj:`generator`.
    """
    def __init__(self, dataset, index: Optional[Tensor] = None,
                 edge_weight: str = 'binary', **kwargs):
        kwargs.pop('collate_fn', None)
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
        positions = np.asarray(positions, dtype=np.int64)
        return self.graphs.batch(positions,
                                 self.y[torch.from_numpy(positions)])
