"""Sessions to SR-GNN session graphs, many at once, without a Python loop."""
import operator
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from torch_geometric.data import Batch
from torch_geometric.utils import cumsum

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

    batch = Batch(
        x=x,
        edge_index=edge_index,
        alias_index=alias_index,
        last_index=alias_index[ptr[1:] - 1],
        batch=node_batch,
        ptr=cumsum(torch.bincount(node_batch, minlength=num_sessions)),
    )
    if edge_weight == 'count':
        batch.edge_weight = count.to(torch.get_default_dtype())
    if y is not None:
        batch.y = y
    batch._num_graphs = num_sessions
    return batch


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
