"""Accuracy benchmark: one training run of SR-GNN on a published split.

    python -m bench.accuracy --dataset diginetica --protocol paper --seed 0

Each run goes to bench/results/accuracy/DATASET-PROTOCOL[-VARIANT]-seedN/,
where VARIANT names the options that differ from the protocol's defaults
(official: the official schedule under the clean protocol, random: a random
validation split, refit, count: count-weighted edges, dN: N channels,
stepsN: N propagation steps, nisS: NISER scale S, dropP: embedding dropout
P, posN: N position embeddings): config.json,
log.jsonl and log.csv (one line per epoch, written as the run goes),
metrics.json and run.json (machine, versions, command, wall time, peak
resident memory). The model
checkpoints stay out of git. Started again on a run directory whose run was
killed, it resumes from the last finished epoch. bench/collect.py turns the
runs into the README tables.
"""
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict

import click

from bench.common import (
    BENCH_DIR,
    RESULTS_DIR,
    machine,
    peak_rss_mb,
    use_shared_data,
    write_json,
)
from pyg_srgnn.config import (
    LR_SCHEDULES,
    MODELS,
    PROTOCOLS,
    VALID_SPLITS,
    FitConfig,
)
from pyg_srgnn.train import fit, resume


def variant(config: FitConfig) -> str:
    r"""The options of :obj:`config` that differ from its protocol's
    defaults, as a run directory's name has them (e.g.
    :obj:`-official-refit-nis16`)."""
    default = FitConfig(dataset=config.dataset, protocol=config.protocol,
                        model=config.model)
    names = {
        'faithful': lambda value: 'faithful',
        'edge_weight': str,
        'hidden_channels': lambda value: f'd{value}',
        'num_layers': lambda value: f'steps{value}',
        'lr_schedule': str, 'valid_split': str,
        'refit': lambda value: 'refit',
        'norm_scale': lambda value: f'nis{value:g}',
        'embedding_dropout': lambda value: f'drop{value:g}',
        'positions': lambda value: f'pos{value}',
    }
    model = '' if config.model == 'srgnn' else f'-{config.model}'
    return model + ''.join(f'-{name(getattr(config, key))}'
                           for key, name in names.items()
                           if getattr(config, key) != getattr(default, key))


@click.command()
@click.option('--dataset', default='diginetica', show_default=True)
@click.option('--protocol', type=click.Choice(PROTOCOLS), default='paper',
              show_default=True)
@click.option('--seed', default=0, show_default=True)
@click.option('--epochs', default=30, show_default=True)
@click.option('--threads', default=2, show_default=True)
@click.option('--root', default=None, help='Data set directory.')
@click.option('--lr-schedule', type=click.Choice(LR_SCHEDULES), default=None,
              help="[default: the protocol's]")
@click.option('--valid-split', type=click.Choice(VALID_SPLITS),
              default='latest', show_default=True)
@click.option('--refit', is_flag=True)
@click.option('--model', type=click.Choice(MODELS), default='srgnn',
              show_default=True)
@click.option('--faithful', is_flag=True, help='SR-SAN: the official input.')
@click.option('--norm-scale', type=float, default=None)
@click.option('--embedding-dropout', default=0.0, show_default=True)
@click.option('--positions', default=0, show_default=True)
def main(dataset, protocol, seed, epochs, threads, root, **options):
    config = FitConfig(dataset=dataset, root=root, protocol=protocol,
                       seed=seed, epochs=epochs, num_threads=threads,
                       progress=False, **options)
    run(config, 'python -m bench.accuracy ' + ' '.join(sys.argv[1:]))


def run_dir_of(config: FitConfig) -> Path:
    name = f'{config.dataset}-{config.protocol}{variant(config)}-seed' \
           f'{config.seed}'
    return RESULTS_DIR / 'accuracy' / name


def run(config: FitConfig, command: str) -> Dict[str, Any]:
    r"""Trains :obj:`config` into its run directory (:func:`run_dir_of`),
    going on from the last finished epoch of a run that was killed, and
    writes :obj:`run.json`; returns the result."""
    use_shared_data()
    # From the repository root, so that the result files record the run
    # directory relative to it rather than a path of this machine.
    os.chdir(BENCH_DIR.parent)
    run_dir = run_dir_of(config).relative_to(BENCH_DIR.parent)
    config.run_dir = str(run_dir)
    start = time.time()
    # Before the run: the commit of the code that runs, not of a later
    # checkout.
    started_on = machine()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    # A run that a session's end killed goes on from its last epoch.
    resumed = (run_dir / 'last.pt').is_file() and not (
        run_dir / 'metrics.json').is_file()
    if resumed:
        result = resume(str(run_dir), log=log,
                        num_threads=config.num_threads)
    else:
        result = fit(config, log=log)
    write_json(run_dir / 'run.json', {
        'command': command,
        'machine': started_on,
        'wall_seconds_last_invocation': round(time.time() - start, 1),
        # Of the last invocation: the whole run unless it was resumed.
        'peak_rss_mb': peak_rss_mb(),
        'resumed': resumed,
        'result': result,
    })
    return result


if __name__ == '__main__':
    main()
