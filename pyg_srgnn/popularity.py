r"""POP, the yardstick every session recommender must beat: recommend the
items clicked most often in the training sessions, the same list for every
session (session-rec's definition, and the :obj:`pop` model's:
:class:`~pyg_srgnn.baselines.POP`). The same counts weigh the lists'
:obj:`Popularity@K`."""
from typing import Dict, Iterable, Optional

import torch
from torch import Tensor

from pyg_srgnn.data.sequences import training_sessions
from pyg_srgnn.metrics import RankingMetrics


def item_popularity(items: Tensor, num_items: int) -> Tensor:
    r"""How often each item occurs in :obj:`items` (ids),
    :obj:`[num_items + 1]` (index :obj:`i` for item :obj:`i`, index
    :obj:`0` unused)."""
    return torch.bincount(items, minlength=num_items + 1)


def session_popularity(train_set, index: Optional[Tensor] = None) -> Tensor:
    r"""POP's counts: the clicks on each item in the training sessions
    behind the samples of :obj:`train_set` at :obj:`index` (all if
    :obj:`None`), :obj:`[num_items + 1]`; as
    :class:`~pyg_srgnn.baselines.POP` counts them."""
    clicks, _ = training_sessions(train_set, index)
    return item_popularity(clicks, train_set.num_items)


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
