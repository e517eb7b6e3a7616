import math

import pytest
import torch

from pyg_srgnn.data.session_graph import (
    session_graph_batch,
    sessions_to_tensors,
)
from pyg_srgnn.loss import full_softmax_loss
from pyg_srgnn.nn import SRGNN
from pyg_srgnn.nn.session_model import ItemScores

SESSIONS = [
    [1, 2, 3, 2, 4],  # repeat, the paper's Fig. 1
    [5, 5, 6],  # consecutive repeat: a self-loop
    [7],  # length 1: no edges
    [1, 2, 1, 2],  # repeated transitions
    [9, 3, 9, 3, 9, 1, 8],
    [4, 8, 8, 8, 2],
]


def batch_of(sessions, edge_weight='binary'):
    clicks, ptr = sessions_to_tensors(sessions, 10)
    return session_graph_batch(clicks, ptr, edge_weight=edge_weight)


def official_state_dict(num_rows, d, seed):
    gen = torch.Generator().manual_seed(seed)
    shapes = {
        'embedding.weight': (num_rows, d),
        'gnn.w_ih': (3 * d, 2 * d),
        'gnn.w_hh': (3 * d, d),
        'gnn.b_ih': (3 * d, ),
        'gnn.b_hh': (3 * d, ),
        'gnn.b_iah': (d, ),
        'gnn.b_oah': (d, ),
        'gnn.linear_edge_in.weight': (d, d),
        'gnn.linear_edge_in.bias': (d, ),
        'gnn.linear_edge_out.weight': (d, d),
        'gnn.linear_edge_out.bias': (d, ),
        'gnn.linear_edge_f.weight': (d, d),
        'gnn.linear_edge_f.bias': (d, ),
        'linear_one.weight': (d, d),
        'linear_one.bias': (d, ),
        'linear_two.weight': (d, d),
        'linear_two.bias': (d, ),
        'linear_three.weight': (1, d),
        'linear_transform.weight': (d, 2 * d),
        'linear_transform.bias': (d, ),
    }
    # Larger than the official init so that every term moves the scores.
    return {
        key: torch.rand(shape, generator=gen) * 2 - 1
        for key, shape in shapes.items()
    }


def dense_reference(sd, sessions, hybrid, num_layers, counts=False):
    r"""Sections 2-3 of the reference, one session at a time, with dense
    adjacency matrices and the official GRU arithmetic written out."""
    p = {key: value.double() for key, value in sd.items()}
    emb = p['embedding.weight']
    out = []
    for session in sessions:
        nodes = sorted(set(session))
        alias = [nodes.index(item) for item in session]
        n = len(nodes)
        A = torch.zeros(n, n, dtype=torch.float64)
        for u, v in zip(alias[:-1], alias[1:]):
            A[u, v] = A[u, v] + 1 if counts else 1
        in_deg = A.sum(0).clamp(min=1)
        out_deg = A.sum(1).clamp(min=1)
        A_in = (A / in_deg.view(1, -1)).t()  # A_in[v, u]
        A_out = A / out_deg.view(-1, 1)  # A_out[u, v]

        h = emb[nodes]
        for _ in range(num_layers):
            lin_in = h @ p['gnn.linear_edge_in.weight'].t()
            lin_in = lin_in + p['gnn.linear_edge_in.bias']
            lin_out = h @ p['gnn.linear_edge_out.weight'].t()
            lin_out = lin_out + p['gnn.linear_edge_out.bias']
            a_in = A_in @ lin_in + p['gnn.b_iah']
            a_out = A_out @ lin_out + p['gnn.b_oah']
            gi = torch.cat([a_in, a_out], 1) @ p['gnn.w_ih'].t()
            gi = gi + p['gnn.b_ih']
            gh = h @ p['gnn.w_hh'].t() + p['gnn.b_hh']
            i_r, i_i, i_n = gi.chunk(3, 1)
            h_r, h_i, h_n = gh.chunk(3, 1)
            resetgate = torch.sigmoid(i_r + h_r)
            inputgate = torch.sigmoid(i_i + h_i)
            newgate = torch.tanh(i_n + resetgate * h_n)
            h = newgate + inputgate * (h - newgate)

        seq = h[alias]
        ht = h[alias[-1]]
        q1 = ht @ p['linear_one.weight'].t() + p['linear_one.bias']
        q2 = seq @ p['linear_two.weight'].t() + p['linear_two.bias']
        alpha = torch.sigmoid(q1 + q2) @ p['linear_three.weight'].t()
        s = (alpha * seq).sum(0)
        if hybrid:
            s = torch.cat([s, ht]) @ p['linear_transform.weight'].t()
            s = s + p['linear_transform.bias']
        out.append(s @ emb[1:].t())
    return torch.stack(out)


@pytest.mark.parametrize('num_layers', [1, 2])
@pytest.mark.parametrize('hybrid', [True, False])
def test_parity_with_dense_reference(num_layers, hybrid):
    sd = official_state_dict(num_rows=11, d=8, seed=12345 + num_layers)
    model = SRGNN.from_official_state_dict(sd, hybrid=hybrid,
                                           num_layers=num_layers)
    assert model.num_items == 10 and model.hidden_channels == 8

    out = model.score_sessions(SESSIONS)
    expected = dense_reference(sd, SESSIONS, hybrid, num_layers)
    assert out.size() == (len(SESSIONS), 10)
    assert expected.abs().max() > 1  # the comparison is not trivially small
    assert torch.allclose(out.double(), expected, atol=1e-5, rtol=0)


def test_parity_count_weights():
    sd = official_state_dict(num_rows=11, d=8, seed=7)
    model = SRGNN.from_official_state_dict(sd, num_layers=2)
    out = model.score_sessions(SESSIONS, edge_weight='count')
    expected = dense_reference(sd, SESSIONS, True, 2, counts=True)
    assert torch.allclose(out.double(), expected, atol=1e-5, rtol=0)
    binary = model.score_sessions(SESSIONS)
    assert not torch.allclose(out, binary)  # [1, 2, 1, 2] differs


def test_recommend():
    torch.manual_seed(0)
    model = SRGNN(num_items=10, hidden_channels=8)
    scores = model.score_sessions(SESSIONS[:2])
    top = model.recommend(SESSIONS[:2], k=3)
    assert top.size() == (2, 3)
    assert top.min() >= 1 and top.max() <= 10
    assert top.tolist() == (scores.argsort(dim=1, descending=True)[:, :3] +
                            1).tolist()
    assert model.training  # inference leaves the mode as it was


def test_parameter_count_and_init():
    model = SRGNN(num_items=43097, hidden_channels=100)
    assert sum(p.numel() for p in model.parameters()) == 4_461_200
    bound = 1 / math.sqrt(100)
    assert all(p.abs().max() <= bound for p in model.parameters())
    assert str(model) == ('SRGNN(num_items=43097, hidden_channels=100, '
                          'num_layers=1, hybrid=True)')


def test_official_state_dict_errors():
    sd = official_state_dict(num_rows=11, d=8, seed=0)
    del sd['gnn.w_ih']
    sd['gnn.extra'] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['gnn.w_ih'\].*"
                       r"unexpected keys \['gnn.extra'\]"):
        SRGNN.from_official_state_dict(sd)

    sd = official_state_dict(num_rows=11, d=8, seed=0)
    sd['gnn.w_hh'] = torch.zeros(3 * 8, 7)
    with pytest.raises(ValueError, match='conv.rnn.weight_hh'):
        SRGNN.from_official_state_dict(sd)

    # The non-hybrid official model still has an unused `linear_transform`;
    # a state_dict without it is fine there too.
    sd = official_state_dict(num_rows=11, d=8, seed=0)
    del sd['linear_transform.weight'], sd['linear_transform.bias']
    SRGNN.from_official_state_dict(sd, hybrid=False)


@pytest.mark.parametrize('sessions,match', [
    ([[1, 2], []], 'Session 1 is empty'),
    ([[1, 11]], r'Session 0, position 1: item id 11 is outside .*1\.\.10'),
    ([[0]], 'item id 0 is outside'),
    ([[1, 'a']], "item id 'a' is not an integer"),
    ([[1, 2.5]], 'item id 2.5 is not an integer'),
    ([], 'at least one session'),
    ('1,2', 'Expected a list of sessions'),
    ([3], 'Session 0 must be a list'),
])
def test_bad_sessions(sessions, match):
    model = SRGNN(num_items=10, hidden_channels=8)
    with pytest.raises(ValueError, match=match):
        model.score_sessions(sessions)


def test_bad_k():
    model = SRGNN(num_items=10, hidden_channels=8)
    with pytest.raises(ValueError, match="'k' must be between 1 and"):
        model.recommend([[1]], k=11)


def test_gradients_equal_plain_autograd():
    # forward() scores through a custom autograd function and a sparse
    # lookup gradient; every parameter must get the gradient that the plain
    # formulation (dense lookup, sliced table) gives.
    from pyg_srgnn.data import session_graph_batch
    from pyg_srgnn.data.session_graph import sessions_to_tensors

    torch.manual_seed(0)
    model = SRGNN(num_items=10, hidden_channels=8, num_layers=2).double()
    clicks, ptr = sessions_to_tensors(SESSIONS)
    data = session_graph_batch(clicks, ptr)
    target = torch.tensor([5, 1, 2, 10, 4, 3])

    model.zero_grad()
    full_softmax_loss(model.forward_batch(data), target).backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    assert ours['embedding.weight'].layout == torch.strided
    assert ours['embedding.weight'][0].abs().max() == 0  # row 0 is unused

    model.zero_grad()
    h = model.conv(model.embedding(data.x), data.edge_index)
    session = model.readout(h, data.alias_index, data.last_index, data.batch)
    scores = session @ model.embedding.weight[1:].t()
    torch.nn.functional.cross_entropy(scores, target - 1).backward()
    for name, p in model.named_parameters():
        assert torch.allclose(ours[name], p.grad, atol=1e-12), name
    # The lookup's part is in there: without it, the gradient differs.
    weight = model.embedding.weight
    scoring_only, = torch.autograd.grad(
        torch.nn.functional.cross_entropy(session.detach() @ weight[1:].t(),
                                          target - 1), weight)
    assert not torch.allclose(ours['embedding.weight'], scoring_only)


def test_item_scores_gradcheck():

    session = torch.randn(3, 4, dtype=torch.double, requires_grad=True)
    weight = torch.randn(6, 4, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(ItemScores.apply, (session, weight))
    assert torch.equal(ItemScores.apply(session, weight),
                       session @ weight[1:].t())


def test_niser_scores_are_scaled_cosines():
    torch.manual_seed(0)
    model = SRGNN(num_items=10, hidden_channels=8, norm_scale=16.0)
    plain = SRGNN(num_items=10, hidden_channels=8)
    plain.load_state_dict(model.state_dict())
    data = batch_of(SESSIONS)
    scores = model.forward_batch(data)
    # The same session embedding as SR-GNN's on normalised item embeddings.
    with torch.no_grad():
        plain.embedding.weight.copy_(torch.nn.functional.normalize(
            model.embedding.weight, dim=-1))
    session = plain.session_embedding(data.x, data.edge_index,
                                      data.alias_index, data.last_index,
                                      data.batch)
    session = session / session.norm(dim=-1, keepdim=True)
    table = plain.embedding.weight[1:]
    assert torch.allclose(scores, 16 * session @ table.t(), atol=1e-5)
    assert scores.abs().max() <= 16 + 1e-4
    assert 'norm_scale=16.0' in repr(model)


def test_embedding_dropout_only_while_training():
    torch.manual_seed(0)
    model = SRGNN(num_items=10, hidden_channels=8, dropout=0.5)
    data = batch_of(SESSIONS)
    model.eval()
    assert torch.equal(model.forward_batch(data), model.forward_batch(data))
    model.train()
    assert not torch.equal(model.forward_batch(data),
                           model.forward_batch(data))


def test_position_offsets():
    torch.manual_seed(0)
    model = SRGNN(num_items=10, hidden_channels=8, max_positions=4)
    data = batch_of(SESSIONS)
    clicks, last = model.position_offsets(data.alias_index, data.batch,
                                          len(SESSIONS))
    table = model.position.weight
    # Positions from each session's first click; the fifth and later
    # clicks share the last row.
    positions = [min(i, 3) for s in SESSIONS for i in range(len(s))]
    assert torch.equal(clicks, table[positions])
    assert torch.equal(last, table[[min(len(s) - 1, 3) for s in SESSIONS]])
    assert SRGNN(10, 8).position_offsets(data.alias_index, data.batch,
                                         6) == (None, None)


def test_reversed_position_offsets():
    torch.manual_seed(0)
    model = SRGNN(num_items=10, hidden_channels=8, max_positions=4,
                  reverse_positions=True)
    data = batch_of(SESSIONS)
    clicks, last = model.position_offsets(data.alias_index, data.batch,
                                          len(SESSIONS))
    table = model.position.weight
    # Distances from each session's last click, which is 0; the fourth
    # click before it and earlier share the last row.
    positions = [min(len(s) - 1 - i, 3) for s in SESSIONS
                 for i in range(len(s))]
    assert positions[:len(SESSIONS[0])][-1] == 0
    assert torch.equal(clicks, table[positions])
    assert torch.equal(last, table[[0] * len(SESSIONS)])
    assert 'reverse_positions=True' in repr(model)


def test_positions_change_the_session_embedding():
    torch.manual_seed(0)
    model = SRGNN(num_items=10, hidden_channels=8, max_positions=8)
    without = SRGNN(num_items=10, hidden_channels=8)
    without.load_state_dict({key: value for key, value in
                             model.state_dict().items()
                             if not key.startswith('position.')})
    data = batch_of(SESSIONS)
    assert not torch.allclose(model.forward_batch(data),
                              without.forward_batch(data))
    with torch.no_grad():
        model.position.weight.zero_()
    assert torch.allclose(model.forward_batch(data),
                          without.forward_batch(data), atol=1e-6)
