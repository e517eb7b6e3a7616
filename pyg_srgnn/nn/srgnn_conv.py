from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.nn import GRUCell, Linear, Parameter

from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.inits import uniform
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import (
    is_sparse,
    scatter,
    spmm,
    to_edge_index,
    to_torch_csr_tensor,
)


def srgnn_norm(
    edge_index: Tensor,
    edge_weight: OptTensor,
    num_nodes: int,
) -> Tuple[Tensor, Tensor]:
    r"""Normalises edge weights the way SR-GNN averages over neighbours.

    For an edge :math:`u \to v` of weight :math:`w_{uv}` (:obj:`1` if
    :obj:`edge_weight` is :obj:`None`), returns the weight it gets in the
    incoming channel, :math:`w_{uv} / \sum_{u'} w_{u'v}`, and in the outgoing
    channel, :math:`w_{uv} / \sum_{v'} w_{uv'}`.
    With one unit-weight edge per distinct transition this is the official
    code's :math:`1/\textrm{deg}_{in}(v)` and :math:`1/\textrm{deg}_{out}(u)`;
    with transition counts as weights it is the paper's "occurrence divided by
    the out-degree".

    Returns:
        (edge_weight_in, edge_weight_out), each of shape :obj:`[num_edges]`.
    """
    src, dst = edge_index[0], edge_index[1]
    if edge_weight is None:
        edge_weight = torch.ones(src.numel(), device=src.device)

    def normalize(index: Tensor) -> Tensor:
        deg = scatter(edge_weight, index, 0, dim_size=num_nodes, reduce='sum')
        deg_inv = deg.reciprocal()
        deg_inv = deg_inv.masked_fill(torch.isinf(deg_inv), 0.)
        return edge_weight * deg_inv[index]

    return normalize(dst), normalize(src)


class SRGNNConv(MessagePassing):
    r"""The gated session graph convolution from the `"Session-based
    Recommendation with Graph Neural Networks"
    <https://arxiv.org/abs/1811.00855>`_ paper.

    Messages flow along both edge directions with separate weights and the
    two averages drive a GRU cell, whose weights are shared across steps:

    .. math::
        \mathbf{a}_{i, \textrm{in}}^{(l)} &= \sum_{j \in \mathcal{N}_{in}(i)}
        \hat{e}^{in}_{j,i} \left( \mathbf{W}_{in} \mathbf{h}_j^{(l)} +
        \mathbf{b}_{in} \right) + \mathbf{b}_{iah}

        \mathbf{a}_{i, \textrm{out}}^{(l)} &= \sum_{j \in
        \mathcal{N}_{out}(i)} \hat{e}^{out}_{i,j} \left( \mathbf{W}_{out}
        \mathbf{h}_j^{(l)} + \mathbf{b}_{out} \right) + \mathbf{b}_{oah}

        \mathbf{h}_i^{(l+1)} &= \textrm{GRU} \left( \mathbf{a}_{i,
        \textrm{in}}^{(l)} \, \Vert \, \mathbf{a}_{i, \textrm{out}}^{(l)},
        \mathbf{h}_i^{(l)} \right)

    where :math:`\hat{e}^{in}_{j,i} = e_{j,i} / \sum_{k} e_{k,i}` and
    :math:`\hat{e}^{out}_{i,j} = e_{i,j} / \sum_{k} e_{i,k}` (see
    :func:`srgnn_norm`), so each channel is a (weighted) mean over distinct
    neighbours. A node without in- (out-) neighbours receives
    :math:`\mathbf{b}_{iah}` (:math:`\mathbf{b}_{oah}`) alone.

    Args:
        channels (int): Size of each input and output sample.
        num_layers (int, optional): The number of propagation steps
            :math:`L`, all with the same weights. (default: :obj:`1`)
        bias (bool, optional): If set to :obj:`False`, the layer will not learn
            additive biases. (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:**
          node features :math:`(|\mathcal{V}|, F)`,
          edge indices :math:`(2, |\mathcal{E}|)` or a sparse adjacency
          :obj:`adj_t` of shape :math:`(|\mathcal{V}|, |\mathcal{V}|)` with
          :obj:`adj_t[i, j]` the weight of edge :math:`j \to i`,
          edge weights :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** node features :math:`(|\mathcal{V}|, F)`
    """
    def __init__(self, channels: int, num_layers: int = 1, bias: bool = True,
                 **kwargs):
        # The normalisation lives in the edge weights, so the sum is a mean.
        super().__init__(aggr='add', **kwargs)

        if num_layers < 1:
            raise ValueError(f"'num_layers' must be at least 1 "
                             f"(got {num_layers})")

        self.channels = channels
        self.num_layers = num_layers

        self.lin_in = Linear(channels, channels, bias=bias)
        self.lin_out = Linear(channels, channels, bias=bias)
        if bias:
            self.bias_in = Parameter(torch.empty(channels))
            self.bias_out = Parameter(torch.empty(channels))
        else:
            self.register_parameter('bias_in', None)
            self.register_parameter('bias_out', None)
        self.rnn = GRUCell(2 * channels, channels, bias=bias)

        self.reset_parameters()

    def reset_parameters(self):
        r"""Resets all learnable parameters of the module."""
        super().reset_parameters()
        self.lin_in.reset_parameters()
        self.lin_out.reset_parameters()
        if self.bias_in is not None:
            uniform(self.channels, self.bias_in)
            uniform(self.channels, self.bias_out)
        self.rnn.reset_parameters()

    def forward(self, x: Tensor, edge_index: Adj,
                edge_weight: OptTensor = None) -> Tensor:
        if x.dim() != 2 or x.size(-1) != self.channels:
            raise ValueError(f"Expected node features of shape "
                             f"[num_nodes, {self.channels}] (got "
                             f"{list(x.size())})")

        adj_in, adj_out, weight_in, weight_out = self._normalized_adjacency(
            edge_index, edge_weight, x.size(0))

        for _ in range(self.num_layers):
            # propagate_type: (x: Tensor, edge_weight: OptTensor)
            a_in = self.propagate(adj_in, x=self.lin_in(x),
                                  edge_weight=weight_in)
            a_out = self.propagate(adj_out, x=self.lin_out(x),
                                   edge_weight=weight_out)
            if self.bias_in is not None:
                a_in = a_in + self.bias_in
                a_out = a_out + self.bias_out
            x = self.rnn(torch.cat([a_in, a_out], dim=-1), x)

        return x

    def _normalized_adjacency(
        self,
        edge_index: Adj,
        edge_weight: OptTensor,
        num_nodes: int,
    ) -> Tuple[Adj, Adj, OptTensor, OptTensor]:
        if not is_sparse(edge_index):
            weight_in, weight_out = srgnn_norm(edge_index, edge_weight,
                                               num_nodes)
            return edge_index, edge_index.flip([0]), weight_in, weight_out

        if edge_weight is not None:
            raise ValueError("'edge_weight' must be None when passing a "
                             "sparse adjacency; store the weights as its "
                             "values instead")
        # `adj_t` holds edge j -> i at [i, j]: flip to source -> target.
        index, value = to_edge_index(edge_index)
        index = index.flip([0])
        weight_in, weight_out = srgnn_norm(index, value, num_nodes)
        size = (num_nodes, num_nodes)
        adj_in = to_torch_csr_tensor(index.flip([0]), weight_in, size)
        adj_out = to_torch_csr_tensor(index, weight_out, size)
        return adj_in, adj_out, None, None

    def message(self, x_j: Tensor, edge_weight: Optional[Tensor]) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return spmm(adj_t, x, reduce=self.aggr)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'num_layers={self.num_layers})')
