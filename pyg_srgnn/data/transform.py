import torch

from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from pyg_srgnn.data.session_graph import check_edge_weight, session_graph_batch


class SessionToGraph(BaseTransform):
    r"""Turns a session, stored as :obj:`data.clicks` (its item ids in click
    order), into its SR-GNN session graph (functional name:
    :obj:`session_to_graph`).

    The output holds :obj:`x` (the distinct items, ascending),
    :obj:`edge_index` (one edge per distinct transition), :obj:`alias_index`
    (the node of every click) and :obj:`last_index` (the node of the last
    click); with
    :obj:`edge_weight="count"` also :obj:`edge_weight`. Every other attribute,
    such as the target :obj:`y`, is kept. The names make
    :class:`~torch_geometric.loader.DataLoader` shift :obj:`alias_index` and
    :obj:`last_index` by the node count when batching.

    Args:
        edge_weight (str, optional): :obj:`"binary"` (the official code) or
            :obj:`"count"` (transition counts, the paper's text).
            (default: :obj:`"binary"`)

    Example:
        >>> data = Data(clicks=torch.tensor([1, 2, 3, 2, 4]))
        >>> SessionToGraph()(data)
        Data(x=[4], edge_index=[2, 4], alias_index=[5], last_index=[1])
    """
    def __init__(self, edge_weight: str = 'binary'):
        self.edge_weight = check_edge_weight(edge_weight)

    def forward(self, data: Data) -> Data:
        clicks = data.clicks
        ptr = torch.tensor([0, clicks.numel()], device=clicks.device)
        graph = session_graph_batch(clicks, ptr, edge_weight=self.edge_weight)
        out = Data()
        for key, value in data.items():
            if key != 'clicks':
                out[key] = value
        for key in ('x', 'edge_index', 'alias_index', 'last_index',
                    'edge_weight'):
            if key in graph:
                out[key] = graph[key]
        return out

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(edge_weight={self.edge_weight!r})'
