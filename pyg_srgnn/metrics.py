r"""Full-ranking metrics with one target per sample.

:obj:`HR@K` is the share of samples whose target ranks among the top
:obj:`K` of all items (the SR-GNN paper calls it "P@20"; it equals Recall@K
with one target), :obj:`MRR@K` the mean of :math:`1/\textrm{rank}` (zero
beyond :obj:`K`) and :obj:`NDCG@K` the mean of
:math:`1/\log_2(1 + \textrm{rank})` (zero beyond :obj:`K`). Items already in
the session are not masked, as in the paper.
"""
from typing import Dict, Iterable

import torch
from torch import Tensor


def target_rank(scores: Tensor, target: Tensor) -> Tensor:
    r"""Returns the 1-based rank of each target among all items,
    :obj:`[B]`, counting only strictly higher scores as ahead of it.

    Args:
        scores (torch.Tensor): Item scores, :obj:`[B, num_items]`.
        target (torch.Tensor): Column of each target, :obj:`[B]`.
    """
    target_score = scores.gather(1, target.view(-1, 1))  # [B, 1]
    rank = (scores > target_score).sum(dim=1) + 1
    # A NaN score must never count as a hit.
    return rank.masked_fill(torch.isnan(target_score.view(-1)),
                            scores.size(1) + 1)


def hit_rate(rank: Tensor, k: int) -> Tensor:
    return (rank <= k).float()


def mrr(rank: Tensor, k: int) -> Tensor:
    return torch.where(rank <= k, 1.0 / rank.float(), 0.0)


def ndcg(rank: Tensor, k: int) -> Tensor:
    return torch.where(rank <= k, 1.0 / torch.log2(rank.float() + 1), 0.0)


METRICS = {'HR': hit_rate, 'MRR': mrr, 'NDCG': ndcg}


class RankingMetrics:
    r"""Accumulates :obj:`HR@K`, :obj:`MRR@K` and :obj:`NDCG@K` over batches.

    Args:
        ks (iterable of int): The cut-offs :obj:`K`.

    Example:
        >>> metrics = RankingMetrics([20])
        >>> metrics.update(torch.tensor([1, 3, 40]))
        >>> metrics.compute()['HR@20']
        0.6666...
    """
    def __init__(self, ks: Iterable[int] = (20, )):
        self.ks = sorted(set(ks))
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"Cut-offs K must be positive integers "
                             f"(got {list(ks)})")
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.sums = {f'{name}@{k}': 0.0 for k in self.ks for name in METRICS}

    def update(self, rank: Tensor) -> None:
        self.count += rank.numel()
        for k in self.ks:
            for name, fn in METRICS.items():
                self.sums[f'{name}@{k}'] += float(fn(rank, k).sum())

    def compute(self) -> Dict[str, float]:
        if self.count == 0:
            raise ValueError("No samples were ranked")
        return {key: value / self.count for key, value in self.sums.items()}


class ListMetrics:
    r"""Accumulates what the top-:obj:`K` lists recommend, beyond accuracy,
    as session-rec measures it (Ludewig et al., 2021):

    - :obj:`Coverage@K`: the share of all items that appear in at least one
      list;
    - :obj:`Popularity@K`: the mean over lists of the mean popularity of
      their items, each item's count in the training data divided by the
      largest count (1 for the most popular item).

    Args:
        ks (iterable of int): The cut-offs :obj:`K`.
        popularity (torch.Tensor): The training count of every item,
            :obj:`[num_items + 1]` (index :obj:`i` for item :obj:`i`).
    """
    def __init__(self, ks: Iterable[int], popularity: Tensor):
        self.ks = sorted(set(ks))
        self.popularity = popularity[1:].double() / popularity[1:].max().clamp(
            min=1)  # [num_items]
        self.seen = {k: torch.zeros(self.popularity.numel(), dtype=torch.bool)
                     for k in self.ks}
        self.popularity_sum = {k: 0.0 for k in self.ks}
        self.count = 0

    def update(self, scores: Tensor) -> None:
        r"""Adds the top-:obj:`K` lists of :obj:`scores`,
        :obj:`[B, num_items]`."""
        self.update_lists(scores.topk(self.ks[-1], dim=1).indices)

    def update_lists(self, top: Tensor) -> None:
        r"""Adds top lists already taken: item columns, best first,
        :obj:`[B, K]` with :obj:`K` at least the largest cut-off."""
        top = top.cpu()
        self.count += top.size(0)
        for k in self.ks:
            columns = top[:, :k]
            self.seen[k][columns.reshape(-1)] = True
            self.popularity_sum[k] += float(
                self.popularity[columns].mean(dim=1).sum())

    def compute(self) -> Dict[str, float]:
        if self.count == 0:
            raise ValueError("No lists were recommended")
        out = {}
        for k in self.ks:
            out[f'Coverage@{k}'] = float(self.seen[k].float().mean())
            out[f'Popularity@{k}'] = self.popularity_sum[k] / self.count
        return out


# Sessions of at most this many clicks are 'short' in the metrics split by
# length (where GNNs are said to struggle).
SHORT_SESSION = 3


def split_by_length(metrics: Dict[str, RankingMetrics], rank: Tensor,
                    length: Tensor) -> None:
    r"""Adds :obj:`rank` to :obj:`metrics['short']` for the samples whose
    prefix has at most :data:`SHORT_SESSION` clicks, and to
    :obj:`metrics['long']` for the others."""
    short = length <= SHORT_SESSION
    for name, mask in (('short', short), ('long', ~short)):
        if bool(mask.any()):
            metrics[name].update(rank[mask])
