r"""POP, the yardstick every session recommender must beat: recommend the
items that were training targets most often, the same list for every
session."""
from typing import Dict, Iterable

import torch
from torch import Tensor

from pyg_srgnn.metrics import RankingMetrics


def item_popularity(targets: Tensor, num_items: int) -> Tensor:
    r"""How often each item is a target of :obj:`targets`,
    :obj:`[num_items + 1]` (index :obj:`i` for item :obj:`i`, index
    :obj:`0` unused)."""
    return torch.bincount(targets, minlength=num_items + 1)


def popularity_rank(popularity: Tensor) -> Tensor:
    r"""The 1-based rank of every item in POP's list, :obj:`[num_items]`
    (position :obj:`j` for item :obj:`j + 1`): more popular first, ties
    broken by the lower item id, so that POP's top :obj:`K` is one fixed
    list of :obj:`K` items."""
    order = popularity_order(popularity)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(1, order.numel() + 1)
    return rank


def popular_items(popularity: Tensor, k: int) -> Tensor:
    r"""POP's top :obj:`k` item ids, most popular first."""
    return popularity_order(popularity)[:k] + 1


def popularity_order(popularity: Tensor) -> Tensor:
    r"""Item positions (item :obj:`j + 1` at :obj:`j`) in POP's order: more
    popular first, ties broken by the lower item id."""
    return torch.sort(popularity[1:], descending=True, stable=True).indices


def evaluate_popularity(popularity: Tensor, targets: Tensor,
                        ks: Iterable[int] = (20, )) -> Dict[str, float]:
    r"""HR/MRR/NDCG at each K of POP on samples with :obj:`targets` (item
    ids), over the same full ranking as :func:`pyg_srgnn.train.evaluate`."""
    metrics = RankingMetrics(ks)
    metrics.update(popularity_rank(popularity)[targets - 1])
    return metrics.compute()
