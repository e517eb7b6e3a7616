r"""Data-parallel training on :mod:`torch.distributed`: the process group
that :obj:`torchrun` (or :obj:`pyg-srgnn fit --nproc N`) sets up, each
rank's shard of every epoch and of the evaluation samples, and the exact
gathering of the evaluation's ranks."""
import gc
import math
import os
from typing import Any, Callable, Dict, Iterator, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from pyg_srgnn.loss import full_softmax_loss


def launched() -> bool:
    r"""Whether this process is one of several that a launcher started
    (:obj:`torchrun` sets :obj:`WORLD_SIZE`)."""
    return int(os.environ.get('WORLD_SIZE', '1')) > 1


def setup(device: torch.device) -> torch.device:
    r"""Joins the process group of a launched run (gloo on CPU, NCCL on
    CUDA, each rank on its local GPU) and returns the device to train on."""
    if not launched() or dist.is_initialized():
        return device
    if device.type == 'cuda':
        device = torch.device('cuda', int(os.environ.get('LOCAL_RANK', 0)))
        torch.cuda.set_device(device)
    dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo')
    return device


def teardown() -> None:
    r"""Leaves the process group once every rank is done with it (a rank
    that closed it early could leave another's last collective waiting).

    The :class:`~torch.nn.parallel.DistributedDataParallel` wrappers of
    :func:`data_parallel` go first: each holds the process group, and were
    one the group's last holder, its destructor would join gloo's worker
    threads while holding the GIL, which a worker freeing a finished
    collective's tensors needs (a deadlock seen once in about 20 runs with
    sampled softmax). Freed here, the group's own Python object is its last
    holder, and that one releases the GIL as it closes."""
    while _wrappers:
        _wrappers.pop().close()
    gc.collect()  # the wrappers' reference cycles, if any
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank() -> int:
    r"""This process's rank: the process group's, else the launcher's
    (:obj:`RANK`, e.g. once the group is closed), else 0."""
    if dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get('RANK', '0'))


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    r"""Whether this process writes the run's logs, checkpoints and
    progress (rank 0, or the only process)."""
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def broadcast(value: Any) -> Any:
    r"""Rank 0's :obj:`value` (a picklable object) on every rank."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(value: Any) -> List[Any]:
    r"""Every rank's :obj:`value` (a picklable object), in rank order, on
    every rank."""
    if world_size() == 1:
        return [value]
    values: List[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


class NoLog:
    r"""The run log of ranks other than 0, which write nothing."""
    def append(self, record: Dict[str, Any]) -> None:
        pass

    def close(self) -> None:
        pass


class _Loss(torch.nn.Module):
    def __init__(self, model: torch.nn.Module, loss_fn: Optional[Callable]):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch) -> Tensor:
        if self.loss_fn is None:
            return full_softmax_loss(self.model.forward_batch(batch),
                                     batch.y)
        return self.loss_fn(self.model, batch)


def data_parallel(model: torch.nn.Module, loss_fn: Optional[Callable],
                  device: torch.device) -> Callable:
    r"""A training loss (as :func:`pyg_srgnn.train.train_step` takes it)
    computed through :class:`~torch.nn.parallel.DistributedDataParallel`
    around :obj:`model`: the backward pass averages the ranks' gradients
    (all-reduce), so every rank takes the same step. :obj:`loss_fn`:
    :obj:`None` for the full softmax."""
    # DDP reduces a parameter's gradient as sparse where the module that
    # holds it is a sparse embedding, as sampled softmax makes the item
    # table's; the flag is read here only (the models look items up with
    # F.embedding and an explicit sparse flag).
    table = getattr(model, 'embedding', None)
    sparse = getattr(loss_fn, 'sparse_grad', False) and isinstance(
        table, torch.nn.Embedding)
    if sparse:
        table.sparse = True
    ddp = DistributedDataParallel(
        _Loss(model, loss_fn),
        device_ids=[device] if device.type == 'cuda' else None)
    if sparse:
        table.sparse = False
    loss = DataParallelLoss(ddp)
    _wrappers.append(loss)
    return loss


class DataParallelLoss:
    r"""The loss of :func:`data_parallel`: calls its
    :class:`~torch.nn.parallel.DistributedDataParallel` module until
    :meth:`close` (which :func:`teardown` calls) lets it go."""
    def __init__(self, ddp: DistributedDataParallel):
        self.ddp: Optional[DistributedDataParallel] = ddp

    def __call__(self, model: torch.nn.Module, batch) -> Tensor:
        if self.ddp is None:
            raise RuntimeError('the process group of this loss is closed')
        return self.ddp(batch)

    def close(self) -> None:
        self.ddp = None


# The open losses of data_parallel, which teardown closes.
_wrappers: List[DataParallelLoss] = []


class ShardedBatchSampler(torch.utils.data.Sampler):
    r"""Every rank's share of the same shuffled global batches: the order
    of an epoch is drawn from :obj:`generator` (seeded alike on every rank),
    cut into batches of :obj:`batch_size`, and rank :obj:`r` of :obj:`w`
    takes the :obj:`r`-th of :obj:`w` near-equal parts of each, so that the
    ranks train on disjoint samples and take the same number of steps. A
    last global batch of fewer than :obj:`w` samples is dropped.

    Args:
        num_samples (int): Positions :obj:`0 .. num_samples - 1`.
        batch_size (int): The global batch size.
        generator (torch.Generator): Draws each epoch's order.
        rank (int): This rank.
        world_size (int): The number of ranks.
    """
    def __init__(self, num_samples: int, batch_size: int,
                 generator: torch.Generator, rank: int, world_size: int):
        self.num_samples, self.batch_size = num_samples, batch_size
        self.generator, self.rank, self.world = generator, rank, world_size

    def __len__(self) -> int:
        full, last = divmod(self.num_samples, self.batch_size)
        return full + int(last >= self.world)

    def __iter__(self) -> Iterator[List[int]]:
        order = torch.randperm(self.num_samples,
                               generator=self.generator).numpy()
        for start in range(0, self.num_samples, self.batch_size):
            batch = order[start:start + self.batch_size]
            if len(batch) < self.world:
                return
            yield np.array_split(batch, self.world)[self.rank].tolist()


def shard(num_samples: int) -> Tensor:
    r"""This rank's contiguous share of :obj:`num_samples` positions (all of
    them in a single process)."""
    per_rank = math.ceil(num_samples / world_size())
    start = min(rank() * per_rank, num_samples)
    return torch.arange(start, min(start + per_rank, num_samples))


def gather_shards(tensor: Tensor) -> Tensor:
    r"""The ranks' :obj:`tensor` (their shards' rows) concatenated in rank
    order: with :func:`shard`, the rows of all samples in their order."""
    if world_size() == 1:
        return tensor
    # NCCL gathers GPU tensors only.
    device = (torch.device('cuda', torch.cuda.current_device())
              if dist.get_backend() == 'nccl' else torch.device('cpu'))
    sizes = [torch.zeros(1, dtype=torch.long, device=device)
             for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([tensor.size(0)], device=device))
    largest = max(int(s) for s in sizes)
    padded = tensor.new_zeros((largest, *tensor.shape[1:]), device=device)
    padded[:tensor.size(0)] = tensor
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([part[:int(size)].cpu()
                      for part, size in zip(parts, sizes)])


def mean_over_ranks(value: float, weight: Optional[int] = None) -> float:
    r"""The mean of :obj:`value` over the ranks, weighted by
    :obj:`weight` (e.g. each rank's number of samples)."""
    if world_size() == 1:
        return value
    weight = 1 if weight is None else weight
    device = (torch.device('cuda', torch.cuda.current_device())
              if dist.get_backend() == 'nccl' else torch.device('cpu'))
    total = torch.tensor([value * weight, weight], dtype=torch.float64,
                         device=device)
    dist.all_reduce(total)
    return float(total[0] / total[1])
