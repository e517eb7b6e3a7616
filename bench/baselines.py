"""The non-neural baselines (pyg_srgnn.baselines: POP, S-POP, Item-KNN, SKNN,
V-SKNN, session-rec's defaults) fitted on a data set's training split and
scored on its test split: the time to fit, the time to score every test
sample (batches of 500, full ranking of all items, ties broken by POP's
order), HR/MRR/NDCG@20, and the peak memory of the process, which keeps
freed memory (pyg_srgnn.allocator) as `pyg-srgnn fit` does.

With --synthetic, the log is random instead, shaped like the Diginetica
split (186,670 training sessions of 4.85 clicks on average, 43,097 items of
Zipf-distributed popularity, 60,858 test samples): timing only, its
accuracy means nothing.

    python -m bench.baselines --dataset diginetica
        # writes bench/results/baselines-diginetica.json
    python -m bench.baselines --synthetic    # baselines-synthetic.json
    python -m bench.baselines --quick        # the shipped sample, prints
                                             # one JSON line, writes nothing
    python -m bench.baselines --out FILE     # the result to FILE
"""
import json
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import click
import numpy as np
import torch
from torch import Tensor

from bench.common import (
    RESULTS_DIR,
    chosen_models,
    machine,
    peak_rss_mb,
    use_shared_data,
    write_json,
)
from pyg_srgnn.allocator import keep_freed_memory
from pyg_srgnn.baselines import POP, SKNN, SPOP, STAN, VSKNN, ItemKNN
from pyg_srgnn.data import SessionLoader, session_graph_batch
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.data.sequences import training_sessions
from pyg_srgnn.metrics import RankingMetrics, target_rank

MODELS: Dict[str, Callable] = {
    'pop': POP,
    'spop': SPOP,
    'item_knn': ItemKNN,
    'sknn': SKNN,
    'vsknn': VSKNN,
    'stan': STAN,
}

# The Diginetica split's sizes (bench/results/datasets.json).
DIGINETICA = dict(sessions=186670, items=43097, mean_length=4.85,
                  test_samples=60858, test_mean_length=4.03)


def random_sessions(rng: np.random.Generator, num_sessions: int,
                    mean_length: float, min_length: int,
                    popularity: np.ndarray) -> Tuple[Tensor, Tensor]:
    lengths = min_length - 1 + rng.geometric(
        1 / (mean_length - min_length + 1), num_sessions)
    ptr = np.zeros(num_sessions + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    clicks = rng.choice(len(popularity), size=int(ptr[-1]),
                        p=popularity) + 1
    return torch.from_numpy(clicks), torch.from_numpy(ptr)


def synthetic_split(seed: int, batch_size: int, zipf: float = 0.8):
    r"""A random log of Diginetica's sizes: the training sessions and the
    test batches (prefixes with a target each)."""
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, DIGINETICA['items'] + 1)**zipf
    popularity /= popularity.sum()
    train = random_sessions(rng, DIGINETICA['sessions'],
                            DIGINETICA['mean_length'], 2, popularity)
    clicks, ptr = random_sessions(rng, DIGINETICA['test_samples'],
                                  DIGINETICA['test_mean_length'], 1,
                                  popularity)
    targets = torch.from_numpy(
        rng.choice(len(popularity), size=len(ptr) - 1, p=popularity) + 1)
    batches = []
    for start in range(0, len(ptr) - 1, batch_size):
        end = min(start + batch_size, len(ptr) - 1)
        batches.append(session_graph_batch(
            clicks[ptr[start]:ptr[end]], ptr[start:end + 1] - ptr[start],
            targets[start:end]))
    return train, batches, DIGINETICA['items']


def dataset_split(dataset: str, root, batch_size: int):
    train_set = load_dataset(dataset, root, 'train')
    test_set = load_dataset(dataset, root, 'test')
    batches = list(SessionLoader(test_set, batch_size=batch_size))
    return training_sessions(train_set), batches, train_set.num_items


def measure(model, train: Tuple[Tensor, Tensor],
            batches: List) -> Dict[str, float]:
    start = time.perf_counter()
    model.fit_sessions(*train)
    fit_s = time.perf_counter() - start
    model.forward_batch(batches[0])  # warm-up
    metrics = RankingMetrics([20])
    batch_s = []
    for batch in batches:
        start = time.perf_counter()
        scores = model.forward_batch(batch)
        batch_s.append(time.perf_counter() - start)
        metrics.update(target_rank(scores, batch.y - 1))
    out = {'fit_s': round(fit_s, 3), 'score_s': round(sum(batch_s), 3),
           'batch_ms_p50': round(1000 * float(np.median(batch_s)), 1),
           'batch_ms_max': round(1000 * max(batch_s), 1)}
    out.update({key: round(100 * value, 2)
                for key, value in metrics.compute().items()})
    return out


@click.command()
@click.option('--dataset', default='diginetica', show_default=True)
@click.option('--root', default=None, help='Data set directory.')
@click.option('--synthetic', is_flag=True,
              help="A random log of Diginetica's sizes (timing only).")
@click.option('--quick', is_flag=True,
              help='The shipped sample; print one JSON line, write nothing.')
@click.option('--models', default=','.join(MODELS), show_default=True)
@click.option('--batch-size', default=500, show_default=True)
@click.option('--threads', default=2, show_default=True)
@click.option('--seed', default=0, show_default=True,
              help='Of the synthetic log.')
@click.option('--out', 'out_path', default=None,
              help='Result file (default: bench/results/'
              'baselines-DATASET.json).')
def main(dataset, root, synthetic, quick, models, batch_size, threads, seed,
         out_path):
    names = chosen_models(models, MODELS)
    # Every batch allocates [batch, num_items] scores; kept memory saves
    # faulting them in again, as `pyg-srgnn fit` does.
    keep_freed = keep_freed_memory()
    use_shared_data()
    torch.set_num_threads(threads)
    started_on = machine()
    if quick:
        dataset = 'diginetica-sample'
    if synthetic:
        dataset = 'synthetic'
        train, batches, num_items = synthetic_split(seed, batch_size)
    else:
        train, batches, num_items = dataset_split(dataset, root, batch_size)
    results = {}
    for name in names:
        model = MODELS[name](num_items)
        results[name] = {'model': repr(model),
                         **measure(model, train, batches)}
    if quick:
        print(json.dumps(results))
        return
    out = {
        'results': results,
        'setup': {'dataset': dataset, 'batch_size': batch_size,
                  'threads': threads, 'keep_freed_memory': keep_freed,
                  'num_items': num_items,
                  'train_sessions': len(train[1]) - 1,
                  'test_samples': sum(int(b.y.numel()) for b in batches),
                  'seed': seed if synthetic else None},
        'peak_rss_mb': peak_rss_mb(),
        'machine': started_on,
        'command': 'python -m bench.baselines ' + (
            '--synthetic' if synthetic else f'--dataset {dataset}') +
        f' --batch-size {batch_size} --threads {threads}',
    }
    write_json(Path(out_path) if out_path else
               RESULTS_DIR / f'baselines-{dataset}.json', out)
    print(json.dumps(out, indent=2))


if __name__ == '__main__':
    main()
