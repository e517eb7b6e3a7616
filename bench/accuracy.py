"""Accuracy benchmark: one training run of SR-GNN on a published split.

    python -m bench.accuracy --dataset diginetica --protocol paper --seed 0

Each run goes to bench/results/accuracy/DATASET-PROTOCOL[-VARIANT]-seedN/,
where VARIANT names the options that differ from the protocol's defaults
as the first runs had them (the clean protocol's have since become the
official schedule and refit, so that a default clean run is named
-official-refit): official: the official schedule under the clean protocol,
step: StepLR after each epoch, cosine: the cosine schedule (warmW: W
warm-up epochs), random: a random validation split, refit,
sampled: sampled softmax (kN: N negatives, and its sampler),
count: count-weighted edges, dN: N channels,
stepsN: N propagation steps, nisS: NISER scale S, dropP: embedding dropout
P, posN: N position embeddings; the baselines' nN: N neighbours, sN: sample
size N, cosine/jaccard/vec: similarity, wX/wsX: weighting, weighting_score X,
idfB, regR, aA): config.json,
log.jsonl and log.csv (one line per epoch, written as the run goes),
metrics.json and run.json (machine, versions, command, wall time, peak
resident memory). The model
checkpoints stay out of git. Started again on a run directory whose run was
killed, it resumes from the last finished epoch. A refit run whose
options without refit have a finished run (as bench.search runs its
candidates) starts from that run's last epoch, whose epochs are its own
first phase, and trains only the refit. bench/collect.py turns the runs into
the README tables.
"""
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import click
import torch

from bench.common import (
    BENCH_DIR,
    RESULTS_DIR,
    machine,
    peak_rss_mb,
    use_shared_data,
    write_json,
)
from pyg_srgnn import distributed
from pyg_srgnn.config import (
    LOSSES,
    LR_SCHEDULES,
    PROTOCOLS,
    VALID_SPLITS,
    FitConfig,
    preset_names,
    read_preset,
)
from pyg_srgnn.data.session_graph import EDGE_WEIGHTS
from pyg_srgnn.models import MODELS, model_option_names
from pyg_srgnn.sampling import SAMPLERS
from pyg_srgnn.train import fit, load_run_config, resume


def naming_reference(config: FitConfig) -> FitConfig:
    r"""The settings a run directory's name leaves unsaid: the defaults of
    :obj:`config`'s protocol and model as the first runs had them. The
    clean protocol's have changed since (the official schedule and refit);
    naming from the old ones keeps every committed run's name."""
    old_defaults = {'lr_schedule': 'step', 'refit': False} if (
        config.training.protocol == 'clean') else {}
    return FitConfig.from_options(dataset=config.data.dataset,
                                  protocol=config.training.protocol,
                                  model=config.model_name, **old_defaults)


# How a run directory's name says an option, in this order.
VARIANT_NAMES: Dict[str, Callable[[Any], str]] = {
    'faithful': lambda value: 'faithful',
    'edge_weight': str,
    'hidden_channels': lambda value: f'd{value}',
    'num_layers': lambda value: f'steps{value}',
    'lr_schedule': str,
    'lr_warmup': lambda value: f'warm{value:g}',
    'valid_split': str,
    'refit': lambda value: 'refit',
    'loss': str,
    'num_negatives': lambda value: f'k{value}',
    'sampler': str,
    'norm_scale': lambda value: f'nis{value:g}',
    'embedding_dropout': lambda value: f'drop{value:g}',
    'positions': lambda value: f'pos{value}',
    'reverse_positions': lambda value: 'rev',
    'label_smoothing': lambda value: f'ls{value:g}',
    'neighbors': lambda value: f'n{value}',
    'sample_size': lambda value: f's{value}',
    'similarity': str,
    'weighting': lambda value: f'w{value}',
    'weighting_score': lambda value: f'ws{value}',
    'idf_weighting': lambda value: f'idf{value:g}',
    'regularization': lambda value: f'reg{value:g}',
    'alpha': lambda value: f'a{value:g}',
    'lambda_spw': lambda value: f'spw{value:g}',
    'lambda_inh': lambda value: f'inh{value:g}',
}


def variant(config: FitConfig) -> str:
    r"""The options of :obj:`config` that differ from
    :func:`naming_reference`, as a run directory's name has them (e.g.
    :obj:`-official-refit-nis16`)."""
    options = config.options()
    default = naming_reference(config).options()
    model = '' if config.model_name == 'srgnn' else f'-{config.model_name}'
    return model + ''.join(f'-{name(options[key])}'
                           for key, name in VARIANT_NAMES.items()
                           if key in options and options[key] != default[key])


@click.command()
@click.option('--dataset', default='diginetica', show_default=True)
@click.option('--protocol', type=click.Choice(PROTOCOLS), default='paper',
              show_default=True)
@click.option('--seed', default=0, show_default=True)
@click.option('--epochs', default=30, show_default=True)
@click.option('--threads', default=2, show_default=True)
@click.option('--root', default=None, help='Data set directory.')
@click.option('--lr-schedule', type=click.Choice(LR_SCHEDULES),
              default='official', show_default=True)
@click.option('--lr-warmup', type=float, default=0.0, show_default=True,
              help='With --lr-schedule cosine: warm-up epochs.')
@click.option('--valid-split', type=click.Choice(VALID_SPLITS),
              default='latest', show_default=True)
@click.option('--edge-weight', type=click.Choice(EDGE_WEIGHTS),
              default='binary', show_default=True)
@click.option('--refit/--no-refit', default=None,
              help='[default: on under the clean protocol]')
@click.option('--model', type=click.Choice(MODELS), default='srgnn',
              show_default=True)
@click.option('--faithful', is_flag=True, default=None,
              help='SR-SAN: the official input.')
@click.option('--hidden-channels', type=int, default=None,
              help="Embedding size d [default: the model's].")
@click.option('--num-layers', type=int, default=None,
              help="SR-GNN: propagation steps; SR-SAN: encoder layers "
              "[default: the model's].")
@click.option('--norm-scale', type=float, default=None, help='SR-GNN: NISER.')
@click.option('--embedding-dropout', type=float, default=None,
              help='SR-GNN: NISER+.')
@click.option('--positions', type=int, default=None, help='SR-GNN: NISER+.')
@click.option('--reverse-positions', is_flag=True, default=None,
              help='SR-GNN: count positions from the last click.')
@click.option('--label-smoothing', type=float, default=None,
              help="Full softmax [default: fit's, none].")
@click.option('--loss', type=click.Choice(LOSSES), default='full',
              show_default=True)
@click.option('--num-negatives', type=int, default=None,
              help='Sampled softmax [default: fit\'s].')
@click.option('--sampler', type=click.Choice(SAMPLERS), default=None,
              help='Sampled softmax [default: fit\'s].')
@click.option('--preset', type=click.Choice(preset_names()),
              help='A shipped preset (pyg-srgnn fit --preset); the options '
              'above override it. The run is named by its options.')
@click.option('--nproc', type=int, default=1, show_default=True,
              help='Train with this many processes (fit --nproc: DDP, '
              'gloo on CPU); the run is named -ddpN.')
def main(dataset, protocol, seed, epochs, threads, root, preset, nproc,
         **options):
    if nproc > 1 and not distributed.launched():
        # This command again under torchrun, without --nproc.
        from torch.distributed.run import main as torchrun
        args = [arg for i, arg in enumerate(sys.argv[1:]) if arg != '--nproc'
                and (i == 0 or sys.argv[i] != '--nproc')]
        torchrun(['--standalone', '--nproc-per-node', str(nproc), '-m',
                  'bench.accuracy', *args])
        return
    # The model's options only where given (its config has the defaults).
    model_options = model_option_names()
    options = {key: value for key, value in options.items()
               if (key not in model_options or value is not None)
               and not (key in ('num_negatives', 'sampler',
                                'label_smoothing') and value is None)}
    if preset is not None:
        given = {key: value for key, value in options.items()
                 if key in model_options or key == 'model'
                 and value != 'srgnn'}
        options = {**options, **read_preset(preset), **given}
    try:
        config = FitConfig.from_options(
            dataset=dataset, root=root, protocol=protocol, seed=seed,
            epochs=epochs, num_threads=threads, progress=False, **options)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    launched = (f" --nproc {os.environ['WORLD_SIZE']}"
                if distributed.launched() else '')
    run(config, 'python -m bench.accuracy ' + ' '.join(sys.argv[1:]) +
        launched)


def run_dir_of(config: FitConfig) -> Path:
    world = int(os.environ.get('WORLD_SIZE', '1'))  # under torchrun
    ddp = f'-ddp{world}' if world > 1 else ''
    name = (f'{config.data.dataset}-{config.training.protocol}'
            f'{variant(config)}{ddp}-seed{config.training.seed}')
    return RESULTS_DIR / 'accuracy' / name


def validation_run_of(config: FitConfig) -> Optional[Path]:
    r"""The finished run whose epochs are the first phase of the refit run
    :obj:`config`: the same options and seed without refit (as
    :mod:`bench.search` runs a candidate), whose epochs a refit run trains
    and draws alike before it refits. :obj:`None` where there is none, its
    files are incomplete, or its saved options differ (e.g. its epochs)."""
    if not config.training.refit:
        return None
    plain = config.replace(refit=False)
    source = run_dir_of(plain)
    needed = ('run.json', 'config.json', 'log.jsonl', 'log.csv', 'last.pt',
              'checkpoint.pt')
    if not all((source / name).is_file() for name in needed):
        return None
    saved = load_run_config(str(source)).to_dict()
    wanted = plain.to_dict()
    if any(saved[section] != wanted[section]
           for section in ('data', 'model', 'training')):
        return None
    return source


def copied_from(config: FitConfig, run_dir: Path) -> Optional[Path]:
    r"""The run whose epochs :func:`start_from_validation_run` copied into
    :obj:`run_dir`, found again after a later resume: :obj:`run_dir`'s log
    begins with that run's whole log, seconds included, which no run of its
    own repeats."""
    source = validation_run_of(config)
    if source is None:
        return None
    copied = (source / 'log.jsonl').read_text()
    return source if (run_dir / 'log.jsonl').read_text().startswith(
        copied) else None


def start_from_validation_run(source: Path, run_dir: Path,
                              config: FitConfig) -> None:
    r"""Makes :obj:`run_dir` the refit run :obj:`config` stopped after its
    first phase, which is :obj:`source`'s epochs (:func:`validation_run_of`):
    their log, their chosen model and the state after the last one. The
    directory appears whole or not at all."""
    partial = run_dir.with_name(run_dir.name + '.partial')
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in ('log.jsonl', 'log.csv', 'checkpoint.pt', 'last.pt'):
        shutil.copyfile(source / name, partial / name)
    if (source / 'tensorboard').is_dir():
        shutil.copytree(source / 'tensorboard', partial / 'tensorboard')
    write_json(partial / 'config.json', config.to_dict())
    partial.rename(run_dir)


def run(config: FitConfig, command: str) -> Dict[str, Any]:
    r"""Trains :obj:`config` into its run directory (:func:`run_dir_of`),
    going on from the last finished epoch of a run that was killed, and
    writes :obj:`run.json`; returns the result."""
    use_shared_data()
    # From the repository root, so that the result files record the run
    # directory relative to it rather than a path of this machine.
    os.chdir(BENCH_DIR.parent)
    run_dir = run_dir_of(config).relative_to(BENCH_DIR.parent)
    config.runtime.run_dir = str(run_dir)
    start = time.time()
    # Before the run: the commit of the code that runs, not of a later
    # checkout; the threads the run uses, which fit would only set later.
    torch.set_num_threads(config.runtime.num_threads)
    started_on = machine()
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    if (run_dir / 'run.json').is_file():  # finished: not run again
        log(f'{run_dir} is finished (run.json); delete it to run again')
        return json.loads((run_dir / 'run.json').read_text())['result']
    # A run that a session's end killed goes on from its last epoch.
    resumed = (run_dir / 'last.pt').is_file() and not (
        run_dir / 'metrics.json').is_file()
    # A refit run goes on from its candidate's finished run, if any.
    if not resumed and not run_dir.exists() and not distributed.launched():
        source = validation_run_of(config)
        if source is not None:
            log(f'{run_dir}: the epochs before the refit are those of '
                f'{source.relative_to(BENCH_DIR.parent)} (finished)')
            start_from_validation_run(source, run_dir, config)
            resumed = True
    if resumed:
        result = resume(str(run_dir), log=log,
                        num_threads=config.runtime.num_threads)
    else:
        result = fit(config, log=log)
    if not distributed.is_main():  # rank 0 writes
        return result
    # The run it started from, also when a later call resumed it.
    source = copied_from(config, run_dir) if resumed else None
    write_json(run_dir / 'run.json', {
        'command': command,
        'machine': started_on,
        'wall_seconds_last_invocation': round(time.time() - start, 1),
        # Of the last invocation: the whole run unless it was resumed.
        'peak_rss_mb': peak_rss_mb(),
        'resumed': resumed,
        **({} if source is None else {
            'validation_from': str(source.relative_to(BENCH_DIR.parent))}),
        'result': result,
    })
    return result


if __name__ == '__main__':
    main()
