from typing import Dict, Mapping, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding

from torch_geometric.typing import Adj, OptTensor

from pyg_srgnn.nn import fused
from pyg_srgnn.nn.session_model import (
    ItemScores,
    LookupFirst,
    SessionModel,
)
from pyg_srgnn.nn.session_readout import SessionReadout
from pyg_srgnn.nn.srgnn_conv import SRGNNConv

# Official SR-GNN (CRIPAC-DIG/SR-GNN, pytorch_code/model.py) parameter names
# and where they live here. `gnn.linear_edge_f` is defined there but unused.
OFFICIAL_KEYS = {
    'embedding.weight': 'embedding.weight',
    'gnn.w_ih': 'conv.rnn.weight_ih',
    'gnn.w_hh': 'conv.rnn.weight_hh',
    'gnn.b_ih': 'conv.rnn.bias_ih',
    'gnn.b_hh': 'conv.rnn.bias_hh',
    'gnn.b_iah': 'conv.bias_in',
    'gnn.b_oah': 'conv.bias_out',
    'gnn.linear_edge_in.weight': 'conv.lin_in.weight',
    'gnn.linear_edge_in.bias': 'conv.lin_in.bias',
    'gnn.linear_edge_out.weight': 'conv.lin_out.weight',
    'gnn.linear_edge_out.bias': 'conv.lin_out.bias',
    'linear_one.weight': 'readout.lin_last.weight',
    'linear_one.bias': 'readout.lin_last.bias',
    'linear_two.weight': 'readout.lin_click.weight',
    'linear_two.bias': 'readout.lin_click.bias',
    'linear_three.weight': 'readout.att.weight',
    'linear_transform.weight': 'readout.lin_hybrid.weight',
    'linear_transform.bias': 'readout.lin_hybrid.bias',
}
OFFICIAL_UNUSED = ('gnn.linear_edge_f.weight', 'gnn.linear_edge_f.bias')


class SRGNN(SessionModel):
    r"""The SR-GNN model from the `"Session-based Recommendation with Graph
    Neural Networks" <https://arxiv.org/abs/1811.00855>`_ paper: item
    embeddings, gated propagation over the session graph
    (:class:`SRGNNConv`), an attention readout (:class:`SessionReadout`) and
    dot-product scores against every item embedding.

    Items are numbered :obj:`1..num_items`; row :obj:`0` of the embedding is
    reserved and never scored, so column :obj:`j` of the scores belongs to item
    :obj:`j + 1` (as in the official code, whose labels are
    :obj:`target - 1`).

    Args:
        num_items (int): The number of items (the largest item id).
        hidden_channels (int, optional): Embedding and state size :math:`d`.
            (default: :obj:`100`)
        num_layers (int, optional): Propagation steps. (default: :obj:`1`)
        hybrid (bool, optional): Combine global and last-click embeddings
            (:math:`\mathbf{s}_h`); else use the global one alone.
            (default: :obj:`True`)
        fused (bool, optional): If set to :obj:`True`, the session embedding
            runs as one compiled CPU kernel (:mod:`pyg_srgnn.nn.fused`,
            built at first use) wherever it supports the architecture and
            the inputs, with the same results; elsewhere, or if it cannot be
            built, the modules run. (default: :obj:`False`)
        norm_scale (float, optional): NISER (`Gupta et al., 2019
            <https://arxiv.org/abs/1909.04276>`_): L2-normalise the looked-up
            item embeddings, the session embedding and the item table, and
            score with :obj:`norm_scale` times the cosine (:math:`\sigma`,
            16 in NISER). (default: :obj:`None`, dot products as SR-GNN)
        dropout (float, optional): Dropout on the looked-up item embeddings
            while training (NISER+: 0.1). (default: :obj:`0.0`)
        max_positions (int, optional): NISER+: a learned embedding of each
            click's position in its session (from the first click; later
            positions share the last row) added to the click states after
            propagation, before the readout. (default: :obj:`0`, none)
        reverse_positions (bool, optional): Count the positions from each
            session's last click instead (its distance from the last click,
            as the reversed position embedding of GCE-GNN, Wang et al.,
            SIGIR 2020), so that a row means the same in sessions of any
            length. (default: :obj:`False`)
    """
    attention_note = ("the click's weight in the session embedding s_g = "
                      "Σ α_i v_i; not normalised, so the weights need not "
                      "sum to 1 and may be negative")

    def __init__(self, num_items: int, hidden_channels: int = 100,
                 num_layers: int = 1, hybrid: bool = True,
                 fused: bool = False, norm_scale: Optional[float] = None,
                 dropout: float = 0.0, max_positions: int = 0,
                 reverse_positions: bool = False):
        super().__init__(num_items, hidden_channels)
        self.num_layers = num_layers
        self.hybrid = hybrid
        self.fused = fused
        self.norm_scale = norm_scale
        self.dropout = dropout
        self.max_positions = max_positions
        self.reverse_positions = reverse_positions

        self.conv = SRGNNConv(hidden_channels, num_layers)
        self.readout = SessionReadout(hidden_channels, hybrid)
        self.position = (Embedding(max_positions, hidden_channels)
                         if max_positions > 0 else None)

        self.reset_parameters()

    def session_embedding(
        self,
        x: Tensor,
        edge_index: Adj,
        alias_index: Tensor,
        last_index: Tensor,
        batch: Tensor,
        edge_weight: OptTensor = None,
        sparse_grad: bool = False,
        return_attention_weights: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Returns the session embeddings :math:`\mathbf{s}_h`,
        :obj:`[B, hidden_channels]`, and with
        :obj:`return_attention_weights` the readout's weight of every click.

        With :obj:`sparse_grad`, the lookup of :obj:`x` in the item table
        back-propagates a sparse gradient. :meth:`forward` uses it, as the
        scores give the table a dense gradient anyway, to which the
        looked-up rows are added (a dense lookup gradient would cost two
        more passes over the table).
        """
        x = F.embedding(x, self.embedding.weight, sparse=sparse_grad)
        if self.dropout > 0:
            x = F.dropout(x, self.dropout, self.training)
        if self.norm_scale is not None:
            x = F.normalize(x, dim=-1)
        out = None
        if self.fused and not return_attention_weights:
            out = fused.session_embedding(self, x, edge_index, alias_index,
                                          last_index, batch, edge_weight)
        if out is None:
            h = self.conv(x, edge_index, edge_weight)
            out = self.readout(h, alias_index, last_index, batch,
                               return_attention_weights,
                               *self.position_offsets(alias_index, batch,
                                                      last_index.numel()))
        if return_attention_weights:
            out, alpha = out
            return self.normalize(out), alpha
        return self.normalize(out)

    def normalize(self, session: Tensor) -> Tensor:
        r"""The session embedding as scored: L2-normalised under NISER."""
        if self.norm_scale is None:
            return session
        return F.normalize(session, dim=-1)

    def position_offsets(self, alias_index: Tensor, batch: Tensor,
                         num_sessions: int) -> Tuple[OptTensor, OptTensor]:
        r"""The position embedding of every click and of every session's
        last click (NISER+), or :obj:`None` without position embeddings.
        Clicks are laid out session after session, in click order."""
        if self.position is None:
            return None, None
        click_batch = batch.index_select(0, alias_index)
        count = torch.bincount(click_batch, minlength=num_sessions)  # [B]
        start = count.cumsum(0) - count
        position = torch.arange(click_batch.numel(),
                                device=click_batch.device)
        position = position - start.index_select(0, click_batch)
        last_position = (count - 1).clamp(min=0)
        if self.reverse_positions:  # from the last click, which is 0
            position = last_position.index_select(0, click_batch) - position
            last_position = torch.zeros_like(last_position)
        last = self.max_positions - 1
        return (self.position(position.clamp(max=last)),
                self.position(last_position.clamp(max=last)))

    def forward(
        self,
        x: Tensor,
        edge_index: Adj,
        alias_index: Tensor,
        last_index: Tensor,
        batch: Tensor,
        edge_weight: OptTensor = None,
    ) -> Tensor:
        r"""Returns the scores of every item, :obj:`[B, num_items]`. They
        support one backward pass (no gradients of gradients).

        Args:
            x (torch.Tensor): The item id of every node.
            edge_index (torch.Tensor or SparseTensor): The session graphs.
            alias_index (torch.Tensor): The node of every click.
            last_index (torch.Tensor): The node of every session's last
                click, :obj:`[B]`.
            batch (torch.Tensor): The session of every node.
            edge_weight (torch.Tensor, optional): Edge weights.
        """
        weight = LookupFirst.apply(self.embedding.weight)  # before the lookup
        session = self.session_embedding(x, edge_index, alias_index,
                                         last_index, batch, edge_weight,
                                         sparse_grad=True)
        return self.scores(session, weight)  # [B, num_items]

    def scores(self, session: Tensor, weight: Tensor) -> Tensor:
        r"""Every item's score against the item table :obj:`weight`: dot
        products, or :obj:`norm_scale` times cosines under NISER."""
        if self.norm_scale is None:
            return ItemScores.apply(session, weight)
        weight = F.normalize(weight, dim=-1)
        return self.norm_scale * ItemScores.apply(session, weight)

    def scoring_rows(self) -> Tensor:
        rows = self.embedding.weight[1:].detach()
        if self.norm_scale is None:
            return rows
        return self.norm_scale * F.normalize(rows, dim=-1)

    def item_logits(self, session: Tensor, items: OptTensor = None,
                    sparse_grad: bool = False) -> Tensor:
        if items is None:
            return self.scores(session, self.embedding.weight)
        rows = F.embedding(items, self.embedding.weight,
                           sparse=sparse_grad)  # [M, F]
        if self.norm_scale is None:
            return session @ rows.t()
        return self.norm_scale * session @ F.normalize(rows, dim=-1).t()

    def attention_weights(self, data) -> Tensor:
        r"""The readout's :math:`\alpha` of every click (not normalised)."""
        return self.session_embedding(
            data.x, data.edge_index, data.alias_index, data.last_index,
            data.batch, getattr(data, 'edge_weight', None),
            return_attention_weights=True)[1]

    def session_embedding_batch(self, data,
                                sparse_grad: bool = False) -> Tensor:
        return self.session_embedding(data.x, data.edge_index,
                                      data.alias_index, data.last_index,
                                      data.batch,
                                      getattr(data, 'edge_weight', None),
                                      sparse_grad=sparse_grad)

    def forward_batch(self, data) -> Tensor:
        r"""Calls :meth:`forward` on a batch built by
        :func:`~pyg_srgnn.data.session_graph_batch` or
        :class:`~pyg_srgnn.data.SessionToGraph` + PyG's DataLoader."""
        return self(data.x, data.edge_index, data.alias_index,
                    data.last_index, data.batch,
                    getattr(data, 'edge_weight', None))

    @classmethod
    def from_official_state_dict(
        cls,
        state_dict: Mapping[str, Tensor],
        hybrid: bool = True,
        num_layers: int = 1,
    ) -> 'SRGNN':
        r"""Builds a model from a :obj:`state_dict` saved by the official
        SR-GNN PyTorch code; sizes come from the tensor shapes.

        Args:
            state_dict (dict): The official parameters, by their names there.
            hybrid (bool, optional): The official :obj:`--nonhybrid` flag,
                negated. (default: :obj:`True`)
            num_layers (int, optional): The official :obj:`--step`.
                (default: :obj:`1`)
        """
        known = set(OFFICIAL_KEYS) | set(OFFICIAL_UNUSED)
        unknown = sorted(set(state_dict) - known)
        missing = sorted(set(OFFICIAL_KEYS) - set(state_dict))
        if not hybrid:
            missing = [k for k in missing
                       if not k.startswith('linear_transform.')]
        if unknown or missing:
            raise ValueError(f"Not an official SR-GNN state_dict: "
                             f"missing keys {missing}, unexpected keys "
                             f"{unknown}")
        num_rows, hidden_channels = state_dict['embedding.weight'].shape
        model = cls(num_rows - 1, hidden_channels, num_layers, hybrid)
        ours: Dict[str, Tensor] = {
            OFFICIAL_KEYS[key]: value
            for key, value in state_dict.items() if key in OFFICIAL_KEYS and (
                hybrid or not key.startswith('linear_transform.'))
        }
        try:
            model.load_state_dict(ours, strict=True)
        except RuntimeError as e:
            raise ValueError(f"Official state_dict does not fit one model "
                             f"with {num_rows} embedding rows of size "
                             f"{hidden_channels}: {e}") from None
        return model

    def __repr__(self) -> str:
        extra = ''.join(f', {name}={value}' for name, value, default in (
            ('norm_scale', self.norm_scale, None),
            ('dropout', self.dropout, 0.0),
            ('max_positions', self.max_positions, 0),
            ('reverse_positions', self.reverse_positions, False))
            if value != default)
        return (f'{self.__class__.__name__}(num_items={self.num_items}, '
                f'hidden_channels={self.hidden_channels}, '
                f'num_layers={self.num_layers}, hybrid={self.hybrid}'
                f'{extra})')
