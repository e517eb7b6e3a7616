"""Allocator benchmark: whole training steps as `pyg-srgnn fit` runs them
(shuffled SessionLoader, the fused kernel where it builds, forward,
backward, fused Adam) with glibc's default
malloc and with freed memory kept (`pyg_srgnn.allocator.keep_freed_memory`,
what fit does unless told --no-keep-freed-memory). The malloc setting lasts
for a whole process, so each case runs in a fresh process: after --warmup
steps it times --steps steps and counts their minor page faults. The two
cases alternate for --rounds rounds, so that the machine's drift hits both.

    python -m bench.allocator        # writes bench/results/allocator.json
"""
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

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
from bench.speed import endless, minor_page_faults
from pyg_srgnn.allocator import keep_freed_memory
from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.nn import SRGNN, fused
from pyg_srgnn.train import train_step

CASES = ('default', 'keep_freed')


def run_case(case: str, dataset: str, root: Optional[str], threads: int,
             warmup: int, steps: int) -> Dict[str, float]:
    if case == 'keep_freed' and not keep_freed_memory():
        raise click.UsageError('keeping freed memory needs glibc')
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    train_set = load_dataset(dataset, root, 'train')
    model = SRGNN(train_set.num_items, fused=True)  # as fit
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3,
                                 weight_decay=1e-5, fused=True)
    batches = endless(SessionLoader(
        train_set, batch_size=100, shuffle=True,
        generator=torch.Generator().manual_seed(0)))

    for _ in range(warmup):
        train_step(model, optimizer, next(batches))
    faults = minor_page_faults()
    start = time.perf_counter()
    for _ in range(steps):
        train_step(model, optimizer, next(batches))
    seconds = time.perf_counter() - start
    return {
        'ms_per_step': round(1000 * seconds / steps, 3),
        'page_faults_per_step': round(
            (minor_page_faults() - faults) / steps, 1),
        'peak_rss_mb': peak_rss_mb(),
    }


@click.command()
@click.option('--dataset', default='diginetica', show_default=True)
@click.option('--root', default=None, help='Data set directory.')
@click.option('--threads', default=2, show_default=True)
@click.option('--rounds', default=4, show_default=True)
@click.option('--warmup', default=50, show_default=True)
@click.option('--steps', default=300, show_default=True)
@click.option('--case', type=click.Choice(CASES), default=None,
              help='Run one case in this process and print it.')
@click.option('--out', 'out_path', default=None,
              help='Result file [default: bench/results/allocator.json].')
def main(dataset, root, threads, rounds, warmup, steps, case, out_path):
    use_shared_data()
    args = ['--dataset', dataset, '--threads', str(threads), '--warmup',
            str(warmup), '--steps', str(steps)]
    if root is not None:
        args += ['--root', root]
    if case is not None:
        print(json.dumps(run_case(case, dataset, root, threads, warmup,
                                  steps)))
        return
    torch.set_num_threads(threads)
    # Before the run: the commit of the code that runs, not of a later
    # checkout.
    started_on = machine()
    # Built here if need be, so that the cases load it from the cache.
    fused_kernel = fused.load_kernel() is not None
    runs: Dict[str, List[dict]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name in CASES:
            proc = subprocess.run(
                [sys.executable, '-m', 'bench.allocator', '--case', name,
                 *args], capture_output=True, text=True, check=True,
                cwd=Path(__file__).resolve().parents[1])
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(name, runs[name][-1], flush=True)
    median = {
        name: {key: float(np.median([run[key] for run in runs[name]]))
               for key in runs[name][0]}
        for name in CASES
    }
    out = {
        'median': median,
        'speedup': round(median['default']['ms_per_step'] /
                         median['keep_freed']['ms_per_step'], 3),
        'runs': runs,
        'setup': {'dataset': dataset, 'batch_size': 100, 'rounds': rounds,
                  'warmup': warmup, 'steps': steps, 'threads': threads,
                  'fused_kernel': fused_kernel},
        'machine': started_on,
        'command': 'python -m bench.allocator ' + ' '.join(sys.argv[1:]),
    }
    write_json(Path(out_path) if out_path else RESULTS_DIR / 'allocator.json',
               out)
    print(json.dumps({key: out[key] for key in ('median', 'speedup')},
                     indent=2))


if __name__ == '__main__':
    main()
