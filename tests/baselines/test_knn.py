import math
import random
from collections import Counter, defaultdict

import pytest
import torch
from tiny_log import NUM_ITEMS, fitted, flat, ranking

from pyg_srgnn.baselines import POP, SKNN, STAN, VSKNN, ItemKNN
from pyg_srgnn.baselines.baseline import session_nodes
from pyg_srgnn.data import SessionLoader, session_graph_batch
from pyg_srgnn.metrics import RankingMetrics, target_rank
from pyg_srgnn.popularity import evaluate_popularity, session_popularity


def raw_scores(model, sessions):
    r"""The model's own scores, before ties are broken."""
    data = session_graph_batch(*flat(sessions))
    return model.item_scores(session_nodes(data))


def test_item_knn_on_the_tiny_log():
    # sim(i, j) = sum over the sessions holding j of the clicks on i,
    # over sqrt((supp_i + 20) (supp_j + 20)); supports 3, 3, 3, 2, 2.
    model = fitted(ItemKNN(NUM_ITEMS))
    # Last click 2: j = 1 is in t0, t2, t3, which click 2 once (t0); j = 3
    # is in t0, t1, t3: 1 + 2 clicks; j = 4 is in t1, t3: 2; j = 5: 0.
    assert raw_scores(model, [[3, 2]])[0].tolist() == pytest.approx(
        [1 / 23, 0, 3 / 23, 2 / math.sqrt(23 * 22), 0, 0])
    assert ranking(model, [3, 2]) == [3, 4, 1, 2, 5, 6]
    # Last click 3: not symmetric, sim(3, 2) = 2 / 23 (t0, t1 click 3
    # once each) while sim(2, 3) = 3 / 23. 1 and 2 tie: POP's order.
    assert raw_scores(model, [[2, 3]])[0].tolist() == pytest.approx(
        [2 / 23, 2 / 23, 0, 2 / math.sqrt(23 * 22), 1 / math.sqrt(23 * 22),
         0])
    assert ranking(model, [2, 3]) == [4, 1, 2, 5, 3, 6]
    # Only the best neighbour kept, the rest in POP's order.
    model = fitted(ItemKNN(NUM_ITEMS, num_neighbors=1))
    assert ranking(model, [2, 3]) == [4, 1, 2, 3, 5, 6]
    # No regularisation and alpha = 1: confidence, count / supp_i.
    model = fitted(ItemKNN(NUM_ITEMS, regularization=0.0, alpha=1.0))
    assert raw_scores(model, [[2]])[0].tolist() == pytest.approx(
        [1 / 3, 0, 3 / 3, 2 / 3, 0, 0])


def test_sknn_on_the_tiny_log():
    # Session {2, 3}: candidates t0 = {1, 2, 3}, t1 = {2, 3, 4} (overlap 2)
    # and t3 = {1, 3, 4, 5} (overlap 1); cosine 2 / sqrt(2 * 3) for t0 and
    # t1, 1 / sqrt(2 * 4) for t3.
    near, far = 2 / math.sqrt(6), 1 / math.sqrt(8)
    model = fitted(SKNN(NUM_ITEMS))
    assert raw_scores(model, [[2, 3, 2]])[0].tolist() == pytest.approx(
        [near + far, 2 * near, 2 * near + far, near + far, far, 0])
    # 1 and 4 tie: POP's order.
    assert ranking(model, [2, 3, 2]) == [3, 2, 1, 4, 5, 6]
    # k = 2: t0 and t1; every item of t0 and t1 ties with another.
    assert ranking(fitted(SKNN(NUM_ITEMS, k=2)),
                   [2, 3, 2]) == [2, 3, 1, 4, 5, 6]
    # k = 1: t0 and t1 tie, the more recent t1 is the neighbour.
    model = fitted(SKNN(NUM_ITEMS, k=1))
    assert raw_scores(model, [[2, 3, 2]])[0].tolist() == pytest.approx(
        [0, near, near, near, 0, 0])
    assert ranking(model, [2, 3, 2]) == [2, 3, 4, 1, 5, 6]
    # Two candidates, the most recent: t3 and t1.
    model = fitted(SKNN(NUM_ITEMS, sample_size=2))
    assert raw_scores(model, [[2, 3, 2]])[0].tolist() == pytest.approx(
        [far, near, near + far, near + far, far, 0])
    assert ranking(model, [2, 3, 2]) == [3, 4, 2, 1, 5, 6]
    # Jaccard: |s & t| / |s | t|: 2/3 for t0 and t1, 1/5 for t3.
    model = fitted(SKNN(NUM_ITEMS, similarity='jaccard'))
    assert raw_scores(model, [[2, 3, 2]])[0].tolist() == pytest.approx(
        [2 / 3 + 1 / 5, 4 / 3, 4 / 3 + 1 / 5, 2 / 3 + 1 / 5, 1 / 5, 0])


def test_vsknn_on_the_tiny_log():
    # Session [2, 3, 2]: 3 clicks; 2 last clicked at 3 (weight 3/3), 3 at 2
    # (weight 2/3). vec: the weights of the shared items over the 2 items:
    # t0 and t1 (2 and 3) 5/6, t3 (3) 1/3. The latest click on an item of
    # t0 or t1 is the last (step 1, decay 1/1); on t3's, the second to last
    # (step 2, decay 1/2). Votes: 5/6, 5/6, 1/6. idf: log(4 sessions /
    # supp), log(4/3) for 1, 2, 3 and log(2) for 4, 5.
    common, rare = 1 + math.log(4 / 3), 1 + math.log(2)
    model = fitted(VSKNN(NUM_ITEMS))
    assert raw_scores(model, [[2, 3, 2]])[0].tolist() == pytest.approx([
        (5 / 6 + 1 / 6) * common, (5 / 6 + 5 / 6) * common,
        (5 / 6 + 5 / 6 + 1 / 6) * common, (5 / 6 + 1 / 6) * rare,
        1 / 6 * rare, 0
    ])
    assert ranking(model, [2, 3, 2]) == [3, 2, 4, 1, 5, 6]
    # Without idf, and with cosine: the shared weights over
    # sqrt((1 + 4/9) |t|).
    norm = math.sqrt(1 + 4 / 9)
    near, far = (5 / 3) / (norm * math.sqrt(3)), (2 / 3) / (norm * 2)
    model = fitted(VSKNN(NUM_ITEMS, similarity='cosine', idf_weighting=0))
    assert raw_scores(model, [[2, 3, 2]])[0].tolist() == pytest.approx([
        near + far / 2, 2 * near, 2 * near + far / 2, near + far / 2,
        far / 2, 0
    ])
    # Quadratic weights (p/n)^2 and no decay, session [3, 2]: 3 weighs
    # 1/4, 2 weighs 1; vec: t0, t1 (5/4) / 2, t3 (1/4) / 2.
    model = fitted(VSKNN(NUM_ITEMS, weighting='quadratic',
                         weighting_score='same', idf_weighting=0))
    assert raw_scores(model, [[3, 2]])[0].tolist() == pytest.approx(
        [5 / 8 + 1 / 8, 5 / 4, 5 / 4 + 1 / 8, 5 / 8 + 1 / 8, 1 / 8, 0])


def test_stan_on_the_tiny_log():
    # Session [2, 3, 2] with both lambdas 1: 2 last clicked at 3 of 3
    # (weight e^0), 3 at 2 (e^-1). Cosine over sqrt((1 + e^-2) |t|): t0 =
    # [1, 2, 3] and t1 = [2, 3, 4, 2] share both, t3 = [3, 4, 5, 1] shares 3.
    e = math.exp
    norm = math.sqrt(1 + e(-2))
    near, far = (1 + e(-1)) / (norm * math.sqrt(3)), e(-1) / (norm * 2)
    # Each neighbour's items decay with their distance from its last click
    # on an item of the session: t0 from position 3 (item 3) votes e^-2,
    # e^-1, 1 for 1, 2, 3; t1 from 4 (item 2) 1, e^-2, e^-1 for 2, 3, 4
    # (2 last at 4, 3 at 2, 4 at 3); t3 from 1 (item 3) 1, e^-1, e^-2, e^-3
    # for 3, 4, 5, 1.
    model = fitted(STAN(NUM_ITEMS, lambda_spw=1.0, lambda_inh=1.0))
    assert raw_scores(model, [[2, 3, 2]])[0].tolist() == pytest.approx([
        near * e(-2) + far * e(-3), near * e(-1) + near,
        near + near * e(-2) + far, (near + far) * e(-1), far * e(-2), 0
    ])
    assert ranking(model, [2, 3, 2]) == [3, 2, 4, 1, 5, 6]
    # k = 1: t0 and t1 tie, the more recent t1 is the neighbour.
    model = fitted(STAN(NUM_ITEMS, k=1, lambda_spw=1.0, lambda_inh=1.0))
    assert raw_scores(model, [[2, 3, 2]])[0].tolist() == pytest.approx(
        [0, near, near * e(-2), near * e(-1), 0, 0])


def test_knn_options_are_checked():
    with pytest.raises(ValueError, match="Unknown weighting 'linearly'"):
        VSKNN(5, weighting='linearly')
    with pytest.raises(ValueError, match="Unknown similarity 'vec'"):
        SKNN(5, similarity='vec')
    with pytest.raises(ValueError, match="'k' must be at least 1"):
        SKNN(5, k=0)
    with pytest.raises(ValueError, match="'num_neighbors' must be at"):
        ItemKNN(5, num_neighbors=0)
    with pytest.raises(ValueError, match="'lambda_inh' must be positive"):
        STAN(5, lambda_inh=0.0)


# session-rec's definitions, written out one session at a time.
WEIGHTS = {
    'same': lambda p, n: 1.0,
    'div': lambda p, n: p / n,
    'quadratic': lambda p, n: (p / n)**2,
    'linear': lambda p, n: max(1 - 0.1 * (n - p), 0.0),
}
DECAYS = {
    'same': lambda step: 1.0,
    'div': lambda step: 1 / step,
    'quadratic': lambda step: 1 / step**2,
    'linear': lambda step: max(1 - 0.1 * step, 0.0),
}


def reference_session_knn(train, session, k, sample_size, similarity,
                          weighting, weighting_score, idf_weighting):
    sets = [set(t) for t in train]
    support = Counter(item for t in train for item in t)
    position = {item: p for p, item in enumerate(session, 1)}  # the last
    weight = {item: WEIGHTS[weighting](p, len(session))
              for item, p in position.items()}
    current = set(session)
    candidates = sorted((t for t in range(len(train)) if sets[t] & current),
                        reverse=True)
    if sample_size > 0:
        candidates = candidates[:sample_size]  # the most recent
    neighbours = []
    for t in candidates:
        shared = sorted(current & sets[t])
        dot = 0.0
        for item in shared:
            dot += weight[item]
        if similarity == 'vec':
            sim = dot / len(current)
        elif similarity == 'cosine':
            norm = 0.0
            for item in sorted(current):
                norm += weight[item] * weight[item]
            sim = dot / math.sqrt(norm * len(sets[t]))
        else:
            sim = len(shared) / len(current | sets[t])
        if sim > 0:
            neighbours.append((sim, t))
    neighbours.sort(key=lambda n: (-n[0], -n[1]))  # ties: the more recent
    scores = defaultdict(float)
    for sim, t in neighbours[:k]:
        step = next(step for step, item in enumerate(reversed(session), 1)
                    if item in sets[t])
        for item in sets[t]:
            idf = math.log(len(train) / support[item])
            scores[item] += (sim * DECAYS[weighting_score](step) *
                             (1 + idf_weighting * idf))
    return scores


def reference_stan(train, session, k, sample_size, lambda_spw, lambda_inh):
    sets = [set(t) for t in train]
    weight = {}
    for p, item in enumerate(session, 1):  # the last click's position
        weight[item] = math.exp((p - len(session)) / lambda_spw)
    current = set(session)
    candidates = sorted((t for t in range(len(train)) if sets[t] & current),
                        reverse=True)
    if sample_size > 0:
        candidates = candidates[:sample_size]  # the most recent
    norm = math.sqrt(sum(weight[item]**2 for item in sorted(current)))
    neighbours = []
    for t in candidates:
        dot = sum(weight[item] for item in sorted(current & sets[t]))
        neighbours.append((dot / (norm * math.sqrt(len(sets[t]))), t))
    neighbours.sort(key=lambda n: (-n[0], -n[1]))  # ties: the more recent
    scores = defaultdict(float)
    for sim, t in neighbours[:k]:
        last = {item: q for q, item in enumerate(train[t], 1)}
        anchor = max(q for q, item in enumerate(train[t], 1)
                     if item in current)
        for item, q in last.items():
            scores[item] += sim * math.exp(-abs(q - anchor) / lambda_inh)
    return scores


@pytest.mark.parametrize('kwargs', [
    dict(k=100, sample_size=5000, lambda_spw=1.02, lambda_inh=2.05),
    dict(k=3, sample_size=6, lambda_spw=4.0, lambda_inh=0.5),
    dict(k=5, sample_size=0, lambda_spw=0.3, lambda_inh=10.0),
])
def test_stan_equals_a_loop_over_sessions(kwargs):
    assert_equals_loop(STAN, reference_stan, kwargs, seed=2)


def reference_item_knn(train, last, num_neighbors, regularization, alpha):
    support = Counter(item for t in train for item in t)
    count = Counter()
    for t in train:
        for item in set(t) - {last}:
            count[item] += t.count(last)
    weight = {
        item: c / ((support[last] + regularization)**alpha *
                   (support[item] + regularization)**(1 - alpha))
        for item, c in count.items() if c > 0
    }
    best = sorted(weight.items(), key=lambda w: (-w[1], w[0]))
    return dict(best[:num_neighbors])


def random_log(rng, num_sessions, num_items, max_length):
    return [[rng.randint(1, num_items)
             for _ in range(rng.randint(1, max_length))]
            for _ in range(num_sessions)]


def dense(scores, num_items):
    out = torch.zeros(num_items)
    for item, value in scores.items():
        out[item - 1] = value
    return out


def assert_equals_loop(cls, reference, kwargs, seed):
    r"""The scores of :obj:`cls(**kwargs)` on random sessions equal those
    of :obj:`reference`, its definition written one session at a time."""
    rng = random.Random(seed)
    num_items = 12
    train = random_log(rng, 40, num_items, 13)
    sessions = random_log(rng, 30, num_items, 14)
    scores = raw_scores(fitted(cls(num_items, **kwargs), train), sessions)
    for i, session in enumerate(sessions):
        expected = reference(train, session, **kwargs)
        assert torch.allclose(scores[i], dense(expected, num_items),
                              rtol=1e-6, atol=0)


SETTINGS = ('k', 'sample_size', 'similarity', 'weighting', 'weighting_score',
            'idf_weighting')


@pytest.mark.parametrize('setting', [
    (100, 500, 'cosine', 'same', 'same', 0.0),  # SKNN
    (3, 6, 'cosine', 'same', 'same', 0.0),
    (4, 0, 'jaccard', 'same', 'same', 0.0),
    (100, 500, 'vec', 'div', 'div', 1.0),  # VSKNN
    (5, 8, 'vec', 'quadratic', 'linear', 5.0),
    (2, 10, 'cosine', 'linear', 'quadratic', 0.5),
])
def test_session_knn_equals_a_loop_over_sessions(setting):
    assert_equals_loop(VSKNN, reference_session_knn,
                       dict(zip(SETTINGS, setting)), seed=0)


@pytest.mark.parametrize('kwargs', [
    dict(num_neighbors=100, regularization=20.0, alpha=0.5),
    dict(num_neighbors=3, regularization=1.0, alpha=0.8),
])
def test_item_knn_equals_a_loop_over_sessions(kwargs):
    rng = random.Random(1)
    num_items = 12
    train = random_log(rng, 40, num_items, 8)
    model = fitted(ItemKNN(num_items, **kwargs), train)
    lasts = list(range(1, num_items + 1))
    scores = raw_scores(model, [[last] for last in lasts])
    for last in lasts:
        expected = reference_item_knn(train, last, **kwargs)
        assert torch.allclose(scores[last - 1], dense(expected, num_items),
                              rtol=1e-6, atol=0)


def hit_rate(model, test_set):
    metrics = RankingMetrics([20])
    for batch in SessionLoader(test_set, batch_size=40):
        metrics.update(target_rank(model.forward_batch(batch), batch.y - 1))
    return metrics.compute()['HR@20']


def test_knn_beats_pop_on_the_sample(sample):
    train_set, test_set = sample
    pop = hit_rate(POP(train_set.num_items).fit(train_set), test_set)
    # The POP printed beside `pyg-srgnn fit` is this model.
    assert pop == evaluate_popularity(session_popularity(train_set),
                                      test_set.sample_tensors()[2])['HR@20']
    for cls in (ItemKNN, SKNN, VSKNN, STAN):
        model = cls(train_set.num_items).fit(train_set)
        assert hit_rate(model, test_set) > pop + 0.2
