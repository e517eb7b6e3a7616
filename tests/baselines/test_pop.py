import pytest
import torch
from tiny_log import NUM_ITEMS, TRAIN, fitted, flat, ranking

from pyg_srgnn.baselines import POP, SPOP
from pyg_srgnn.metrics import target_rank
from pyg_srgnn.popularity import item_popularity, popularity_rank


def test_pop_counts_clicks_and_breaks_ties_to_the_lower_id():
    model = fitted(POP(NUM_ITEMS))
    clicks, _ = flat(TRAIN)
    assert model.popularity.tolist() == [0, 3, 3, 3, 2, 2, 0]
    assert torch.equal(model.popularity, item_popularity(clicks, NUM_ITEMS))
    # The same list for every session: 1, 2, 3 (3 clicks each, by id), 4, 5
    # (2 clicks), 6 (none).
    for session in ([1], [6, 6], [5, 4, 3]):
        assert ranking(model, session) == [1, 2, 3, 4, 5, 6]
    scores = model.score_sessions([[1], [6, 6]])
    assert scores.dtype == torch.float64
    assert scores.float()[:, :5].tolist() == [[3.0, 3.0, 3.0, 2.0, 2.0]] * 2
    # The full ranking of every target is POP's rank.
    targets = torch.arange(NUM_ITEMS).repeat(2, 1)
    ranks = torch.stack([target_rank(scores, targets[:, j])
                         for j in range(NUM_ITEMS)], dim=1)
    assert torch.equal(ranks[0], popularity_rank(model.popularity))


def test_spop_orders_the_session_by_count_then_pop():
    model = fitted(SPOP(NUM_ITEMS))
    # 2 clicked twice, 3 once, then POP's order for the rest.
    assert ranking(model, [2, 3, 2]) == [2, 3, 1, 4, 5, 6]
    # Equal counts: session-rec adds supp / (1 + supp), 3/4 for item 1 and
    # 2/3 for item 5, so 1 comes first; 4 and 5 have equal support (lower
    # id first).
    assert ranking(model, [5, 1]) == [1, 5, 2, 3, 4, 6]
    assert ranking(model, [5, 4]) == [4, 5, 1, 2, 3, 6]
    # The item never clicked in training still ranks by its count.
    assert ranking(model, [6, 1, 6]) == [6, 1, 2, 3, 4, 5]
    scores = model.score_sessions([[2, 3, 2]]).float()
    assert scores.tolist()[0] == pytest.approx([0, 2, 1, 0, 0, 0])
