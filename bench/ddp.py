"""Data-parallel training on one 2-core machine: throughput and the
all-reduce's share of a step.

    python -m bench.ddp            # bench/results/ddp.json
    python -m bench.ddp --quick    # one JSON line

SR-GNN on Diginetica as `pyg-srgnn fit` trains it (global batch 100, d 100,
Adam, the fused kernel where it builds), the same global batches drawn by
`ShardedBatchSampler`:

- one process with 2 threads (`fit`);
- 2 processes with 1 thread each (`fit --nproc 2 --num-threads 1`), gloo
  over localhost, each rank stepping on its half of every global batch
  through DistributedDataParallel; in interleaved rounds, the same steps
  under `no_sync()` (no all-reduce), so that the all-reduce's share of a
  step is measured side by side: 1 - no_sync / synced.

Medians over rounds of the mean step time; throughput in training samples
per second. Both with the full softmax (the item table's gradient is dense:
17 MB to all-reduce every step) and with sampled softmax (`--loss sampled`,
K = 8,192 by popularity: sparse rows of the table, a lazy Adam step). Every
process keeps freed memory, as `fit` does.
"""
import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict

import click
import numpy as np
import torch

from bench.common import RESULTS_DIR, machine, use_shared_data, write_json
from bench.speed import interleaved

BATCH_SIZE = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def stepper(rank: int, world: int, threads: int, seed: int, loss: str,
            dataset: str = 'diginetica'):
    r"""A training step function of this rank (its share of the next global
    batch, through DDP when :obj:`world` > 1) and the DDP module (or
    :obj:`None`); :obj:`loss`: :obj:`'full'` or :obj:`'sampled'`."""
    from pyg_srgnn import distributed
    from pyg_srgnn.allocator import keep_freed_memory
    from pyg_srgnn.data import SessionLoader
    from pyg_srgnn.data.registry import load_dataset
    from pyg_srgnn.loss import SampledSoftmaxLoss
    from pyg_srgnn.nn import SRGNN
    from pyg_srgnn.optim import LazyAdam
    from pyg_srgnn.popularity import item_popularity, session_popularity
    from pyg_srgnn.sampling import make_sampler
    from pyg_srgnn.train import prepare_fused_kernel, train_step

    keep_freed_memory()
    torch.set_num_threads(threads)
    train_set = load_dataset(dataset, None, 'train')
    num_samples = train_set.sample_tensors()[2].numel()
    generator = torch.Generator().manual_seed(seed)
    if world == 1:
        loader = SessionLoader(train_set, batch_size=BATCH_SIZE, shuffle=True,
                               generator=generator)
    else:
        loader = SessionLoader(
            train_set, generator=generator,
            batch_sampler=distributed.ShardedBatchSampler(
                num_samples, BATCH_SIZE, generator, rank, world))
    torch.manual_seed(seed)
    model = SRGNN(train_set.num_items, 100, fused=True)
    prepare_fused_kernel(model, lambda message: None)
    if loss == 'sampled':
        targets = train_set.sample_tensors()[2]
        loss_fn = SampledSoftmaxLoss(make_sampler(
            'popularity', train_set.num_items, 8192,
            session_popularity(train_set),
            item_popularity(targets, train_set.num_items),
            torch.Generator().manual_seed(seed)))
        optimizer = LazyAdam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    else:
        loss_fn = None
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3,
                                     weight_decay=1e-5, fused=True)
    if world > 1:
        loss_fn = distributed.data_parallel(model, loss_fn,
                                            torch.device('cpu'))
    batches = iter(loader)

    def step() -> None:
        nonlocal batches
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        train_step(model, optimizer, batch, loss_fn)

    return step, getattr(loss_fn, 'ddp', None)


def worker(rank: int, world: int, port: int, rounds: int, steps: int,
           loss: str, out_dir: str, dataset: str) -> None:
    import torch.distributed as dist

    from pyg_srgnn import distributed
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), WORLD_SIZE=str(world))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    step, ddp = stepper(rank, world, threads=1, seed=0, loss=loss,
                        dataset=dataset)

    def unsynced() -> None:
        with ddp.no_sync():
            step()

    # Ranks take each call together (a synced step waits for the other).
    times = interleaved({'synced': step, 'no_sync': unsynced},
                        repeats=rounds, warmup=2, steps=steps)
    distributed.teardown()
    Path(out_dir, f'rank{rank}.json').write_text(json.dumps(times))


def summary(times: Dict[str, Any]) -> Dict[str, float]:
    return {name: round(float(np.median(t)), 2) for name, t in times.items()}


def measure(loss: str, rounds: int, steps: int,
            dataset: str = 'diginetica') -> Dict[str, Any]:
    r"""1 x 2 threads, then 2 processes x 1 thread, with :obj:`loss`."""
    import torch.multiprocessing as mp
    step, _ = stepper(0, 1, threads=2, seed=0, loss=loss, dataset=dataset)
    one = interleaved({'step': step}, repeats=rounds, warmup=2, steps=steps)
    del step
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(worker, args=(2, free_port(), rounds, steps, loss, tmp,
                               dataset), nprocs=2)
        ranks = [json.loads(Path(tmp, f'rank{r}.json').read_text())
                 for r in range(2)]
    one_ms = float(np.median(one['step']))
    # A synced step ends when both ranks' all-reduce does: the slower rank
    # of each round.
    synced = np.maximum(*(np.array(r['synced']) for r in ranks))
    no_sync = np.maximum(*(np.array(r['no_sync']) for r in ranks))
    two_ms = float(np.median(synced))
    return {
        'one_process_two_threads': {
            'step_ms': round(one_ms, 2),
            'samples_per_s': round(1000 * BATCH_SIZE / one_ms)},
        'two_processes_one_thread': {
            'step_ms': round(two_ms, 2),
            'samples_per_s': round(1000 * BATCH_SIZE / two_ms),
            'no_sync_step_ms': round(float(np.median(no_sync)), 2),
            'allreduce_share': round(float(np.median(1 - no_sync / synced)),
                                     3),
            'ranks': [summary(r) for r in ranks]},
        'two_over_one_throughput': round(one_ms / two_ms, 3),
        'raw_ms': {'one_process_two_threads': one['step'],
                   'two_processes_one_thread': ranks},
    }


@click.command()
@click.option('--quick', is_flag=True, help='Few rounds, one JSON line.')
@click.option('--rounds', default=20, show_default=True)
@click.option('--steps', default=16, show_default=True,
              help='Steps per round of each case.')
@click.option('--dataset', default='diginetica', show_default=True,
              help='A registered data set (diginetica-sample: a quick '
              'check that it runs).')
@click.option('--out', 'out_path', default=None,
              help='Result file (default: bench/results/ddp.json).')
def main(quick, rounds, steps, dataset, out_path):
    use_shared_data()
    started_on = machine()
    if quick:
        rounds, steps = 3, 8
    out = {loss: measure(loss, rounds, steps, dataset)
           for loss in ('full', 'sampled')}
    raw = {loss: result.pop('raw_ms') for loss, result in out.items()}
    if quick:
        print(json.dumps(out))
        return
    out.update({
        'setup': {'dataset': dataset, 'global_batch_size': BATCH_SIZE,
                  'hidden_channels': 100, 'rounds': rounds,
                  'steps_per_round': steps, 'backend': 'gloo',
                  'sampled': {'num_negatives': 8192,
                              'sampler': 'popularity'}},
        'machine': started_on,
        'command': 'python -m bench.ddp ' + ' '.join(sys.argv[1:]),
        'raw_ms': raw})
    write_json(Path(out_path) if out_path else RESULTS_DIR / 'ddp.json', out)
    print(json.dumps({k: v for k, v in out.items() if k != 'raw_ms'},
                     indent=2))


if __name__ == '__main__':
    main()
