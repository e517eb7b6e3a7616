r"""Negative samplers of sampled softmax (:class:`~pyg_srgnn.loss.
SampledSoftmaxLoss`): each draws the negatives one batch shares and says
how often a sampler like it is expected to draw every item, the
:math:`Q` of the logQ correction (Jean et al., 2015; Yi et al., 2019)."""
import math
from abc import ABC, abstractmethod
from typing import Optional

import torch
from torch import Tensor

SAMPLERS = ('uniform', 'popularity', 'in-batch')


class NegativeSampler(ABC):
    r"""Draws negatives for a batch and gives :math:`\log Q(i)`, the log of
    the expected number of times the draw holds item :math:`i`.
    :obj:`in_batch`: the batch's other targets are its negatives."""
    in_batch: bool = False

    @abstractmethod
    def sample(self, target: Tensor) -> Tensor:
        r"""The item ids of the negatives shared by a batch whose targets
        are :obj:`target` (ids, :obj:`[B]`), beyond those targets."""

    @abstractmethod
    def log_q(self, items: Tensor, batch_size: int) -> Tensor:
        r""":math:`\log Q` of :obj:`items` (ids) for a batch of
        :obj:`batch_size` samples."""


class UniformSampler(NegativeSampler):
    r""":obj:`num_negatives` items drawn uniformly, with replacement."""

    def __init__(self, num_items: int, num_negatives: int,
                 generator: Optional[torch.Generator] = None):
        self.num_items, self.num_negatives = num_items, num_negatives
        self.generator = generator

    def sample(self, target: Tensor) -> Tensor:
        return torch.randint(1, self.num_items + 1, (self.num_negatives, ),
                             generator=self.generator, device='cpu').to(
                                 target.device)

    def log_q(self, items: Tensor, batch_size: int) -> Tensor:
        return torch.full(items.shape,
                          math.log(self.num_negatives / self.num_items),
                          device=items.device)


class PopularitySampler(NegativeSampler):
    r""":obj:`num_negatives` items drawn with replacement, each with a
    probability proportional to its training clicks plus one (so that
    every item can be drawn), by a binary search of the cumulative
    distribution: :math:`O(K \log N)` per batch at any catalogue size."""

    def __init__(self, popularity: Tensor, num_negatives: int,
                 generator: Optional[torch.Generator] = None):
        # popularity: [num_items + 1], index 0 unused.
        weight = popularity[1:].double() + 1
        self.prob = weight / weight.sum()
        self.cdf = torch.cumsum(self.prob, 0)
        self.cdf[-1] = 1.0
        self.num_negatives, self.generator = num_negatives, generator

    def sample(self, target: Tensor) -> Tensor:
        u = torch.rand(self.num_negatives, generator=self.generator,
                       dtype=torch.float64)
        index = torch.searchsorted(self.cdf, u, right=True)
        return (index.clamp_max(self.cdf.numel() - 1) + 1).to(target.device)

    def log_q(self, items: Tensor, batch_size: int) -> Tensor:
        prob = self.prob.to(items.device)[items - 1]
        return torch.log(self.num_negatives * prob).float()


class InBatchSampler(NegativeSampler):
    r"""The batch's own targets as its negatives; an item is drawn as often
    as it is a training target, so :math:`Q(i) = B\,p(i)` with :math:`p`
    the items' share of the training targets."""
    in_batch = True

    def __init__(self, target_counts: Tensor):
        # target_counts: [num_items + 1], index 0 unused; unseen items
        # never come up as a target, a floor of one keeps the log finite.
        counts = target_counts.double().clamp_min(1)
        self.prob = counts / target_counts.sum().clamp_min(1)

    def sample(self, target: Tensor) -> Tensor:
        return target.new_empty(0)

    def log_q(self, items: Tensor, batch_size: int) -> Tensor:
        prob = self.prob.to(items.device)[items]
        return torch.log(batch_size * prob).float()


def make_sampler(name: str, num_items: int, num_negatives: int,
                 popularity: Tensor, target_counts: Tensor,
                 generator: Optional[torch.Generator] = None
                 ) -> NegativeSampler:
    r"""The sampler called :obj:`name` (:data:`SAMPLERS`) for training data
    whose items were clicked :obj:`popularity` times and were targets
    :obj:`target_counts` times (both :obj:`[num_items + 1]`)."""
    if name == 'uniform':
        return UniformSampler(num_items, num_negatives, generator)
    if name == 'popularity':
        return PopularitySampler(popularity, num_negatives, generator)
    if name == 'in-batch':
        return InBatchSampler(target_counts)
    raise ValueError(f"Unknown sampler {name!r} (expected one of "
                     f"{', '.join(SAMPLERS)})")
