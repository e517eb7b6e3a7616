r"""The two evaluation protocols of :func:`pyg_srgnn.fit`, as small objects:
which samples train, which split chooses the epoch, when an epoch improves,
which model is kept and what is reported."""
import math
from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

# The result of every epoch on the selection split, by metric name.
Metrics = Dict[str, float]


def split_by_session(session: Tensor, valid_fraction: float,
                     generator: Optional[torch.Generator] = None):
    r"""Returns the positions of the training and validation samples when
    :obj:`valid_fraction` of the sessions become the validation split: the
    latest ones (sessions are numbered in time order), or random ones drawn
    with :obj:`generator` if one is given."""
    num_sessions = int(session.max()) + 1
    num_valid = max(1, math.ceil(valid_fraction * num_sessions))
    if num_valid >= num_sessions:
        raise ValueError(f"Cannot cut a validation split from "
                         f"{num_sessions} training session(s)")
    if generator is None:
        is_valid = session >= num_sessions - num_valid
    else:
        chosen = torch.zeros(num_sessions, dtype=torch.bool)
        chosen[torch.randperm(num_sessions, generator=generator)[:num_valid]] \
            = True
        is_valid = chosen[session]
    return (~is_valid).nonzero().view(-1), is_valid.nonzero().view(-1)


class Protocol(ABC):
    r"""How a run chooses its epoch and reports.

    :obj:`state` is the run's resumable record: :obj:`'best'` and
    :obj:`'best_epoch'` hold what :meth:`update` keeps.
    """
    name: str = ''
    # What the metrics of every epoch are called in the log.
    select_name: str = ''
    # Whether checkpoint.pt is written at every improvement (the model
    # chosen on validation) rather than copied from the last epoch.
    keeps_best: bool = False

    @abstractmethod
    def split(self, training, session: Tensor) -> Tuple[Optional[Tensor],
                                                      Optional[Tensor]]:
        r"""The positions of the training samples among all training samples
        (:obj:`None`: all), and those of the samples that choose the epoch
        (:obj:`None`: the test split). :obj:`session` holds the session of
        every training sample, in time order."""

    @abstractmethod
    def update(self, state: Dict[str, Any], metrics: Metrics, epoch: int,
               config) -> bool:
        r"""Records epoch :obj:`epoch`'s :obj:`metrics` in :obj:`state`;
        returns whether the epoch improved (which resets the patience)."""


class CleanProtocol(Protocol):
    r"""A validation split cut by session from the training data (the latest
    :obj:`valid_fraction` of sessions, or random ones) chooses the epoch by
    :obj:`training.monitor`; the test split is evaluated once, on the
    model kept."""
    name = 'clean'
    select_name = 'valid'
    keeps_best = True

    def split(self, training, session):
        generator = None
        if training.valid_split == 'random':
            generator = torch.Generator().manual_seed(training.seed)
        return split_by_session(session, training.valid_fraction,
                                generator)

    def update(self, state, metrics, epoch, training):
        improved = metrics[training.monitor] > state['best'].get(
            training.monitor, -1)
        if improved:
            state['best'] = dict(metrics)
            state['best_epoch'] = {training.monitor: epoch}
        return improved


class PaperProtocol(Protocol):
    r"""The official loop: the test split is evaluated after every epoch and
    the best value of each metric over epochs is reported, as behind the
    paper's table; the model kept is the last epoch's."""
    name = 'paper'
    select_name = 'test'

    def split(self, training, session):
        return None, None

    def update(self, state, metrics, epoch, training):
        # Official rule: the best of each metric over epochs; an epoch
        # counts as good if HR@K or MRR@K ties or beats its best so far.
        k = training.ks[-1]
        official = (f'HR@{k}', f'MRR@{k}')
        best, best_epoch = state['best'], state['best_epoch']
        improved = False
        for key, value in metrics.items():
            if value >= best.get(key, -1.0):
                best[key], best_epoch[key] = value, epoch
                improved |= key in official
        return improved


PROTOCOL_CLASSES = {cls.name: cls for cls in (CleanProtocol, PaperProtocol)}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOL_CLASSES:
        raise ValueError(f"Unknown protocol '{name}' (expected one of "
                         f"{', '.join(PROTOCOL_CLASSES)})")
    return PROTOCOL_CLASSES[name]()
