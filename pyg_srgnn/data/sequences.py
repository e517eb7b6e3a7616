"""Flat storage of variable-length integer sequences (values + offsets),
sessions turned into prefix-augmented samples and back."""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor


class Sequences(NamedTuple):
    r"""Variable-length integer sequences stored flat, the way PyG stores a
    collated attribute: sequence :obj:`i` is
    :obj:`values[ptr[i]:ptr[i + 1]]`.

    Holding a data set as two arrays instead of one Python list per session
    keeps the 719,470 Diginetica training samples in a few tens of megabytes.

    Args:
        values (numpy.ndarray): All sequences concatenated, :obj:`int64`.
        ptr (numpy.ndarray): Offsets of shape :obj:`[num_sequences + 1]`,
            starting at :obj:`0`.
    """
    values: np.ndarray
    ptr: np.ndarray

    @classmethod
    def from_lists(cls, seqs: Sequence[Sequence[int]]) -> 'Sequences':
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64,
                              count=len(seqs))
        ptr = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        values = np.fromiter((v for s in seqs for v in s), dtype=np.int64,
                             count=int(ptr[-1]))
        return cls(values, ptr)

    def tolist(self) -> List[List[int]]:
        values = self.values.tolist()
        ptr = self.ptr.tolist()
        return [values[a:b] for a, b in zip(ptr[:-1], ptr[1:])]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.ptr)

    def __len__(self) -> int:  # the number of sequences, not of values
        return len(self.ptr) - 1

    def select(self, index: np.ndarray) -> 'Sequences':
        r"""Returns the sequences at positions :obj:`index`, in that order
        (a view of :obj:`values` where :obj:`index` is a range)."""
        index = np.asarray(index, dtype=np.int64)
        if len(index) > 0 and index[-1] - index[0] == len(index) - 1 and (
                np.diff(index) == 1).all():
            start, stop = self.ptr[index[0]], self.ptr[index[-1] + 1]
            return Sequences(self.values[start:stop],
                             self.ptr[index[0]:index[-1] + 2] - start)
        positions, ptr = gather_positions(self.ptr, index)
        return Sequences(self.values[positions], ptr)


def gather_positions(ptr: np.ndarray,
                     index: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    r"""For sequences stored flat with offsets :obj:`ptr`, returns the
    positions of the values of the sequences at :obj:`index` (concatenated,
    in that order) and the offsets of the result. Costs O(output), not
    O(number of sequences)."""
    index = np.asarray(index, dtype=np.int64)
    start = ptr[index]
    return ragged_positions(start, ptr[index + 1] - start)


def ragged_positions(start: np.ndarray,
                     lengths: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    r"""Returns the positions :obj:`start[i] .. start[i] + lengths[i] - 1` of
    every run :obj:`i`, concatenated in that order, and the offsets of the
    runs in the result."""
    out_ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out_ptr[1:])
    # Steps of 1 inside a run and a jump to the next run's start, summed in
    # place: no temporary as long as the result.
    positions = np.ones(out_ptr[-1], dtype=np.int64)
    nonempty = lengths > 0
    start, at, lengths = (start[nonempty], out_ptr[:-1][nonempty],
                          lengths[nonempty])
    if len(start) > 0:
        jump = start.astype(np.int64)  # a copy
        jump[1:] -= start[:-1] + lengths[:-1] - 1
        positions[at] = jump
        np.cumsum(positions, out=positions)
    return positions, out_ptr


def prefix_augment(
        seqs: Sequences) -> Tuple[Sequences, np.ndarray, np.ndarray]:
    r"""The SR-GNN sample expansion: a session :obj:`[a, b, c, d]` gives the
    samples :obj:`([a, b, c], d)`, :obj:`([a, b], c)`, :obj:`([a], b)`, in that
    order, session after session.

    Returns:
        (prefixes, targets, session) where :obj:`session[j]` is the position in
        :obj:`seqs` of the session that sample :obj:`j` was cut from.
    """
    lengths = seqs.lengths
    num_samples = np.maximum(lengths - 1, 0)
    session = np.repeat(np.arange(len(seqs)), num_samples)
    # Rank of each sample inside its session: 0 for the longest prefix.
    first = np.repeat(np.cumsum(num_samples) - num_samples, num_samples)
    rank = np.arange(len(session)) - first
    prefix_length = lengths[session] - 1 - rank
    targets = seqs.values[seqs.ptr[session] + prefix_length]

    ptr = np.zeros(len(session) + 1, dtype=np.int64)
    np.cumsum(prefix_length, out=ptr[1:])
    starts = np.repeat(seqs.ptr[session] - ptr[:-1], prefix_length)
    prefixes = Sequences(seqs.values[starts + np.arange(ptr[-1])], ptr)
    return prefixes, targets, session


def sample_sessions(prefixes: Sequences, targets: np.ndarray) -> np.ndarray:
    r"""Recovers which samples were cut from the same session, for samples
    laid out as :func:`prefix_augment` writes them (the published
    :obj:`train.txt` / :obj:`test.txt`): sample :obj:`j` continues the
    session of sample :obj:`j - 1` if its prefix is that prefix minus its last
    click and its target is that last click.

    Returns:
        The session number of every sample, counting from :obj:`0`.
    """
    lengths = prefixes.lengths
    num = len(lengths)
    continues = np.zeros(num, dtype=bool)
    if num > 1:
        prev_last = prefixes.values[np.maximum(prefixes.ptr[1:] - 1, 0)]
        continues[1:] = ((lengths[1:] == lengths[:-1] - 1) &
                         (lengths[1:] > 0) &
                         (targets[1:] == prev_last[:-1]))
        # Compare the prefix of sample j with that of sample j - 1, value by
        # value, only where the cheap checks above passed.
        cand = np.flatnonzero(continues)
        if len(cand) > 0:
            cand_len = lengths[cand]
            mine = np.repeat(prefixes.ptr[cand], cand_len)
            theirs = np.repeat(prefixes.ptr[cand - 1], cand_len)
            offset = np.arange(cand_len.sum()) - np.repeat(
                np.cumsum(cand_len) - cand_len, cand_len)
            same = prefixes.values[mine + offset] == prefixes.values[theirs +
                                                                     offset]
            starts = np.cumsum(cand_len) - cand_len
            continues[cand] = np.logical_and.reduceat(same, starts)
    return np.cumsum(~continues) - 1


def training_sessions(train_set,
                      index: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    r"""Rebuilds the sessions of the samples of :obj:`train_set` (at
    positions :obj:`index`, or all), in time order, as :obj:`(clicks, ptr)`.

    A session is its longest prefix among the samples followed by that
    prefix's target: a prefix-augmented session of :obj:`n` clicks is whole
    again, and a session given by one sample is that sample's prefix and
    target. Sessions are ordered by :obj:`session` (time order).
    """
    clicks, ptr, y, session = (t.numpy() for t in train_set.sample_tensors())
    if index is not None:
        index = torch.as_tensor(index, dtype=torch.long).numpy()
        positions, ptr = gather_positions(ptr, index)
        clicks, y, session = clicks[positions], y[index], session[index]
    lengths = np.diff(ptr)
    # The longest prefix of each session: the last of its samples once they
    # are sorted by session, then by length.
    order = np.lexsort((lengths, session))
    is_last = np.append(session[order][1:] != session[order][:-1], True)
    longest = order[is_last[:len(order)]]
    positions, _ = gather_positions(ptr, longest)
    prefix_lengths = lengths[longest]
    out_ptr = np.zeros(len(longest) + 1, dtype=np.int64)
    np.cumsum(prefix_lengths + 1, out=out_ptr[1:])
    out = np.empty(int(out_ptr[-1]), dtype=np.int64)
    target_at = out_ptr[1:] - 1
    is_target = np.zeros(len(out), dtype=bool)
    is_target[target_at] = True
    out[~is_target] = clicks[positions]
    out[target_at] = y[longest]
    return torch.from_numpy(out), torch.from_numpy(out_ptr)
