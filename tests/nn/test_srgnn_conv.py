import pytest
import torch
import torch.nn.functional as F

import torch_geometric.typing
from torch_geometric.nn import global_mean_pool
from torch_geometric.utils import to_torch_coo_tensor, to_torch_csr_tensor

from pyg_srgnn.nn import SRGNNConv, srgnn_norm


def test_srgnn_norm_worked_example():
    # Session v1 -> v2 -> v3 -> v2 -> v4 (the paper's Fig. 1), nodes 0..3.
    edge_index = torch.tensor([[0, 1, 2, 1], [1, 2, 1, 3]])
    weight_in, weight_out = srgnn_norm(edge_index, None, num_nodes=4)
    A_in = torch.zeros(4, 4)
    A_in[edge_index[1], edge_index[0]] = weight_in
    A_out = torch.zeros(4, 4)
    A_out[edge_index[0], edge_index[1]] = weight_out
    assert A_out[1].tolist() == [0, 0, 0.5, 0.5]
    assert A_in[1].tolist() == [0.5, 0, 0.5, 0]
    assert A_in[2].tolist() == [0, 1, 0, 0]
    assert A_in[3].tolist() == [0, 1, 0, 0]
    assert A_in[0].tolist() == [0, 0, 0, 0]  # v1 has no in-neighbour

    # Weighted: an edge seen twice counts twice in its row's average.
    edge_weight = torch.tensor([2., 1., 1., 1.])
    weight_in, weight_out = srgnn_norm(edge_index, edge_weight, 4)
    assert torch.allclose(weight_in, torch.tensor([2 / 3, 1, 1 / 3, 1]))
    assert weight_out.tolist() == [1, 0.5, 1, 0.5]


def test_srgnn_conv():
    x = torch.randn(4, 16)
    edge_index = torch.tensor([[0, 1, 2, 1, 3], [1, 2, 1, 3, 3]])
    edge_weight = torch.rand(edge_index.size(1))

    conv = SRGNNConv(16, num_layers=2)
    assert str(conv) == 'SRGNNConv(16, num_layers=2)'
    names = dict(conv.named_children())
    assert isinstance(names['lin_in'], torch.nn.Linear)
    assert isinstance(names['lin_out'], torch.nn.Linear)
    assert isinstance(names['rnn'], torch.nn.GRUCell)
    assert conv.bias_in.size() == conv.bias_out.size() == (16, )
    assert conv.rnn.input_size == 32 and conv.rnn.hidden_size == 16

    out = conv(x, edge_index)
    assert out.size() == (4, 16)
    out_w = conv(x, edge_index, edge_weight)
    assert out_w.size() == (4, 16)
    assert not torch.allclose(out, out_w)

    # A sparse adjacency `adj_t` (entry [i, j] for edge j -> i) gives the same
    # result, in COO and CSR layouts.
    for to_sparse in (to_torch_coo_tensor, to_torch_csr_tensor):
        adj_t = to_sparse(edge_index.flip([0]), size=(4, 4))
        assert torch.allclose(conv(x, adj_t), out, atol=1e-6)
        adj_t = to_sparse(edge_index.flip([0]), edge_weight, size=(4, 4))
        assert torch.allclose(conv(x, adj_t), out_w, atol=1e-6)

    if torch_geometric.typing.WITH_TORCH_SPARSE:
        adj_t = torch_geometric.typing.SparseTensor.from_edge_index(
            edge_index.flip([0]), edge_weight, sparse_sizes=(4, 4))
        assert torch.allclose(conv(x, adj_t), out_w, atol=1e-6)

    with pytest.raises(ValueError, match='must be None when passing'):
        conv(x, adj_t, edge_weight)
    with pytest.raises(ValueError, match=r'shape \[num_nodes, 16\]'):
        conv(torch.randn(4, 8), edge_index)
    with pytest.raises(ValueError, match="'num_layers' must be at least 1"):
        SRGNNConv(16, num_layers=0)


def test_srgnn_conv_edge_order_invariance():
    torch.manual_seed(1)
    x = torch.randn(6, 8)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5, 5], [1, 2, 3, 4, 5, 0, 5]])
    edge_weight = torch.rand(edge_index.size(1))
    conv = SRGNNConv(8)
    perm = torch.randperm(edge_index.size(1))
    assert torch.allclose(conv(x, edge_index, edge_weight),
                          conv(x, edge_index[:, perm], edge_weight[perm]),
                          atol=1e-6)


def test_srgnn_conv_isolated_nodes_get_direction_bias_only():
    conv = SRGNNConv(4)
    x = torch.randn(2, 4)
    out = conv(x, torch.empty(2, 0, dtype=torch.long))
    a = torch.cat([conv.bias_in, conv.bias_out]).expand(2, 8)
    assert torch.allclose(out, conv.rnn(a, x))


def test_srgnn_conv_no_bias():
    conv = SRGNNConv(4, bias=False)
    assert conv.bias_in is None and conv.lin_in.bias is None
    assert conv(torch.randn(3, 4), torch.tensor([[0, 1], [1, 2]])).size() == (
        3, 4)


def test_srgnn_conv_compile():
    conv = SRGNNConv(8)
    x = torch.randn(5, 8)
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    expected = conv(x, edge_index)
    compiled = torch.compile(conv, fullgraph=True, backend='aot_eager')
    assert torch.allclose(compiled(x, edge_index), expected, atol=1e-6)


def test_srgnn_conv_in_a_graph_classifier():
    # Any PyG model can use the layer: a two-graph toy classification task.
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 16)
            self.conv = SRGNNConv(16, num_layers=2)
            self.head = torch.nn.Linear(16, 2)

        def forward(self, x, edge_index, batch):
            h = self.conv(self.lin(x).relu(), edge_index)
            return self.head(global_mean_pool(h, batch))

    torch.manual_seed(0)
    x = torch.randn(7, 3)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 2, 0, 4, 5, 6]])
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    y = torch.tensor([0, 1])

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x, edge_index, batch), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]
    assert all(p.grad is not None for p in model.conv.parameters())


def test_srgnn_conv_edge_masks_for_explainers():
    from torch_geometric.explain import Explainer, GNNExplainer
    from torch_geometric.explain.algorithm.utils import clear_masks, set_masks

    torch.manual_seed(0)
    conv = SRGNNConv(8)
    x = torch.randn(4, 8)
    edge_index = torch.tensor([[0, 1, 2, 1], [1, 2, 1, 3]])
    full = conv(x, edge_index)
    isolated = conv(x, torch.empty(2, 0, dtype=torch.long))

    # A mask of ones keeps every message, zeros drop them all (both channels).
    set_masks(conv, torch.ones(4), edge_index, apply_sigmoid=False)
    assert torch.allclose(conv(x, edge_index), full, atol=1e-6)
    set_masks(conv, torch.zeros(4), edge_index, apply_sigmoid=False)
    assert torch.allclose(conv(x, edge_index), isolated, atol=1e-6)
    # Masking edge 1 -> 3 silences it: node 3, whose only edge it is, gets
    # what it gets without the edge.
    set_masks(conv, torch.tensor([1., 1., 1., 0.]), edge_index,
              apply_sigmoid=False)
    removed = edge_index[:, :3]
    masked = conv(x, edge_index)
    clear_masks(conv)
    assert torch.allclose(masked[3], conv(x, removed)[3], atol=1e-6)
    assert not torch.allclose(masked[3], full[3])

    # And GNNExplainer runs on a model built with the layer.
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = SRGNNConv(8)
            self.head = torch.nn.Linear(8, 2)

        def forward(self, x, edge_index, batch):
            return self.head(global_mean_pool(self.conv(x, edge_index),
                                              batch))

    explainer = Explainer(
        model=Net(), algorithm=GNNExplainer(epochs=3),
        explanation_type='model', edge_mask_type='object',
        model_config=dict(mode='multiclass_classification',
                          task_level='graph', return_type='raw'))
    batch = torch.zeros(4, dtype=torch.long)
    explanation = explainer(x, edge_index, batch=batch)
    assert explanation.edge_mask.size() == (4, )
