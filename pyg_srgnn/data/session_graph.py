"""Sessions to SR-GNN session graphs, many at once, without a Python loop."""
import functools
import operator
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from torch_geometric.data import Batch
from torch_geometric.utils import cumsum

from pyg_srgnn.data.sequences import Sequences, ragged_positions

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
    attrs = dict(x=x, edge_index=edge_index, alias_index=alias_index,
                 last_index=last_index, batch=node_batch, ptr=node_ptr)
    if count is not None:
        attrs['edge_weight'] = count.to(torch.get_default_dtype())
    if y is not None:
        attrs['y'] = y
    # `Batch(...)` looks up its `Data` subclass and inspects the signature
    # of `Data.__init__` on every call; instantiating that class directly
    # makes the same object in half the time.
    batch = type.__call__(_data_batch_class(), **attrs)
    batch._num_graphs = node_ptr.numel() - 1
    return batch


@functools.lru_cache(maxsize=None)
def _data_batch_class() -> type:
    return type(Batch())  # PyG's `DataBatch`, a subclass of `Batch` and `Data`


class SessionGraphs:
    r"""The session graphs of many sessions, built once with
    :func:`session_graph_batch` and stored flat, so that a mini-batch is
    gathered rather than built: :meth:`batch` only concatenates the pieces
    of the chosen sessions and shifts their node numbers, the way PyG
    collates stored :class:`~torch_geometric.data.Data` objects.
    :meth:`batch` equals :func:`session_graph_batch` on the same sessions.

    All pieces live in one :obj:`int32` array, in four blocks: the item id
    of every node, the local node of every click, and the local source and
    target node of every edge, each block session after session; one row of
    offsets per session gives where its nodes, clicks and edges start, so a
    mini-batch is one gather from that array.

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

        def join(key: str, out: Optional[np.ndarray] = None) -> np.ndarray:
            # Dropping the parts as they are joined keeps the peak memory
            # near the size of the result.
            return np.concatenate([part.pop(key) for part in parts], out=out)

        # Row i: the first node, click and edge of session i; the last row
        # holds the totals.
        self.ptr = np.zeros((num_sessions + 1, 3), dtype=np.int64)
        np.cumsum(join('num_nodes'), out=self.ptr[1:, 0])
        self.ptr[:, 1] = sequences.ptr
        np.cumsum(join('num_edges'), out=self.ptr[1:, 2])
        num_nodes, num_clicks, num_edges = self.ptr[-1].tolist()
        # Where the blocks of nodes, clicks, edge sources and edge targets
        # start in `values`, and where the last one ends.
        self.block = np.cumsum([0, num_nodes, num_clicks, num_edges,
                                num_edges])
        self.values = np.empty(int(self.block[-1]), dtype=np.int32)
        for i, key in enumerate(('x', 'alias', 'src', 'dst')):
            join(key, out=self.values[self.block[i]:self.block[i + 1]])
        self.count = join('count') if edge_weight == 'count' else None

    def _build(self, sequences: Sequences) -> Dict[str, np.ndarray]:
        graph = session_graph_batch(torch.from_numpy(sequences.values),
                                    torch.from_numpy(sequences.ptr),
                                    edge_weight=self.edge_weight)
        node_ptr = graph.ptr.numpy()
        click_batch = np.repeat(np.arange(len(sequences)), sequences.lengths)
        edge_batch = graph.batch.numpy()[graph.edge_index[0].numpy()]
        edges = graph.edge_index.numpy() - node_ptr[edge_batch]
        # Item ids and local node numbers fit in 32 bits, which halves the
        # memory of the stored graphs; `batch` widens them again.
        local = {
            'x': graph.x.numpy(),
            'alias': graph.alias_index.numpy() - node_ptr[click_batch],
            'src': edges[0],
            'dst': edges[1],
        }
        out = {key: value.astype(np.int32) for key, value in local.items()}
        out['num_nodes'] = np.diff(node_ptr)
        out['num_edges'] = np.bincount(edge_batch, minlength=len(sequences))
        if self.edge_weight == 'count':
            out['count'] = graph.edge_weight.numpy()
        return out

    def __len__(self) -> int:
        return len(self.ptr) - 1

    def batch(self, index: np.ndarray, y: Optional[Tensor] = None) -> Batch:
        r"""Returns the graphs of the sessions at positions :obj:`index` as
        one :class:`~torch_geometric.data.Batch`, with :obj:`y` as targets."""
        return self.batches([index], None if y is None else [y])[0]

    def batches(self, indices: Sequence[np.ndarray],
                ys: Optional[Sequence[Tensor]] = None) -> List[Batch]:
        r"""Returns one :class:`~torch_geometric.data.Batch` per array of
        session positions in :obj:`indices`, each equal to
        :meth:`batch`, but gathered for all of them at once: a few array
        operations over all their sessions instead of as many per batch.

        Args:
            indices (list of numpy.ndarray): The sessions of each batch.
            ys (list of torch.Tensor, optional): The targets of each batch.
        """
        index = np.concatenate([np.asarray(i, dtype=np.int64).reshape(-1)
                                for i in indices])
        num_batches, num_sessions = len(indices), len(index)
        size = np.fromiter((len(i) for i in indices), dtype=np.int64,
                           count=num_batches)
        session_ptr = np.zeros(num_batches + 1, dtype=np.int64)
        np.cumsum(size, out=session_ptr[1:])
        first = np.repeat(session_ptr[:-1], size)  # first session of its batch

        start = self.ptr[index]  # [S, 3]: first node, click, edge
        lengths = self.ptr[index + 1] - start  # [S, 3]
        # The same offsets over the chosen sessions, in their order.
        ptr = np.zeros((num_sessions + 1, 3), dtype=np.int64)
        np.cumsum(lengths, axis=0, out=ptr[1:])
        node_ptr = ptr[:, 0]
        # The first node of every session, counted from its batch's first.
        node_shift = node_ptr[:-1] - node_ptr[first]

        # Four pieces per session, gathered from `values` into one array:
        # every session's item ids, then every session's clicks, then per
        # batch the edge sources of its sessions and their edge targets (so
        # that a batch's `edge_index` is one contiguous [2, E] block). All
        # but the item ids are shifted to the batch's node numbers.
        order = np.arange(num_sessions)
        edge_slot = 2 * num_sessions + order + first
        slot = np.concatenate([order, num_sessions + order, edge_slot,
                               edge_slot + np.repeat(size, size)])
        piece_start = np.empty(4 * num_sessions, dtype=np.int64)
        piece_length = np.empty(4 * num_sessions, dtype=np.int64)
        piece_shift = np.empty(4 * num_sessions, dtype=np.int64)
        kind = np.array([0, 1, 2, 2])
        piece_start[slot] = (start[:, kind] + self.block[:4]).T.ravel()
        piece_length[slot] = lengths[:, kind].T.ravel()
        piece_shift[slot] = np.concatenate([np.zeros_like(node_shift)] +
                                           3 * [node_shift])
        positions, piece_ptr = ragged_positions(piece_start, piece_length)
        flat = self.values[positions] + np.repeat(piece_shift, piece_length)

        # Where each batch's nodes, clicks and edges start in `flat`.
        num_nodes, num_clicks, _ = ptr[-1].tolist()
        num_edges = int(self.ptr[-1, 2])
        node_at = node_ptr[session_ptr].tolist()
        click_at = (num_nodes + ptr[session_ptr, 1]).tolist()
        edge_at = (num_nodes + num_clicks + 2 * ptr[session_ptr, 2]).tolist()
        # The last click of each session is the last of its click piece.
        last = torch.from_numpy(
            flat[piece_ptr[num_sessions + 1:2 * num_sessions + 1] - 1])
        node_batch = torch.from_numpy(
            np.repeat(order - first, lengths[:, 0]))
        flat_t = torch.from_numpy(flat)
        local_ptr = torch.from_numpy(node_ptr)
        count = None
        if self.count is not None:
            # Edge i's source sits at block[2] + i and its target at
            # block[3] + i of `values`.
            edge_id = positions[num_nodes + num_clicks:] - self.block[2]
            count = self.count[edge_id % num_edges]
        bounds = session_ptr.tolist()

        out = []
        for k in range(num_batches):
            s0, s1 = bounds[k], bounds[k + 1]
            n0, n1 = node_at[k], node_at[k + 1]
            e0, e1 = edge_at[k], edge_at[k + 1]
            batch_edges = (e1 - e0) // 2
            out.append(_make_batch(
                flat_t[n0:n1],
                flat_t[e0:e1].view(2, batch_edges),
                flat_t[click_at[k]:click_at[k + 1]],
                last[s0:s1],
                node_batch[n0:n1],
                local_ptr[s0:s1 + 1] - n0,
                None if count is None else torch.from_numpy(
                    count[e0 - edge_at[0]:e0 - edge_at[0] + batch_edges]),
                None if ys is None else ys[k]))
        return out

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
