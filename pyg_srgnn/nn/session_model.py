r"""The contract every session model of pyg-srgnn keeps, so that one
trainer, one evaluator and one :class:`~pyg_srgnn.recommend.Recommender`
serve them all."""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import Embedding

from pyg_srgnn.data.session_graph import (
    session_graph_batch,
    sessions_to_tensors,
)


class ItemScores(torch.autograd.Function):
    r""":obj:`session @ weight[1:].t()`, whose backward writes the gradient of
    the whole table (row :obj:`0` zero) in one pass, where autograd's slice
    gradient would zero-fill a table and copy into it."""
    @staticmethod
    def forward(ctx, session: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(session, weight)
        return session @ weight[1:].t()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        session, weight = ctx.saved_tensors
        grad_session = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_session = grad @ weight[1:]
        if ctx.needs_input_grad[1]:
            grad_weight = torch.empty_like(weight)
            grad_weight[0] = 0
            torch.mm(grad.t(), session, out=grad_weight[1:])
        return grad_session, grad_weight


class LookupFirst(torch.autograd.Function):
    r"""An autograd node that passes its input and gradient through.
    Applied to the item table before a sparse-gradient item lookup (so
    created first), it runs after the lookup's backward (autograd runs
    later-created nodes first), so that the lookup's sparse gradient reaches
    the table first and the dense scoring gradient then absorbs it in place
    instead of being copied. Only the speed depends on this order;
    the gradient is the same either way."""
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad


class SessionModel(torch.nn.Module):
    r"""Base class of the session models: what the trainer, the evaluator
    and the recommender rely on, and nothing else.

    Items are numbered :obj:`1..num_items`; the scores of a batch are
    :obj:`[B, num_items]`, column :obj:`j` for item :obj:`j + 1`. A batch is
    what :class:`~pyg_srgnn.data.SessionLoader` or
    :func:`~pyg_srgnn.data.session_graph_batch` builds (:obj:`x`,
    :obj:`edge_index`, :obj:`alias_index`, :obj:`last_index`, :obj:`batch`,
    :obj:`y`); a model uses the attributes it needs. The loss lives outside
    the models (:mod:`pyg_srgnn.loss`).

    Subclasses implement :meth:`forward_batch`; neural models implement
    :meth:`session_embedding_batch` and keep their item table in
    :obj:`self.embedding` (row :obj:`0` reserved), and inherit
    :meth:`item_logits`.
    """
    num_items: int
    # Whether the scores come from trained parameters (and so from epochs
    # of gradient steps) rather than from statistics of the training data.
    neural: bool = True
    # What :meth:`attention_weights` are, for people reading them.
    attention_note: str = ''

    def __init__(self, num_items: int,
                 hidden_channels: Optional[int] = None):
        super().__init__()
        if num_items < 1:
            raise ValueError(f"'num_items' must be at least 1 "
                             f"(got {num_items})")
        self.num_items = num_items
        self.hidden_channels = hidden_channels
        if hidden_channels is not None:  # a neural model's item table
            self.embedding = Embedding(num_items + 1, hidden_channels)

    def reset_parameters(self):
        r"""Draws every parameter from
        :math:`\mathcal{U}(-1/\sqrt{d}, 1/\sqrt{d})` with :math:`d` the
        hidden size, as the official SR-GNN and SR-SAN code do."""
        bound = 1.0 / math.sqrt(self.hidden_channels)
        for param in self.parameters():
            torch.nn.init.uniform_(param, -bound, bound)

    def forward_batch(self, data) -> Tensor:
        r"""The score of every item for every session of :obj:`data`,
        :obj:`[B, num_items]`."""
        return self.item_logits(self.session_embedding_batch(data))

    def session_embedding_batch(self, data,
                                sparse_grad: bool = False) -> Tensor:
        r"""The session embeddings of :obj:`data`, :obj:`[B, F]`; with
        :obj:`sparse_grad`, the item lookup back-propagates a sparse
        gradient to the item table."""
        raise ValueError(f'{self.__class__.__name__} has no session '
                         f'embedding')

    def attention_weights(self, data) -> Tensor:
        r"""The weight the model gives every click of :obj:`data` when it
        sums the session up, :obj:`[num_clicks]` (what
        :meth:`~pyg_srgnn.recommend.Recommender.explain` shows)."""
        raise ValueError(f'{self.__class__.__name__} has no attention '
                         f'weights to explain')

    def item_logits(self, session: Tensor, items: Optional[Tensor] = None,
                    sparse_grad: bool = False) -> Tensor:
        r"""The scores of all items, :obj:`[B, num_items]`, or of the items
        :obj:`items` (ids, :obj:`[M]`) only, :obj:`[B, M]`, for the session
        embeddings :obj:`session`: dot products with the item table. With
        :obj:`items` and :obj:`sparse_grad`, the table's gradient is sparse
        (those rows only), as sampled softmax trains."""
        if items is None:
            return ItemScores.apply(session, self.embedding.weight)
        return session @ F.embedding(items, self.embedding.weight,
                                     sparse=sparse_grad).t()

    def scoring_rows(self) -> Optional[Tensor]:
        r"""The rows items are scored against, :obj:`[num_items, F]`: item
        :obj:`j + 1`'s score is a session embedding's dot product with row
        :obj:`j`, as in :meth:`item_logits` (to rounding); :obj:`None` for a
        model scored otherwise (the baselines). What
        :class:`~pyg_srgnn.ranking.ItemRanker` ranks at inference."""
        if self.hidden_channels is None:
            return None
        return self.embedding.weight[1:].detach()

    @torch.no_grad()
    def score_sessions(self, sessions: Sequence[Sequence[int]],
                       edge_weight: str = 'binary') -> Tensor:
        r"""Scores every item for each session, :obj:`[B, num_items]`, column
        :obj:`j` for item :obj:`j + 1`.

        Args:
            sessions (list of lists of int): Item ids in click order.
            edge_weight (str, optional): The session graph weighting the
                model was trained with. (default: :obj:`"binary"`)
        """
        clicks, ptr = sessions_to_tensors(sessions, self.num_items)
        device = self.device
        data = session_graph_batch(clicks.to(device), ptr.to(device),
                                   edge_weight=edge_weight)
        if not self.training:  # as a server's model is: no walk of modules
            return self.forward_batch(data)
        self.eval()
        try:
            return self.forward_batch(data)
        finally:
            self.train()

    def recommend(self, sessions: Sequence[Sequence[int]], k: int = 20,
                  edge_weight: str = 'binary') -> Tensor:
        r"""Returns the ids of the :obj:`k` best-scored items per session,
        best first, :obj:`[B, k]`."""
        if not 1 <= k <= self.num_items:
            raise ValueError(f"'k' must be between 1 and the number of items "
                             f"{self.num_items} (got {k})")
        scores = self.score_sessions(sessions, edge_weight)
        return scores.topk(k, dim=-1).indices + 1

    @property
    def device(self) -> torch.device:
        r"""Where the model's tensors live."""
        for tensor in (*self.parameters(), *self.buffers()):
            return tensor.device
        return torch.device('cpu')
