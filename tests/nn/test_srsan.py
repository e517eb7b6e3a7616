import pytest
import torch
from test_srgnn import SESSIONS, batch_of

from pyg_srgnn.loss import full_softmax_loss
from pyg_srgnn.nn import SRSAN


def official_embedding(model, sessions):
    r"""The official SR-SAN forward written out for one batch: each
    session's distinct items ascending, zero-padded to the batch's most,
    encoded without a mask, the state of the last click's item kept."""
    nodes = [sorted(set(s)) for s in sessions]
    width = max(len(n) for n in nodes)
    items = torch.tensor([n + [0] * (width - len(n)) for n in nodes])
    h = model.encoder(model.embedding(items))
    return torch.stack([h[i, nodes[i].index(s[-1])]
                        for i, s in enumerate(sessions)])


def test_srsan_shapes_and_repr():
    torch.manual_seed(0)
    model = SRSAN(num_items=10, hidden_channels=8, heads=2, ff_channels=16)
    data = batch_of(SESSIONS)
    assert model.session_embedding_batch(data).size() == (len(SESSIONS), 8)
    assert model.forward_batch(data).size() == (len(SESSIONS), 10)
    assert repr(model) == ('SRSAN(num_items=10, hidden_channels=8, '
                           'num_layers=1, heads=2, faithful=False)')
    with pytest.raises(ValueError, match='multiple of'):
        SRSAN(10, hidden_channels=9, heads=2)


def test_srsan_official_defaults_and_init():
    model = SRSAN(num_items=10)
    assert (model.hidden_channels, model.num_layers, model.heads,
            model.ff_channels, model.dropout) == (96, 1, 2, 384, 0.1)
    bound = 1 / 96**0.5
    assert all(p.abs().max() <= bound for p in model.parameters())
    # LayerNorm weights too, as the official code draws every parameter.
    norm = model.encoder.layers[0].norm1.weight
    assert norm.min() < 0.5


def test_srsan_reads_every_click():
    # Without positions, attention sees a session as a multiset of clicks
    # and the last one: repeats count, and the last click matters.
    torch.manual_seed(0)
    model = SRSAN(num_items=10, hidden_channels=8, ff_channels=16).eval()
    a, b, c = model.score_sessions([[1, 2, 3], [1, 2, 2, 3], [1, 3, 2]])
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, c)
    assert torch.allclose(a, model.score_sessions([[2, 1, 3]])[0],
                          atol=1e-6)


def test_srsan_faithful_mode_is_the_official_forward():
    torch.manual_seed(0)
    model = SRSAN(num_items=10, hidden_channels=8, ff_channels=16,
                  faithful=True).eval()
    with torch.no_grad():
        out = model.session_embedding_batch(batch_of(SESSIONS))
        expected = official_embedding(model, SESSIONS)
    assert torch.allclose(out, expected, atol=1e-6)
    # Without a mask, padding reaches the scores: alone differs from batched.
    alone = model.score_sessions([SESSIONS[2]])
    together = model.score_sessions(SESSIONS)
    assert not torch.allclose(alone[0], together[2], atol=1e-4)
    # Distinct items only: a repeated click changes nothing.
    a, b = model.score_sessions([[1, 2, 3], [1, 2, 2, 3]])
    assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize('num_layers', [1, 2])
def test_srsan_computes_the_last_click_alone(num_layers):
    # The last layer at the last click only: the whole encoder's output
    # there, padding masked, and the same gradient.
    from torch_geometric.utils import to_dense_batch
    torch.manual_seed(0)
    model = SRSAN(num_items=10, hidden_channels=8, ff_channels=16,
                  num_layers=num_layers).eval()
    data = batch_of(SESSIONS)
    clicks = data.x[data.alias_index]
    items, mask = to_dense_batch(clicks, data.batch[data.alias_index])
    h = model.encoder(model.embedding(items), src_key_padding_mask=~mask)
    expected = h[torch.arange(len(SESSIONS)), mask.sum(dim=1) - 1]
    out = model.session_embedding_batch(data)
    assert torch.allclose(out, expected, atol=1e-6)
    grads = [torch.autograd.grad(y.square().sum(), model.parameters())
             for y in (out, expected)]
    for ours, whole in zip(*grads):
        assert torch.allclose(ours, whole, atol=1e-6)


def test_srsan_item_logits_of_a_subset():
    torch.manual_seed(0)
    model = SRSAN(num_items=10, hidden_channels=8, ff_channels=16).eval()
    session = model.session_embedding_batch(batch_of(SESSIONS))
    full = model.item_logits(session)
    items = torch.tensor([3, 7, 10])
    assert torch.allclose(model.item_logits(session, items),
                          full[:, items - 1], atol=1e-6)


def test_srsan_trains():
    torch.manual_seed(0)
    model = SRSAN(num_items=10, hidden_channels=8, ff_channels=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    data = batch_of(SESSIONS)
    target = torch.tensor([4, 6, 7, 2, 8, 2])
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = full_softmax_loss(model.forward_batch(data), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 2


@pytest.mark.parametrize('faithful', [False, True])
def test_srsan_training_gradient_equals_the_dense_lookups(faithful):
    # forward_batch looks items up with a sparse gradient that the scores'
    # dense one absorbs; the table's gradient is the dense lookup's.
    torch.manual_seed(0)
    model = SRSAN(10, 8, heads=2, ff_channels=16, dropout=0.0,
                  faithful=faithful)
    data = batch_of(SESSIONS)
    data.y = torch.arange(1, len(SESSIONS) + 1)
    grads = []
    for scores in (lambda: model.forward_batch(data),
                   lambda: model.item_logits(
                       model.session_embedding_batch(data))):
        model.zero_grad()
        full_softmax_loss(scores(), data.y).backward()
        grads.append({name: p.grad.clone()
                      for name, p in model.named_parameters()})
    assert not grads[0]['embedding.weight'].is_sparse
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-6), name
