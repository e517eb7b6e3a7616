import math

import pytest
import torch
import torch.nn.functional as F
from nn.test_srgnn import SESSIONS, batch_of

from pyg_srgnn.loss import SampledSoftmaxLoss
from pyg_srgnn.nn import SRGNN
from pyg_srgnn.optim import LazyAdam
from pyg_srgnn.sampling import (
    InBatchSampler,
    NegativeSampler,
    PopularitySampler,
    UniformSampler,
    make_sampler,
)


def steps(optimizer, params, grads):
    for grad in grads:
        optimizer.zero_grad()
        for p, g in zip(params, grad):
            p.grad = g() if callable(g) else g.clone()
        optimizer.step()


@pytest.mark.parametrize('weight_decay', [0.0, 1e-2])
def test_lazy_adam_is_adam_on_dense_gradients(weight_decay):
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5, 3))
    b = torch.nn.Parameter(a.detach().clone())
    grads = [(torch.randn(5, 3), ) for _ in range(5)]
    steps(LazyAdam([a], lr=0.1, weight_decay=weight_decay), [a], grads)
    steps(torch.optim.Adam([b], lr=0.1, weight_decay=weight_decay), [b],
          grads)
    assert torch.allclose(a, b, atol=1e-6)


def test_lazy_adam_is_sparse_adam_on_sparse_gradients():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(6, 3))
    b = torch.nn.Parameter(a.detach().clone())
    grads = []
    for rows in ([0, 2, 2], [3], [2, 5]):  # row 2 twice: summed
        index = torch.tensor([rows])
        grads.append((torch.sparse_coo_tensor(
            index, torch.randn(len(rows), 3), (6, 3)), ))
    steps(LazyAdam([a], lr=0.1), [a], grads)
    steps(torch.optim.SparseAdam([b], lr=0.1), [b], grads)
    assert torch.allclose(a, b, atol=1e-6)
    # A row no gradient touched keeps its value and its moments.
    fresh = torch.nn.Parameter(torch.randn(6, 3))
    before = fresh.detach().clone()
    optimizer = LazyAdam([fresh], lr=0.1, weight_decay=0.1)
    steps(optimizer, [fresh], grads)
    assert torch.equal(fresh[[1, 4]], before[[1, 4]])
    state = optimizer.state[fresh]
    assert not state['exp_avg'][[1, 4]].any()
    assert not state['exp_avg_sq'][[1, 4]].any()
    assert not torch.equal(fresh[[0, 2, 3, 5]], before[[0, 2, 3, 5]])


class FixedSampler(NegativeSampler):
    def __init__(self, negatives, log_q):
        self.negatives, self.value = negatives, log_q

    def sample(self, target):
        return self.negatives

    def log_q(self, items, batch_size):
        return self.value[items]


def test_sampled_softmax_by_hand():
    torch.manual_seed(0)
    model = SRGNN(10, hidden_channels=4)
    data = batch_of(SESSIONS[:3])
    data.y = torch.tensor([2, 5, 2])
    negatives = torch.tensor([5, 7, 2, 9])
    log_q = torch.log(torch.arange(1, 12).float())  # any Q, by item
    loss = SampledSoftmaxLoss(FixedSampler(negatives, log_q))(model, data)

    session = model.session_embedding_batch(data)
    table = model.embedding.weight
    expected = []
    for b, target in enumerate(data.y.tolist()):
        # The target, then every drawn negative that is not the target.
        items = [target] + [n for n in negatives.tolist() if n != target]
        logits = torch.stack([session[b] @ table[i] - log_q[i]
                              for i in items])
        expected.append(-F.log_softmax(logits, 0)[0])
    assert loss.item() == pytest.approx(torch.stack(expected).mean().item(),
                                        rel=1e-5)


def test_in_batch_sampled_softmax_by_hand():
    torch.manual_seed(0)
    model = SRGNN(10, hidden_channels=4)
    data = batch_of(SESSIONS[:4])
    data.y = torch.tensor([2, 5, 2, 8])
    counts = torch.tensor([0, 1, 4, 1, 1, 2, 1, 1, 3, 1, 1])
    sampler = InBatchSampler(counts)
    loss = SampledSoftmaxLoss(sampler)(model, data)
    session = model.session_embedding_batch(data)
    table = model.embedding.weight
    targets = data.y.tolist()
    log_q = [math.log(4 * counts[i].item() / counts.sum().item())
             for i in targets]
    expected = []
    for b, target in enumerate(targets):
        # The other samples' targets are the negatives, the same item as
        # the target excepted.
        columns = [b] + [j for j in range(4) if targets[j] != target]
        logits = torch.stack([session[b] @ table[targets[j]] - log_q[j]
                              for j in columns])
        expected.append(-F.log_softmax(logits, 0)[0])
    assert loss.item() == pytest.approx(torch.stack(expected).mean().item(),
                                        rel=1e-5)


def test_sampled_softmax_gives_the_item_table_sparse_rows():
    torch.manual_seed(0)
    model = SRGNN(50, hidden_channels=4)
    data = batch_of(SESSIONS[:2])
    data.y = torch.tensor([11, 12])
    negatives = torch.tensor([20, 30])
    loss = SampledSoftmaxLoss(FixedSampler(negatives, torch.zeros(51)))
    loss(model, data).backward()
    grad = model.embedding.weight.grad
    assert grad.is_sparse
    rows = set(grad.coalesce().indices()[0].tolist())
    clicked = set(data.x.tolist())
    assert rows == clicked | {11, 12, 20, 30}


def test_samplers_draw_and_weigh_as_they_say():
    generator = torch.Generator().manual_seed(0)
    uniform = UniformSampler(10, 5000, generator)
    drawn = uniform.sample(torch.tensor([1]))
    assert drawn.min() >= 1 and drawn.max() <= 10
    assert torch.allclose(uniform.log_q(torch.tensor([3, 7]), 100),
                          torch.full((2, ), math.log(500.0)))

    popularity = torch.tensor([0, 99, 0, 49, 9])  # + 1: 100, 1, 50, 10
    sampler = PopularitySampler(popularity, 161000, generator)
    counts = torch.bincount(sampler.sample(torch.tensor([1])), minlength=5)
    assert counts[0] == 0
    share = counts[1:].double() / counts.sum()
    expected = torch.tensor([100, 1, 50, 10], dtype=torch.float64) / 161
    assert torch.allclose(share, expected, atol=0.003)
    # Q: the expected count of each item in the draw.
    assert torch.allclose(sampler.log_q(torch.tensor([1, 2]), 100),
                          torch.log(torch.tensor([100000.0, 1000.0])))
    with pytest.raises(ValueError, match="Unknown sampler 'zipf'"):
        make_sampler('zipf', 4, 10, popularity, popularity)


@pytest.mark.parametrize('name,options', [
    ('srgnn', {}), ('srgnn', {'norm_scale': 16.0}), ('srsan', {}),
])
def test_chunked_evaluation_is_the_full_ranking(tmp_path, name, options):
    from pyg_srgnn.data import SessionLoader
    from pyg_srgnn.data.registry import load_dataset
    from pyg_srgnn.models import model_config
    from pyg_srgnn.popularity import session_popularity
    from pyg_srgnn.train import evaluate, train_epoch

    root = str(tmp_path / 'data')
    train_set = load_dataset('diginetica-sample', root, 'train')
    test_set = load_dataset('diginetica-sample', root, 'test')
    torch.manual_seed(0)
    model = model_config(name, hidden_channels=16, **options).build(
        train_set.num_items)
    train_epoch(model, SessionLoader(train_set, batch_size=50, shuffle=True),
                torch.optim.Adam(model.parameters(), lr=1e-2))
    loader = SessionLoader(test_set, batch_size=40)
    popularity = session_popularity(train_set)
    full = evaluate(model, loader, (5, 20), popularity)
    # 309 items in chunks of 50 (the last one shorter).
    chunked = evaluate(model, loader, (5, 20), popularity, item_chunk=50)
    assert chunked == pytest.approx(full, abs=1e-9)
