from typing import List, Optional, Union

import torch
from torch import Tensor

from torch_geometric.data import Batch

from pyg_srgnn.data.sequences import Sequences
from pyg_srgnn.data.session_graph import check_edge_weight, session_graph_batch


class SessionLoader(torch.utils.data.DataLoader):
    r"""A data loader over session samples that builds each mini-batch's
    session graphs at once with :func:`~pyg_srgnn.data.session_graph_batch`
    instead of collating one :class:`~torch_geometric.data.Data` per sample.
    Its batches equal those of PyG's
    :class:`~torch_geometric.loader.DataLoader` over the same dataset with
    :class:`~pyg_srgnn.data.SessionToGraph` as transform.

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
        self.edge_weight = check_edge_weight(edge_weight)
        clicks, ptr, self.y, _ = dataset.sample_tensors()
        self.sequences = Sequences(clicks.numpy(), ptr.numpy())
        if index is None:
            index = torch.arange(self.y.numel())
        self.index = index
        # Iterate over positions in `index`; a range holds no per-sample
        # Python objects, however many samples there are.
        super().__init__(range(index.numel()), collate_fn=self.collate_fn,
                         **kwargs)

    def collate_fn(self, positions: Union[List[int], Tensor]) -> Batch:
        r"""Builds the batch of the samples at :obj:`positions` of
        :obj:`self.index`."""
        index = self.index[torch.as_tensor(positions, dtype=torch.long)]
        clicks, ptr = self.sequences.select(index.numpy())
        return session_graph_batch(torch.from_numpy(clicks),
                                   torch.from_numpy(ptr), self.y[index],
                                   edge_weight=self.edge_weight)
