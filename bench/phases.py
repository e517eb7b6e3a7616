"""Where our training step's extra time over the floor goes, phase by phase,
on Diginetica shapes (as bench/speed.py), 2 threads, freed memory kept by
malloc so that neither side pays page faults, the session embedding
running as the fused kernel where it builds, as in `pyg-srgnn fit`:

- each phase of our step (drawing the batch, zero_grad, session embedding,
  scores, loss, backward, optimizer step) and of the floor step, timed
  inside 16-step rounds of whole steps, the two interleaved (medians, but
  the mean for drawing the batch, as one step in 16 gathers for all 16);
- the session embedding's forward and backward alone, 16 stored batches
  back to back (warm caches).

The in-step session embedding minus the warm one is what running it inside a
training step, between the optimizer steps that stream the item table and
its Adam state through the caches, adds.

    python -m bench.phases   # writes bench/results/phases.json
"""
import json
import time
from pathlib import Path
from typing import Dict, List

import click
import numpy as np
import torch
import torch.nn.functional as F

from bench.common import (
    RESULTS_DIR,
    machine,
    use_shared_data,
    write_json,
)
from bench.speed import embed, endless, floor_tensors
from pyg_srgnn.allocator import keep_freed_memory
from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.loader import GATHER_BATCHES
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.loss import full_softmax_loss
from pyg_srgnn.nn import SRGNN, fused
from pyg_srgnn.nn.session_model import ItemScores, LookupFirst


def median_ms(times: Dict[str, List[float]]) -> Dict[str, float]:
    return {name: round(1000 * float(np.median(t)), 3)
            for name, t in times.items()}


@click.command()
@click.option('--dataset', default='diginetica', show_default=True)
@click.option('--root', default=None, help='Data set directory.')
@click.option('--threads', default=2, show_default=True)
@click.option('--rounds', default=40, show_default=True)
@click.option('--seed', default=0, show_default=True)
@click.option('--out', default=str(RESULTS_DIR / 'phases.json'),
              show_default=True, help='Where to write the result file.')
def main(dataset, root, threads, rounds, seed, out):
    if not keep_freed_memory():
        raise click.UsageError('bench.phases needs glibc (malloc settings)')
    use_shared_data()
    torch.set_num_threads(threads)
    # Before the run: the commit of the code that runs, not of a later
    # checkout.
    started_on = machine()
    torch.manual_seed(seed)
    train_set = load_dataset(dataset, root, 'train')
    num_items, batch_size, steps = train_set.num_items, 100, GATHER_BATCHES

    loader = SessionLoader(train_set, batch_size=batch_size, shuffle=True,
                           generator=torch.Generator().manual_seed(seed))
    batches = endless(loader)
    # The session embedding as fit runs it: the fused kernel where it builds.
    fused_kernel = fused.load_kernel() is not None
    model = SRGNN(num_items, fused=fused_kernel)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3,
                                 weight_decay=1e-5, fused=True)
    table, session, floor_optimizer = floor_tensors(model, batch_size)
    gen = np.random.default_rng(seed)

    # Our step is SRGNN.forward spelled out, so that its phases can be
    # timed; check that it scores the same.
    batch = next(iter(SessionLoader(train_set, batch_size=batch_size)))
    with torch.no_grad():
        spelled = ItemScores.apply(embed(model, batch),
                                    model.embedding.weight)
        if not torch.equal(spelled, model.forward_batch(batch)):
            raise AssertionError('the spelled-out step differs from forward')

    ours_t: Dict[str, List[float]] = {}
    floor_t: Dict[str, List[float]] = {}
    clock = time.perf_counter

    def record(times, marks, names):
        for name, start, end in zip(names, marks[:-1], marks[1:]):
            times.setdefault(name, []).append(end - start)
        times.setdefault('total', []).append(marks[-1] - marks[0])

    for round_ in range(rounds + 3):
        keep = round_ >= 3
        for _ in range(steps):
            m = [clock()]
            target = torch.from_numpy(gen.integers(0, num_items, batch_size))
            table.grad = None
            m.append(clock())
            scores = session @ table.t()
            m.append(clock())
            loss = F.cross_entropy(scores, target)
            m.append(clock())
            loss.backward()
            m.append(clock())
            floor_optimizer.step()
            m.append(clock())
            if keep:
                record(floor_t, m, ['zero_grad', 'scores', 'loss',
                                    'backward', 'step'])
        for _ in range(steps):
            m = [clock()]
            batch = next(batches)
            m.append(clock())
            optimizer.zero_grad()
            m.append(clock())
            weight = LookupFirst.apply(model.embedding.weight)
            embedded = embed(model, batch)
            m.append(clock())
            scores = ItemScores.apply(embedded, weight)
            m.append(clock())
            loss = full_softmax_loss(scores, batch.y)
            m.append(clock())
            loss.backward()
            m.append(clock())
            optimizer.step()
            m.append(clock())
            if keep:
                record(ours_t, m, ['batch', 'zero_grad', 'embedding',
                                   'scores', 'loss', 'backward', 'step'])

    # The session embedding alone, warm: the same stored batches back to
    # back, forward and backward timed apart.
    stored = [next(batches) for _ in range(steps)]
    warm_t: Dict[str, List[float]] = {}
    for round_ in range(max(rounds // 2, 1) + 3):
        for batch in stored:
            start = clock()
            embedded = embed(model, batch)
            mid = clock()
            embedded.sum().backward()
            end = clock()
            model.zero_grad()
            if round_ >= 3:
                warm_t.setdefault('forward', []).append(mid - start)
                warm_t.setdefault('backward', []).append(end - mid)

    ours, floor, warm = (median_ms(t) for t in (ours_t, floor_t, warm_t))
    # One step in 16 gathers the next 16 batches: the median would hide it.
    ours['batch'] = round(1000 * float(np.mean(ours_t['batch'])), 3)
    result = {
        'ours_ms': ours,
        'floor_ms': floor,
        'warm_embedding_ms': warm,
        # What our step adds per phase (medians of each phase).
        'extra_ms': {
            'batch': ours['batch'],
            'embedding_forward': ours['embedding'],
            'backward': round(ours['backward'] - floor['backward'], 3),
            'step': round(ours['step'] - floor['step'], 3),
            'scores_loss_zero_grad': round(
                ours['scores'] + ours['loss'] + ours['zero_grad'] -
                floor['scores'] - floor['loss'] - floor['zero_grad'], 3),
        },
        # The session embedding in the step over the same work warm: its
        # forward, and our backward's extra over the floor's minus its warm
        # backward.
        'in_step_over_warm_ms': {
            'forward': round(ours['embedding'] - warm['forward'], 3),
            'backward': round(ours['backward'] - floor['backward'] -
                              warm['backward'], 3),
        },
        'ratio_of_medians': round(ours['total'] / floor['total'], 3),
        'setup': {'dataset': dataset, 'batch_size': batch_size,
                  'rounds': rounds, 'steps_per_round': steps,
                  'threads': threads, 'keep_freed_memory': True,
                  'fused_kernel': fused_kernel},
        'machine': started_on,
    }
    write_json(Path(out), result)
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
