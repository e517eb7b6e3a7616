from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import GRUCell, Linear, Parameter

from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.inits import uniform
from torch_geometric.typing import Adj, OptTensor
from torch_geometric.utils import is_sparse, to_edge_index


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
    return (_mean_weight(edge_index[1], edge_weight, num_nodes),
            _mean_weight(edge_index[0], edge_weight, num_nodes))


def _mean_weight(index: Tensor, edge_weight: OptTensor,
                num_nodes: int) -> Tensor:
    r"""Divides every edge's weight (:obj:`1` if :obj:`edge_weight` is
    :obj:`None`) by the sum of the weights of the edges with the same
    :obj:`index` entry, so that summing over them takes their mean."""
    if edge_weight is None:  # a mean over distinct neighbours
        deg = torch.bincount(index, minlength=num_nodes)
        return deg.index_select(0, index).reciprocal()
    deg = edge_weight.new_zeros(num_nodes).index_add(0, index, edge_weight)
    deg_inv = deg.reciprocal().masked_fill(deg == 0, 0.)
    return edge_weight * deg_inv.index_select(0, index)


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

        num_nodes = x.size(0)
        index, weight = self._channel_graph(edge_index, edge_weight,
                                            num_nodes)
        # Both directions in one matrix product and one propagation: the
        # [N, 2F] product, seen as [2N, F], holds node i's incoming-channel
        # transform in row 2i and its outgoing one in row 2i + 1, and the
        # propagated [2N, F] result, seen as [N, 2F], is a_in || a_out.
        lin_weight = torch.cat([self.lin_in.weight, self.lin_out.weight])
        lin_bias = bias = None
        if self.lin_in.bias is not None:
            lin_bias = torch.cat([self.lin_in.bias, self.lin_out.bias])
        if self.bias_in is not None:
            bias = torch.cat([self.bias_in, self.bias_out])
        size = (2 * num_nodes, 2 * num_nodes)

        for _ in range(self.num_layers):
            h = F.linear(x, lin_weight, lin_bias).view(-1, self.channels)
            a = self.propagate(index, x=h, edge_weight=weight, size=size)
            a = a.view(num_nodes, 2 * self.channels)
            if bias is not None:
                a = a + bias
            x = self.rnn(a, x)

        return x

    def _channel_graph(
        self,
        edge_index: Adj,
        edge_weight: OptTensor,
        num_nodes: int,
    ) -> Tuple[Tensor, Tensor]:
        r"""Returns the edges and normalised weights of both channels over
        the :obj:`2 * num_nodes` rows of :meth:`forward`: edge
        :math:`u \to v` carries row :math:`2u` to row :math:`2v` (incoming
        channel of :math:`v`) and row :math:`2v + 1` to row :math:`2u + 1`
        (outgoing channel of :math:`u`)."""
        if is_sparse(edge_index):
            if edge_weight is not None:
                raise ValueError("'edge_weight' must be None when passing a "
                                 "sparse adjacency; store the weights as its "
                                 "values instead")
            # adj_t[i, j] is the weight of edge j -> i.
            edge_index, edge_weight = to_edge_index(edge_index)
            edge_index = edge_index.flip([0])
        # Row 2v sums the incoming channel of v and row 2u + 1 the outgoing
        # channel of u, so one mean over the target rows normalises both
        # channels as `srgnn_norm` does.
        double = 2 * edge_index
        index = torch.cat([double, double.flip(0) + 1], dim=1)
        if edge_weight is not None:
            edge_weight = edge_weight.repeat(2)
        return index, _mean_weight(index[1], edge_weight, 2 * num_nodes)

    def message(self, x_j: Tensor, edge_weight: Tensor) -> Tensor:
        return edge_weight.view(-1, 1) * x_j

    def aggregate(self, inputs: Tensor, index: Tensor,
                  ptr: OptTensor = None,
                  dim_size: Optional[int] = None) -> Tensor:
        # A sum over rows whose gradient is a row gather (`index_select`),
        # cheaper than the element-wise gather behind a broadcast scatter.
        out = inputs.new_zeros(dim_size, inputs.size(-1))
        return out.index_add_(0, index, inputs)

    def explain_message(self, inputs: Tensor,
                        dim_size: Optional[int]) -> Tensor:
        # PyG's explainers mask the edges of the input graph; each of them
        # carries two messages here (incoming, then outgoing channel).
        edge_mask = self._edge_mask
        if edge_mask is not None and inputs.size(0) == 2 * edge_mask.size(0):
            if self._apply_sigmoid:
                edge_mask = edge_mask.sigmoid()
            return inputs * edge_mask.repeat(2).view(-1, 1)
        return super().explain_message(inputs, dim_size)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.channels}, '
                f'num_layers={self.num_layers})')
