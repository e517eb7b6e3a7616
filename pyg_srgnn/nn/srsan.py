from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import TransformerEncoder, TransformerEncoderLayer

from torch_geometric.utils import to_dense_batch

from pyg_srgnn.nn.session_model import (
    ItemScores,
    LookupFirst,
    SessionModel,
)


def last_click_output(layer: TransformerEncoderLayer, h: Tensor,
                      rows: Tensor, position: Tensor,
                      padding: Optional[Tensor]) -> Tensor:
    r"""The output of encoder :obj:`layer` at one position of each row,
    :obj:`h[rows, position]` of :obj:`layer(h)`, without computing the
    others: that position's query attends to every key, then the residual,
    layer norm and feed-forward of that row alone (:math:`O(L)` instead of
    :math:`O(L^2)` attention, one feed-forward row per session instead of
    :math:`L`). The same values as the whole layer, up to rounding; in
    training, its dropout draws only for those rows."""
    if layer.norm_first:
        raise ValueError('SR-SAN uses post-norm encoder layers')
    query = h[rows, position].unsqueeze(1)  # [B, 1, F]
    attended, _ = layer.self_attn(query, h, h, key_padding_mask=padding,
                                  need_weights=False)
    out = layer.norm1(query + layer.dropout1(attended))
    feed = layer.linear2(layer.dropout(layer.activation(layer.linear1(out))))
    return layer.norm2(out + layer.dropout2(feed)).squeeze(1)


class SRSAN(SessionModel):
    r"""The SR-SAN model from the `"Session-based Recommendation with
    Self-Attention Networks" <https://arxiv.org/abs/2102.01922>`_ paper:
    item embeddings, a Transformer encoder over the session and the state of
    the last click as the session embedding, scored by dot products with
    the tied item table.

    .. math::
        \mathbf{H} = \mathrm{TransformerEncoder}(\mathbf{E}_s), \qquad
        \mathbf{s} = \mathbf{H}_{n}, \qquad
        \hat{\mathbf{y}} = \mathbf{s} \, \mathbf{E}^{\top}

    By default the encoder reads the session's clicks in order with a
    padding mask, so a session's scores do not depend on the batch. With
    :obj:`faithful`, it reads what the official code reads: the session's
    distinct items sorted by id (the nodes of its session graph), padded
    with item :obj:`0` to the batch's longest and attended without a mask,
    the last click's item picked from them; there a session's scores depend
    on the other sessions of its batch, as in the official code. Every
    parameter, the layer norms' included, starts as in the official code
    (:meth:`reset_parameters`).

    Args:
        num_items (int): The number of items (the largest item id).
        hidden_channels (int, optional): Embedding and state size :math:`d`.
            (default: :obj:`96`)
        num_layers (int, optional): Encoder layers. (default: :obj:`1`)
        heads (int, optional): Attention heads. (default: :obj:`2`)
        ff_channels (int, optional): Feed-forward size.
            (default: :obj:`384`)
        dropout (float, optional): Dropout of the encoder. (default:
            :obj:`0.1`)
        faithful (bool, optional): Read the session as the official code
            does (see above). (default: :obj:`False`)
    """
    attention_note = ("the last click's attention to the click in the "
                      "last encoder layer, averaged over the heads; softmax "
                      "weights, summing to 1")

    def __init__(self, num_items: int, hidden_channels: int = 96,
                 num_layers: int = 1, heads: int = 2, ff_channels: int = 384,
                 dropout: float = 0.1, faithful: bool = False):
        if hidden_channels % heads != 0:
            raise ValueError(f"'hidden_channels' ({hidden_channels}) must be "
                             f"a multiple of 'heads' ({heads})")
        super().__init__(num_items, hidden_channels)
        self.num_layers = num_layers
        self.heads = heads
        self.ff_channels = ff_channels
        self.dropout = dropout
        self.faithful = faithful

        layer = TransformerEncoderLayer(hidden_channels, heads, ff_channels,
                                        dropout, batch_first=True)
        # Nested tensors would drop the padded rows of the faithful mode.
        self.encoder = TransformerEncoder(layer, num_layers,
                                          enable_nested_tensor=False)

        self.reset_parameters()

    def session_embedding(
        self,
        x: Tensor,
        alias_index: Tensor,
        last_index: Tensor,
        batch: Tensor,
        return_attention_weights: bool = False,
        sparse_grad: bool = False,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        r"""Returns the session embeddings, :obj:`[B, hidden_channels]`, and
        with :obj:`return_attention_weights` the last encoder layer's
        attention of each session's last click to every click, averaged over
        the heads, :obj:`[num_clicks]` (softmax weights: a session's sum to
        1; in the faithful mode a click gets its item's weight).

        Args:
            x (torch.Tensor): The item id of every node (a session's
                distinct items, ascending).
            alias_index (torch.Tensor): The node of every click, sessions
                one after another, clicks in order.
            last_index (torch.Tensor): The node of every session's last
                click, :obj:`[B]`.
            batch (torch.Tensor): The session of every node.
            sparse_grad (bool, optional): The item lookup back-propagates a
                sparse gradient (as :meth:`forward_batch` has it, since the
                scores give the table a dense one). (default: :obj:`False`)
        """
        num_sessions = last_index.numel()
        if self.faithful:
            # The official input: distinct items, zero-padded, no mask.
            items, node_mask = to_dense_batch(x, batch, fill_value=0,
                                              batch_size=num_sessions)
            start = torch.zeros(num_sessions, dtype=torch.long,
                                device=x.device)
            start[1:] = node_mask.sum(dim=1)[:-1].cumsum(0)
            position = last_index - start  # the last click's node, per row
            padding = None
        else:
            clicks = x.index_select(0, alias_index)
            click_batch = batch.index_select(0, alias_index)
            items, mask = to_dense_batch(clicks, click_batch, fill_value=0,
                                         batch_size=num_sessions)  # [B, L]
            position = mask.sum(dim=1) - 1  # the last click
            padding = ~mask
        rows = torch.arange(num_sessions, device=x.device)
        h = F.embedding(items, self.embedding.weight,
                        sparse=sparse_grad)  # [B, L, F]
        if not return_attention_weights:
            *first, last = self.encoder.layers
            for layer in first:
                h = layer(h, src_key_padding_mask=padding)
            return last_click_output(last, h, rows, position, padding)
        *first, last = self.encoder.layers
        for layer in first:
            h = layer(h, src_key_padding_mask=padding)
        _, weights = last.self_attn(h, h, h, key_padding_mask=padding,
                                    need_weights=True)  # [B, L, L]
        h = last(h, src_key_padding_mask=padding)
        weights = weights[rows, position]  # [B, L], the last click's row
        if self.faithful:  # a click gets its node's weight
            click_batch = batch.index_select(0, alias_index)
            return h[rows, position], weights[
                click_batch, alias_index - start.index_select(0,
                                                              click_batch)]
        return h[rows, position], weights[mask]

    def attention_weights(self, data) -> Tensor:
        r"""The last click's attention to every click (softmax weights)."""
        return self.session_embedding(data.x, data.alias_index,
                                      data.last_index, data.batch,
                                      return_attention_weights=True)[1]

    def session_embedding_batch(self, data,
                                sparse_grad: bool = False) -> Tensor:
        return self.session_embedding(data.x, data.alias_index,
                                      data.last_index, data.batch,
                                      sparse_grad=sparse_grad)

    def forward_batch(self, data) -> Tensor:
        # The table's gradient: the scores' dense one absorbs the lookup's
        # sparse one in place (see LookupFirst); the same values as the
        # dense lookup gives.
        weight = LookupFirst.apply(self.embedding.weight)  # first
        session = self.session_embedding(data.x, data.alias_index,
                                         data.last_index, data.batch,
                                         sparse_grad=True)
        return ItemScores.apply(session, weight)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_items={self.num_items}, '
                f'hidden_channels={self.hidden_channels}, '
                f'num_layers={self.num_layers}, heads={self.heads}, '
                f'faithful={self.faithful})')
