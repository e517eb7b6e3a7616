"""Memory benchmark: peak resident memory (RSS) and load time, each case in a
fresh process so that peaks do not mix.

- load: reading the processed Diginetica train and test splits;
- train: a Diginetica training run (model, optimizer, shuffled loader,
  --steps training steps; freed memory kept and the fused kernel where it
  builds, as `pyg-srgnn fit` does);
- synthetic: the same on synthetic data shaped like YOOCHOOSE 1/4 (5.9M
  training samples, 37,484 embedding rows, session lengths drawn from the
  YOOCHOOSE 1/64 split), processing included. Target: under 8 GB.

    python -m bench.memory           # writes bench/results/memory.json
"""
import itertools
import json
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

import click
import numpy as np
import torch

from bench.common import (
    RESULTS_DIR,
    machine,
    peak_rss_mb,
    use_shared_data,
    write_json,
)
from pyg_srgnn.allocator import keep_freed_memory
from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.dataset import Samples, SessionDataset
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.data.sequences import Sequences, prefix_augment
from pyg_srgnn.nn import SRGNN, fused
from pyg_srgnn.train import train_step

YOOCHOOSE_1_4_SAMPLES = 5_917_745  # the official 1/4 split's training samples
YOOCHOOSE_ITEMS = 37_483


class SyntheticYooChoose(SessionDataset):
    r"""Random sessions with the YOOCHOOSE 1/64 length distribution and
    Zipf-like item popularity, as many as the 1/4 split has samples."""
    def __init__(self, root: str, lengths: np.ndarray):
        self.lengths = lengths  # session lengths to draw from
        super().__init__(root)

    @property
    def raw_file_names(self) -> List[str]:
        return []

    def download(self) -> None:
        pass

    def process_samples(self) -> Tuple[Dict[str, Samples], Sequence[str]]:
        gen = np.random.default_rng(0)
        # Lengths from the real distribution until the samples are there.
        lengths = gen.choice(self.lengths, size=YOOCHOOSE_1_4_SAMPLES // 2)
        cut = np.searchsorted(np.cumsum(lengths - 1), YOOCHOOSE_1_4_SAMPLES)
        lengths = lengths[:cut + 1]
        ptr = np.concatenate([[0], np.cumsum(lengths)])
        popularity = 1.0 / np.arange(1, YOOCHOOSE_ITEMS + 1)
        items = gen.choice(np.arange(1, YOOCHOOSE_ITEMS + 1), size=ptr[-1],
                           p=popularity / popularity.sum())
        train = prefix_augment(Sequences(items.astype(np.int64), ptr))
        test = prefix_augment(Sequences(items[:ptr[1000]], ptr[:1001]))
        labels = [str(i) for i in range(1, YOOCHOOSE_ITEMS + 1)]
        return {'train': train, 'test': test}, labels


def train_steps(dataset, steps: int) -> None:
    torch.manual_seed(0)
    model = SRGNN(dataset.num_items, fused=True)  # as fit
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3,
                                 weight_decay=1e-5, fused=True)
    loader = SessionLoader(dataset, batch_size=100, shuffle=True)
    for batch in itertools.islice(loader, steps):
        train_step(model, optimizer, batch)


def run_case(case: str, steps: int) -> Dict[str, float]:
    if case != 'load':
        # As `pyg-srgnn fit` does by default, before it loads (or processes)
        # the data.
        keep_freed_memory()
    start = time.perf_counter()
    if case == 'load':
        train = load_dataset('diginetica', None, 'train')
        load_dataset('diginetica', None, 'test')
        out = {'samples': len(train)}
    elif case == 'train':
        train = load_dataset('diginetica', None, 'train')
        train_steps(train, steps)
        out = {'samples': len(train), 'steps': steps}
    else:
        real = load_dataset('yoochoose1_64', None, 'train')
        lengths = (real.sample_tensors()[3].bincount() + 1).numpy()
        with tempfile.TemporaryDirectory() as root:
            train = SyntheticYooChoose(root, lengths)
            train_steps(train, steps)
        out = {'samples': len(train), 'embedding_rows': train.num_items + 1,
               'steps': steps}
    out.update(seconds=round(time.perf_counter() - start, 2),
               peak_rss_mb=peak_rss_mb())
    return out


@click.command()
@click.option('--case', type=click.Choice(['load', 'train', 'synthetic']),
              default=None, help='Run one case in this process.')
@click.option('--steps', default=300, show_default=True)
def main(case, steps):
    use_shared_data()
    torch.set_num_threads(2)
    if case is not None:
        print(json.dumps(run_case(case, steps)))
        return
    # Before the run: the commit of the code that runs, not of a later
    # checkout.
    started_on = machine()
    # Built here if need be, so that the cases load it from the cache.
    results = {'fused_kernel': fused.load_kernel() is not None}
    for name in ('load', 'train', 'synthetic'):
        proc = subprocess.run(
            [sys.executable, '-m', 'bench.memory', '--case', name,
             '--steps', str(steps)], capture_output=True, text=True,
            check=True)
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, results[name], flush=True)
    results['synthetic']['under_8_gb'] = (
        results['synthetic']['peak_rss_mb'] < 8 * 1024)
    results['machine'] = started_on
    results['command'] = f'python -m bench.memory --steps {steps}'
    write_json(RESULTS_DIR / 'memory.json', results)


if __name__ == '__main__':
    main()
