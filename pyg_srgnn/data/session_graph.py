"""Sessions to SR-GNN session graphs, many at once, without a Python loop."""
import operator
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from torch_geometric.data import Batch
from torch_geometric.utils import cumsum

from pyg_srgnn.data.sequences import Sequences, gather_positions

EDGE_WEIGHTS = ('binary', 'count')


def check_edge_weight(edge_weight: str) -> str:
    if edge_weight not in EDGE_WEIGHTS:
        raise ValueError(f"Unknown edge weighting '{edge_weight}' (expected "
                         f"one of {', '.join(EDGE_WEIGHTS)})")
    return edge_weight


def session_graph_batch(
    clicks: Tensor,
    ptr: Tensor,
    y: Optional[Tensor] = None,
    edge_weight: str = 'binary',
) -> Batch:
    r"""Builds the session graphs of :obj:`B` sessions as one
    :class:`~torch_geometric.data.Batch`, equal to collating the output of
    :class:`~pyg_srgnn.data.SessionToGraph` on each session.

    Per session, the nodes are its distinct items in ascending id order (as
    :obj:`numpy.unique` orders them in the official code) and every pair of
    consecutive clicks :math:`(s_t, s_{t+1})` gives the directed edge
    :math:`s_t \to s_{t+1}`. With :obj:`edge_weight="binary"` (the official
    code) a transition seen twice is one edge without weight; with
    :obj:`"count"` (the paper's text) it carries its number of occurrences in
    :obj:`edge_weight`.

    Args:
        clicks (torch.Tensor): The item ids of all sessions, concatenated.
        ptr (torch.Tensor): Session offsets into :obj:`clicks`, of shape
            :obj:`[B + 1]`. Every session must hold at least one click.
        y (torch.Tensor, optional): Per-session targets, kept as :obj:`y`.
        edge_weight (str, optional): :obj:`"binary"` or :obj:`"count"`.
            (default: :obj:`"binary"`)

    The returned batch holds :obj:`x` (node item ids), :obj:`edge_index`,
    :obj:`alias_index` (the node of every click, in click order),
    :obj:`last_index` (the node of each session's last click, which may be a
    repeated item), :obj:`batch` and :obj:`ptr`.
    """
    check_edge_weight(edge_weight)
    num_sessions = ptr.numel() - 1
    lengths = ptr.diff()
    if num_sessions > 0 and bool((lengths <= 0).any()):
        empty = int((lengths <= 0).nonzero()[0])
        raise ValueError(f"Session {empty} of the batch has no clicks; every "
                         f"session needs at least one")

    click_batch = torch.repeat_interleave(lengths)  # [num_clicks]

    # One node per distinct (session, item) pair; sorting the combined key
    # orders nodes by session, then by item id.
    stride = int(clicks.max()) + 1 if clicks.numel() > 0 else 1
    node_key, alias_index = torch.unique(click_batch * stride + clicks,
                                         return_inverse=True)
    num_nodes = node_key.numel()
    x = node_key % stride
    node_batch = node_key.div(stride, rounding_mode='floor')

    same_session = click_batch[1:] == click_batch[:-1]
    src = alias_index[:-1][same_session]
    dst = alias_index[1:][same_session]
    edge_key, count = torch.unique(src * num_nodes + dst, return_counts=True)
    edge_index = torch.stack([
        edge_key.div(num_nodes, rounding_mode='floor'),
        edge_key % num_nodes,
    ], dim=0)

    return _make_batch(
        x, edge_index, alias_index, alias_index[ptr[1:] - 1], node_batch,
        cumsum(torch.bincount(node_batch, minlength=num_sessions)),
        count if edge_weight == 'count' else None, y)


def _make_batch(x: Tensor, edge_index: Tensor, alias_index: Tensor,
                last_index: Tensor, node_batch: Tensor, node_ptr: Tensor,
                count: Optional[Tensor], y: Optional[Tensor]) -> Batch:
    batch = Batch(x=x, edge_index=edge_index, alias_index=alias_index,
                  last_index=last_index, batch=node_batch, ptr=node_ptr)
    if count is not None:
        batch.edge_weight = count.to(torch.get_default_dtype())
    if y is not None:
        batch.y = y
    batch._num_graphs = node_ptr.numel() - 1
    return batch


class SessionGraphs:
    r"""The session graphs of many sessions, built once with
    :func:`session_graph_batch` and stored flat (each attribute as one array
    of per-session pieces with local node numbers, plus offsets), so that a
    mini-batch is gathered rather than built: :meth:`batch` only
    concatenates the pieces of the chosen sessions and shifts their node
    numbers, the way PyG collates stored :class:`~torch_geometric.data.Data`
    objects. :meth:`batch` equals :func:`session_graph_batch` on the same
    sessions.

    Args:
        sequences (Sequences): The click sequences, one per session.
        edge_weight (str, optional): :obj:`"binary"` or :obj:`"count"`.
            (default: :obj:`"binary"`)
        chunk_size (int, optional): How many sessions are built at once,
            which bounds the memory the building needs.
            (default: :obj:`65536`)
    """
    def __init__(self, sequences: Sequences, edge_weight: str = 'binary',
                 chunk_size: int = 65536):
        self.edge_weight = check_edge_weight(edge_weight)
        num_sessions = len(sequences)
        parts = [
            self._build(sequences.select(
                np.arange(start, min(start + chunk_size, num_sessions))))
            for start in range(0, max(num_sessions, 1), chunk_size)
        ]

        def join(key: str, axis: int = 0) -> np.ndarray:
            # Dropping the parts as they are joined keeps the peak memory
            # near the size of the result.
            return np.concatenate([part.pop(key) for part in parts],
                                  axis=axis)

        def offsets(lengths: np.ndarray) -> np.ndarray:
            ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
            np.cumsum(lengths, out=ptr[1:])
            return ptr

        self.x = join('x')  # item id of every node
        self.node_ptr = offsets(join('num_nodes'))
        self.alias = join('alias')  # local node of every click
        self.click_ptr = sequences.ptr
        self.edges = join('edges', axis=1)  # [2, num_edges], local nodes
        self.edge_ptr = offsets(join('num_edges'))
        self.count = join('count') if edge_weight == 'count' else None

    def _build(self, sequences: Sequences) -> Dict[str, np.ndarray]:
        graph = session_graph_batch(torch.from_numpy(sequences.values),
                                    torch.from_numpy(sequences.ptr),
                                    edge_weight=self.edge_weight)
        node_ptr = graph.ptr.numpy()
        click_batch = np.repeat(np.arange(len(sequences)), sequences.lengths)
        edge_batch = graph.batch.numpy()[graph.edge_index[0].numpy()]
        # Item ids and local node numbers fit in 32 bits, which halves the
        # memory of the stored graphs; `batch` widens them again.
        local = {
            'x': graph.x.numpy(),
            'alias': graph.alias_index.numpy() - node_ptr[click_batch],
            'edges': graph.edge_index.numpy() - node_ptr[edge_batch],
        }
        out = {key: value.astype(np.int32) for key, value in local.items()}
        out['num_nodes'] = np.diff(node_ptr)
        out['num_edges'] = np.bincount(edge_batch, minlength=len(sequences))
        if self.edge_weight == 'count':
            out['count'] = graph.edge_weight.numpy()
        return out

    def __len__(self) -> int:
        return len(self.node_ptr) - 1

    def batch(self, index: np.ndarray, y: Optional[Tensor] = None) -> Batch:
        r"""Returns the graphs of the sessions at positions :obj:`index` as
        one :class:`~torch_geometric.data.Batch`, with :obj:`y` as targets."""
        index = np.asarray(index, dtype=np.int64)
        node_pos, node_ptr = gather_positions(self.node_ptr, index)
        click_pos, click_ptr = gather_positions(self.click_ptr, index)
        edge_pos, edge_ptr = gather_positions(self.edge_ptr, index)
        offset = node_ptr[:-1]  # first node of every session in the batch
        num_nodes = np.diff(node_ptr)

        alias = self.alias[click_pos] + np.repeat(offset, np.diff(click_ptr))
        # `take` keeps the [2, num_edges] result contiguous.
        edges = self.edges.take(edge_pos, axis=1) + np.repeat(
            offset, np.diff(edge_ptr))
        count = None if self.count is None else torch.from_numpy(
            self.count[edge_pos])
        return _make_batch(
            torch.from_numpy(self.x[node_pos].astype(np.int64)),
            torch.from_numpy(edges),
            torch.from_numpy(alias),
            torch.from_numpy(alias[click_ptr[1:] - 1]),  # last clicks
            torch.from_numpy(np.repeat(np.arange(len(index)), num_nodes)),
            torch.from_numpy(node_ptr), count, y)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({len(self)}, '
                f'edge_weight={self.edge_weight!r})')


def sessions_to_tensors(
    sessions: Sequence[Sequence[int]],
    num_items: Optional[int] = None,
) -> Tuple[Tensor, Tensor]:
    r"""Validates user-given sessions (a list of lists of item ids) and
    returns them flat, as :obj:`(clicks, ptr)`.

    Raises a :class:`ValueError` naming the session and the position of an
    empty session, a non-integer id or an id outside :obj:`1..num_items`.
    """
    if isinstance(sessions, (str, bytes)) or not hasattr(sessions,
                                                         '__len__'):
        raise ValueError(f"Expected a list of sessions, each a list of item "
                         f"ids (got {type(sessions).__name__})")
    flat: List[int] = []
    lengths: List[int] = []
    for i, session in enumerate(sessions):
        if isinstance(session, (str, bytes)) or not hasattr(session,
                                                            '__len__'):
            raise ValueError(f"Session {i} must be a list of item ids (got "
                             f"{session!r})")
        if len(session) == 0:
            raise ValueError(f"Session {i} is empty; every session needs at "
                             f"least one click")
        for j, item in enumerate(session):
            try:
                if isinstance(item, bool):
                    raise TypeError
                item = operator.index(item)
            except TypeError:
                raise ValueError(f"Session {i}, position {j}: item id "
                                 f"{item!r} is not an integer") from None
            if item < 1 or (num_items is not None and item > num_items):
                upper = '' if num_items is None else f'..{num_items}'
                raise ValueError(f"Session {i}, position {j}: item id {item} "
                                 f"is outside the known items 1{upper}")
            flat.append(item)
        lengths.append(len(session))
    if not lengths:
        raise ValueError("Expected at least one session (got none)")
    clicks = torch.tensor(flat, dtype=torch.long)
    ptr = cumsum(torch.tensor(lengths, dtype=torch.long))
    return clicks, ptr
