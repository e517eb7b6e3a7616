r"""What the non-neural baselines share: statistics gathered by :meth:`fit`
from the training sessions and kept as buffers, one session view of a
batch, and one rule for ties."""
from abc import ABCMeta, abstractmethod
from typing import NamedTuple, Optional, Tuple

import torch
from torch import Tensor

from pyg_srgnn.data.sequences import training_sessions
from pyg_srgnn.nn.session_model import SessionModel
from pyg_srgnn.popularity import item_popularity, popularity_rank

# Tie-breaking keys take at most this many of the 29 bits of a float64
# mantissa beyond float32's (see `break_ties`).
TIE_BITS = 28


class Baseline(SessionModel, metaclass=ABCMeta):
    r"""Base class of the baselines: models whose scores come from
    statistics of the training sessions (counts, co-occurrences, the
    sessions themselves) rather than from trained parameters.

    :meth:`fit` rebuilds the training sessions from a
    :class:`~pyg_srgnn.data.SessionDataset` (:func:`training_sessions`) and
    hands them to :meth:`fit_sessions`, which subclasses extend. The
    statistics are registered buffers of plain tensors, so
    :meth:`state_dict` goes through :obj:`torch.save` and
    :obj:`torch.load(..., weights_only=True)`, and
    :meth:`load_state_dict` restores them into a fresh model built with the
    same arguments (their sizes are taken from the stored tensors).

    Every baseline keeps the click count of every item
    (:obj:`popularity`, :obj:`[num_items + 1]`, index :obj:`0` unused) and
    breaks ties of its scores by it (:func:`break_ties`), so that its
    ranking of all items is one fixed order: where session-rec's sort
    leaves tied items in an arbitrary order, the full-ranking metrics of
    :mod:`pyg_srgnn.metrics` would count a tied target as ahead of every
    item it ties with.

    Subclasses implement :meth:`item_scores`.
    """
    neural = False

    def __init__(self, num_items: int):
        super().__init__(num_items)
        self.register_buffer('popularity',
                             torch.zeros(num_items + 1, dtype=torch.long))
        self.register_buffer('num_sessions', torch.zeros((),
                                                         dtype=torch.long))

    @torch.no_grad()
    def fit(self, train_set, index: Optional[Tensor] = None) -> 'Baseline':
        r"""Gathers the statistics of the training sessions of
        :obj:`train_set`; returns the model.

        Args:
            train_set (SessionDataset): The training samples.
            index (torch.Tensor, optional): Positions in :obj:`train_set` of
                the samples to use (the clean protocol's training part).
                (default: all)
        """
        return self.fit_sessions(*training_sessions(train_set, index))

    @torch.no_grad()
    def fit_sessions(self, clicks: Tensor, ptr: Tensor) -> 'Baseline':
        r"""Gathers the statistics of the sessions :obj:`clicks` (item ids,
        concatenated) with offsets :obj:`ptr`, in time order (the last
        session is the most recent); returns the model."""
        clicks = clicks.to(self.device, torch.long)
        ptr = ptr.to(self.device, torch.long)
        if clicks.numel() > 0:
            low, high = int(clicks.min()), int(clicks.max())
            if low < 1 or high > self.num_items:
                raise ValueError(
                    f"The training sessions hold item ids from {low} to "
                    f"{high}, outside the model's items 1..{self.num_items}; "
                    f"build the model with the data set's num_items")
        self.popularity = item_popularity(clicks, self.num_items)
        self.num_sessions = torch.tensor(ptr.numel() - 1,
                                         device=self.device)
        return self

    def forward_batch(self, data) -> Tensor:
        r"""The score of every item for every session of :obj:`data`,
        :obj:`[B, num_items]` (:obj:`float64`): :meth:`item_scores` with
        ties broken by popularity (:func:`break_ties`)."""
        if int(self.num_sessions) == 0:
            raise ValueError(f"{self.__class__.__name__} has no statistics; "
                             f"call fit(train_set) first")
        return break_ties(self.item_scores(session_nodes(data)),
                          self.popularity)

    @abstractmethod
    def item_scores(self, nodes: 'SessionNodes') -> Tensor:
        r"""The model's own scores, :obj:`[B, num_items]` (:obj:`float32`,
        not negative), of the sessions described by :obj:`nodes`."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The statistics' sizes depend on the training data: a fresh model
        # takes the stored sizes before the values are copied in.
        for name, buffer in self._buffers.items():
            stored = state_dict.get(prefix + name)
            if (buffer is not None and isinstance(stored, Tensor)
                    and stored.shape != buffer.shape):
                self._buffers[name] = buffer.new_empty(stored.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __repr__(self) -> str:
        args = ''.join(f', {name}={value!r}'
                       for name, value in self.hyperparameters().items())
        return f'{self.__class__.__name__}(num_items={self.num_items}{args})'

    def hyperparameters(self) -> dict:
        r"""The constructor arguments beyond :obj:`num_items`."""
        return {}


class SessionNodes(NamedTuple):
    r"""A batch seen by its sessions' distinct items (the nodes of the
    session graphs)."""
    item: Tensor  # [num_nodes] item id of every node
    batch: Tensor  # [num_nodes] session of every node
    count: Tensor  # [num_nodes] clicks on the node's item in its session
    last_position: Tensor  # [num_nodes] 1-based position of its last click
    length: Tensor  # [B] clicks of every session
    last_item: Tensor  # [B] item of every session's last click

    @property
    def num_sessions(self) -> int:
        return self.length.numel()


def session_nodes(data) -> SessionNodes:
    r"""The :class:`SessionNodes` of a batch built by
    :class:`~pyg_srgnn.data.SessionLoader` or
    :func:`~pyg_srgnn.data.session_graph_batch`."""
    num_nodes, num_sessions = data.x.numel(), data.last_index.numel()
    alias = data.alias_index
    click_batch = data.batch[alias]
    length = torch.bincount(click_batch, minlength=num_sessions)
    first_click = torch.cumsum(length, 0) - length
    position = (torch.arange(alias.numel(), device=alias.device) -
                first_click[click_batch] + 1)
    last_position = torch.zeros(num_nodes, dtype=torch.long,
                                device=alias.device)
    last_position.scatter_reduce_(0, alias, position, 'amax')
    return SessionNodes(data.x, data.batch,
                        torch.bincount(alias, minlength=num_nodes),
                        last_position, length, data.x[data.last_index])


def break_ties(scores: Tensor, popularity: Tensor) -> Tensor:
    r"""Returns :obj:`scores` (:obj:`[B, num_items]`, not negative) in
    :obj:`float64`, each raised by less than one :obj:`float32` step by a
    key that follows POP's order
    (:func:`~pyg_srgnn.popularity.popularity_rank`: more clicks first, then
    the lower id): items of different
    :obj:`float32` scores keep their order, and items of equal scores are
    ordered as POP orders them, so that no two items of a row are equal.

    The key is written into the low bits of the :obj:`float64` mantissa,
    the 29 bits that :obj:`float64` holds beyond :obj:`float32`'s, which
    are zero in a :obj:`float32` value: exact, and one pass over the
    scores. Scores below the smallest normal :obj:`float32` (zero) are
    raised to it first, so that no result is subnormal (a processor that
    treats subnormals as zero would tie them again).
    """
    num_items = scores.size(-1)
    if num_items >= 2**TIE_BITS:
        raise ValueError(f"Ties are broken for fewer than {2**TIE_BITS} "
                         f"items (got {num_items})")
    rank = popularity_rank(popularity.cpu()).to(scores.device)
    key = num_items - rank  # [num_items], below 2**28
    low = torch.finfo(torch.float32).tiny
    scores = scores.float().clamp_min(low).double()  # [B, num_items]
    return scores.view(torch.int64).bitwise_or_(key).view(torch.float64)


def expand_runs(start: Tensor, length: Tensor) -> Tuple[Tensor, Tensor]:
    r"""The positions :obj:`start[i] .. start[i] + length[i] - 1` of every
    run :obj:`i`, concatenated, and the run of each position."""
    owner = torch.repeat_interleave(
        torch.arange(length.numel(), device=length.device), length)
    run_start = torch.cumsum(length, 0) - length
    positions = (torch.arange(owner.numel(), device=length.device) -
                 run_start[owner] + start[owner])
    return positions, owner
