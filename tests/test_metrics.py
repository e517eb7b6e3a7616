import math

import pytest
import torch

from pyg_srgnn.metrics import (
    ListMetrics,
    RankingMetrics,
    hit_rate,
    mrr,
    ndcg,
    split_by_length,
    target_rank,
)


def test_target_rank():
    scores = torch.tensor([
        [0.1, 0.9, 0.5, 0.3],  # target column 2 -> rank 2
        [0.4, 0.3, 0.2, 0.1],  # target column 0 -> rank 1
        [0.4, 0.3, 0.2, 0.1],  # target column 3 -> rank 4
        [0.5, 0.5, 0.1, 0.1],  # a tie ahead does not push the target back
        [float('nan'), 0.1, 0.2, 0.3],  # NaN target score: never a hit
    ])
    target = torch.tensor([2, 0, 3, 1, 0])
    assert target_rank(scores, target).tolist() == [2, 1, 4, 1, 5]


def test_metric_values():
    rank = torch.tensor([1, 2, 3, 20, 21])
    assert hit_rate(rank, 20).tolist() == [1, 1, 1, 1, 0]
    assert hit_rate(rank, 2).tolist() == [1, 1, 0, 0, 0]
    assert mrr(rank, 20).tolist() == pytest.approx([1, 1 / 2, 1 / 3, 1 / 20,
                                                    0])
    assert ndcg(rank, 20).tolist() == pytest.approx(
        [1, 1 / math.log2(3), 1 / 2, 1 / math.log2(21), 0])


def test_ranking_metrics_accumulate():
    metrics = RankingMetrics([20, 5])
    metrics.update(torch.tensor([1, 10]))
    metrics.update(torch.tensor([30]))
    out = metrics.compute()
    assert list(out) == ['HR@5', 'MRR@5', 'NDCG@5', 'HR@20', 'MRR@20',
                         'NDCG@20']
    assert out['HR@20'] == pytest.approx(2 / 3)
    assert out['HR@5'] == pytest.approx(1 / 3)
    assert out['MRR@20'] == pytest.approx((1 + 1 / 10) / 3)
    assert out['NDCG@5'] == pytest.approx(1 / 3)

    metrics.reset()
    with pytest.raises(ValueError, match='No samples'):
        metrics.compute()
    with pytest.raises(ValueError, match='positive integers'):
        RankingMetrics([0, 20])


def test_list_metrics_by_hand():
    # Items 1..4 were training targets 0, 2, 4 and 1 times.
    popularity = torch.tensor([0, 0, 2, 4, 1])
    lists = ListMetrics([1, 2], popularity)
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3],    # top: item 2, item 3
                           [0.1, 0.3, 0.9, 0.5]])   # top: item 3, item 4
    lists.update(scores)
    out = lists.compute()
    # @1: items 2 and 3 recommended, of 4; popularities 2/4 and 4/4.
    assert out['Coverage@1'] == pytest.approx(2 / 4)
    assert out['Popularity@1'] == pytest.approx((0.5 + 1.0) / 2)
    # @2: items 2, 3, 4; list means (0.5 + 1) / 2 and (1 + 0.25) / 2.
    assert out['Coverage@2'] == pytest.approx(3 / 4)
    assert out['Popularity@2'] == pytest.approx((0.75 + 0.625) / 2)
    with pytest.raises(ValueError, match='No lists'):
        ListMetrics([1], popularity).compute()


def test_split_by_length():
    groups = {name: RankingMetrics([1]) for name in ('short', 'long')}
    rank = torch.tensor([1, 2, 1, 1])
    length = torch.tensor([1, 3, 4, 10])  # short: at most 3 clicks
    split_by_length(groups, rank, length)
    assert groups['short'].compute()['HR@1'] == pytest.approx(0.5)
    assert groups['long'].compute()['HR@1'] == pytest.approx(1.0)
    assert groups['short'].count == 2 and groups['long'].count == 2
