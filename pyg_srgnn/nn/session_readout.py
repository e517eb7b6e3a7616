from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch.nn import Linear


class SessionReadout(torch.nn.Module):
    r"""The session embedding of the `"Session-based Recommendation with Graph
    Neural Networks" <https://arxiv.org/abs/1811.00855>`_ paper.

    With :math:`\mathbf{v}_n` the state of the node of the session's last
    click and :math:`\mathbf{v}_i` the state of the node of its :math:`i`-th
    click,

    .. math::
        \alpha_i &= \mathbf{q}^{\top} \sigma \left( \mathbf{W}_1 \mathbf{v}_n
        + \mathbf{W}_2 \mathbf{v}_i + \mathbf{c} \right)

        \mathbf{s}_g &= \sum_{i=1}^{n} \alpha_i \mathbf{v}_i

        \mathbf{s}_h &= \mathbf{W}_3 \left[ \mathbf{s}_g \, \Vert \,
        \mathbf{v}_n \right]

    The sum runs over click positions, so an item clicked twice counts twice,
    and :math:`\alpha` is not normalised (no softmax), as in the official code.
    Without :obj:`hybrid`, :math:`\mathbf{s}_h = \mathbf{s}_g`.

    A model may add a vector to every click's state and to the last
    click's (:obj:`click_offset`, :obj:`last_offset`), such as the position
    embeddings of NISER+: then :math:`\mathbf{v}_i` and :math:`\mathbf{v}_n`
    above are those sums.

    Args:
        channels (int): Size of each node state.
        hybrid (bool, optional): If set to :obj:`False`, returns the global
            embedding :math:`\mathbf{s}_g` alone. (default: :obj:`True`)

    Shapes:
        - **input:**
          node states :math:`(|\mathcal{V}|, F)`,
          click-to-node index :math:`(|\mathcal{C}|)`,
          last-click node index :math:`(B)`,
          node-to-session batch vector :math:`(|\mathcal{V}|)`,
          optional click offsets :math:`(|\mathcal{C}|, F)` and last-click
          offsets :math:`(B, F)`
        - **output:** session embeddings :math:`(B, F)`, and the attention
          weights :math:`(|\mathcal{C}|)` if :obj:`return_attention_weights`
    """
    def __init__(self, channels: int, hybrid: bool = True):
        super().__init__()
        self.channels = channels
        self.hybrid = hybrid

        self.lin_last = Linear(channels, channels)  # W_1 (and half of c)
        self.lin_click = Linear(channels, channels)  # W_2 (and half of c)
        self.att = Linear(channels, 1, bias=False)  # q
        self.lin_hybrid = Linear(2 * channels, channels) if hybrid else None

        self.reset_parameters()

    def reset_parameters(self):
        r"""Resets all learnable parameters of the module."""
        self.lin_last.reset_parameters()
        self.lin_click.reset_parameters()
        self.att.reset_parameters()
        if self.lin_hybrid is not None:
            self.lin_hybrid.reset_parameters()

    def forward(
        self,
        x: Tensor,
        alias_index: Tensor,
        last_index: Tensor,
        batch: Tensor,
        return_attention_weights: bool = False,
        click_offset: Optional[Tensor] = None,
        last_offset: Optional[Tensor] = None,
    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        # `index_select` and `index_add` rather than indexing and scatter:
        # their gradients are row copies.
        click = x.index_select(0, alias_index)  # [num_clicks, F]
        click_batch = batch.index_select(0, alias_index)  # [num_clicks]
        last = x.index_select(0, last_index)  # [B, F]
        if click_offset is not None:
            click = click + click_offset
        if last_offset is not None:
            last = last + last_offset

        alpha = self.lin_last(last).index_select(0, click_batch)
        alpha = self.att(torch.sigmoid(alpha + self.lin_click(click)))
        out = x.new_zeros(last.size(0), x.size(-1)).index_add_(
            0, click_batch, alpha * click)  # [B, F]

        if self.lin_hybrid is not None:
            out = self.lin_hybrid(torch.cat([out, last], dim=-1))

        if return_attention_weights:
            return out, alpha.view(-1)
        return out

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'hybrid={self.hybrid})')
