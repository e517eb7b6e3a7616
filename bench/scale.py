"""A million-item catalogue: full vs sampled softmax, evaluation and latency.

    python -m bench.scale            # writes bench/results/scale.json
    python -m bench.scale --quick    # < 3 minutes, prints one JSON line

Synthetic sessions over 10^6 items whose popularity follows a Zipf law
(generated here from the seed; nothing is stored), SR-GNN with d = 100 and
batches of 100, as `pyg-srgnn fit` trains (fused kernel where it builds).
Timed side by side in interleaved rounds:

- sampled: a training step with sampled softmax (K = 8,192 negatives drawn
  by popularity, logQ-corrected) and the lazy Adam update of the rows it
  touched (`fit --loss sampled`);
- digi_full: a full-softmax step on Diginetica's shape (43,097 items, the
  same sessions' lengths), the reference the target is set against;
- full: the full-softmax step at 10^6 items (scores of every item, dense
  Adam over the whole table), skipped (null) with --no-full.

Then the full ranking of test samples at 10^6 items in item chunks
(`pyg_srgnn.train.evaluate`), one session's top 20, and the peak resident
memory of the process.
"""
import json
import time
from pathlib import Path
from typing import List, Optional

import click
import numpy as np
import torch

from bench.common import RESULTS_DIR, machine, peak_rss_mb, write_json
from bench.speed import interleaved
from pyg_srgnn.allocator import keep_freed_memory
from pyg_srgnn.data import session_graph_batch
from pyg_srgnn.loss import SampledSoftmaxLoss
from pyg_srgnn.metrics import RankingMetrics
from pyg_srgnn.nn import SRGNN, fused
from pyg_srgnn.optim import LazyAdam
from pyg_srgnn.popularity import item_popularity
from pyg_srgnn.sampling import PopularitySampler
from pyg_srgnn.train import chunked_rank, train_step

MILLION = 1_000_000
DIGINETICA_ITEMS = 43_097


class SyntheticSessions:
    r"""Sessions of Zipf-distributed items (exponent :obj:`zipf`, item 1
    the most popular) with geometric lengths of mean about 5 clicks (at
    least 1), each with a target drawn from the same law."""

    def __init__(self, num_items: int, seed: int, zipf: float = 1.0):
        self.num_items = num_items
        self.rng = np.random.default_rng(seed)
        weight = 1 / np.arange(1, num_items + 1)**zipf
        self.cdf = np.cumsum(weight / weight.sum())

    def items(self, size: int) -> np.ndarray:
        index = np.searchsorted(self.cdf, self.rng.random(size), side='right')
        return np.minimum(index, self.num_items - 1) + 1

    def batch(self, batch_size: int):
        lengths = self.rng.geometric(1 / 4.85, batch_size)
        ptr = np.zeros(batch_size + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        clicks = torch.from_numpy(self.items(int(ptr[-1])))
        target = torch.from_numpy(self.items(batch_size))
        return session_graph_batch(clicks, torch.from_numpy(ptr), target)


def training_step(num_items: int, batches: List, sampled: bool,
                  popularity: Optional[torch.Tensor] = None,
                  num_negatives: int = 8192, seed: int = 0):
    r"""A step function training SR-GNN over :obj:`num_items` items on
    :obj:`batches` in turn, with the full or the sampled softmax."""
    torch.manual_seed(seed)
    model = SRGNN(num_items, fused=fused.load_kernel() is not None)
    loss_fn = None
    if sampled:
        generator = torch.Generator().manual_seed(seed)
        loss_fn = SampledSoftmaxLoss(
            PopularitySampler(popularity, num_negatives, generator))
        optimizer = LazyAdam(model.parameters(), lr=1e-3, weight_decay=1e-5)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3,
                                     weight_decay=1e-5, fused=True)
    state = {'next': 0}

    def step():
        batch = batches[state['next'] % len(batches)]
        state['next'] += 1
        train_step(model, optimizer, batch, loss_fn)

    return model, step


@click.command()
@click.option('--quick', is_flag=True,
              help='Fewer rounds and test samples; print one JSON line.')
@click.option('--items', default=MILLION, show_default=True)
@click.option('--num-negatives', default=8192, show_default=True)
@click.option('--rounds', default=10, show_default=True)
@click.option('--test-samples', default=5000, show_default=True)
@click.option('--no-full', is_flag=True,
              help='Skip the full-softmax step at the large catalogue.')
@click.option('--threads', default=2, show_default=True)
@click.option('--seed', default=0, show_default=True)
@click.option('--out', 'out_path', default=None,
              help='Result file (default: bench/results/scale.json).')
def main(quick, items, num_negatives, rounds, test_samples, no_full,
         threads, seed, out_path):
    keep_freed_memory()
    torch.set_num_threads(threads)
    started_on, start = machine(), time.time()
    if quick:
        rounds, test_samples = 3, 1000
    data = SyntheticSessions(items, seed)
    batches = [data.batch(100) for _ in range(16)]
    # The sampler's popularity: clicks of a synthetic training log.
    popularity = item_popularity(torch.from_numpy(data.items(2_000_000)),
                                 items)
    digi = SyntheticSessions(DIGINETICA_ITEMS, seed)
    digi_batches = [digi.batch(100) for _ in range(16)]

    model, sampled_step = training_step(items, batches, True, popularity,
                                        num_negatives, seed)
    _, digi_step = training_step(DIGINETICA_ITEMS, digi_batches, False,
                                 seed=seed)
    fns = {'sampled': sampled_step, 'digi_full': digi_step}
    if not no_full:
        _, fns['full'] = training_step(items, batches, False, seed=seed)
    steps = 4 if quick else 8
    times = interleaved(fns, repeats=rounds, warmup=1, steps=steps)
    med = {name: float(np.median(t)) for name, t in times.items()}
    fns.clear()  # the full model's table, gradients and moments go

    # The full ranking at this size, in item chunks, and one session's top
    # 20, with the model the sampled steps trained.
    model.eval()
    test = [data.batch(500) for _ in range(max(1, test_samples // 500))]
    metrics = RankingMetrics([20])
    eval_start = time.perf_counter()
    for batch in test:
        rank, _ = chunked_rank(model, batch, 20)
        metrics.update(rank)
    eval_s = time.perf_counter() - eval_start
    session = [int(i) for i in data.items(5)]
    latency = []
    for _ in range(30):
        t0 = time.perf_counter()
        model.recommend([session], k=20)
        latency.append(1000 * (time.perf_counter() - t0))

    out = {
        'sampled_ms': round(med['sampled'], 1),
        'digi_full_ms': round(med['digi_full'], 1),
        'full_ms': None if no_full else round(med['full'], 1),
        'sampled_over_digi_full': round(med['sampled'] / med['digi_full'], 2),
        'full_over_sampled': None if no_full else round(
            med['full'] / med['sampled'], 1),
        'eval_samples': 500 * len(test),
        'eval_s': round(eval_s, 2),
        'eval_ms_per_sample': round(1000 * eval_s / (500 * len(test)), 2),
        'latency_p50_ms': round(float(np.percentile(latency, 50)), 1),
        'latency_p99_ms': round(float(np.percentile(latency, 99)), 1),
        'peak_rss_mb': peak_rss_mb(),
        'wall_s': round(time.time() - start, 1),
    }
    if quick:
        print(json.dumps(out))
        return
    out.update({
        'setup': {'items': items, 'num_negatives': num_negatives,
                  'sampler': 'popularity', 'batch_size': 100,
                  'hidden_channels': 100, 'rounds': rounds,
                  'steps_per_round': steps, 'threads': threads,
                  'seed': seed, 'fused_kernel': fused.is_built()},
        'machine': started_on,
        'command': 'python -m bench.scale',
        'raw_ms': {name: [round(x, 2) for x in t]
                   for name, t in times.items()},
    })
    write_json(Path(out_path) if out_path else RESULTS_DIR / 'scale.json',
               out)
    print(json.dumps({k: v for k, v in out.items() if k != 'raw_ms'},
                     indent=2))


if __name__ == '__main__':
    main()
