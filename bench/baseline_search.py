"""The baselines' hyperparameters, chosen on the validation split only.

    python -m bench.baseline_search --dataset diginetica
    python -m bench.baseline_search --quick          # the shipped sample,
                                                     # one JSON line

For every baseline with options (ItemKNN, SKNN, V-SKNN, STAN), every
setting of a small grid around session-rec's published settings gathers its
statistics from the clean protocol's training part (the latest 10 % of
training sessions held out, as `pyg-srgnn fit`) and ranks the validation
split; the setting with the highest validation HR@20 (then MRR@20) wins.
The test split is not read. Result: bench/results/baseline-search-DATASET.json
(the grid, every setting's numbers and seconds, the winners); a result file
that exists gains the models it lacks and the settings a widened grid adds
to a model it has (the settings it has are not run again). Killed, it goes
on from the settings already run (baseline-search-DATASET.partial.jsonl).

With --fit-winners, each winner (and POP and S-POP, which have no options)
then runs as `pyg-srgnn fit --model M` with its options under the clean
protocol, as bench.accuracy runs (bench/results/accuracy/, named by the
options): statistics of the training part, validation, statistics again
from all training sessions, one test; bench.collect's comparison table
reads those runs.
"""
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import click
import torch

from bench.accuracy import run
from bench.common import (
    RESULTS_DIR,
    chosen_models,
    machine,
    peak_rss_mb,
    use_shared_data,
    write_json,
)
from pyg_srgnn.allocator import keep_freed_memory
from pyg_srgnn.config import FitConfig, TrainingConfig
from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.models import model_config
from pyg_srgnn.protocol import get_protocol
from pyg_srgnn.train import evaluate

# session-rec's published settings for Diginetica and YOOCHOOSE lie in
# these ranges (Ludewig et al., 2021, Table 4); the defaults are in each. A
# grid was widened where a winner sat on its edge: neighbours 1000, samples
# 2000 and ItemKNN's alpha 1 (co-occurrence counts over the candidate's
# support only) were added after the first search, and V-SKNN's samples 5000
# and STAN's position decay 0.5 after the second (YOOCHOOSE 1/64's winners took
# 2000, and 1.02, 1.6 points above 4).
GRIDS: Dict[str, Dict[str, tuple]] = {
    'itemknn': {'neighbors': (50, 100, 200, 500),
                'alpha': (0.25, 0.5, 0.75, 1.0)},
    'sknn': {'neighbors': (50, 100, 200, 500, 1000),
             'sample_size': (500, 1000, 2000),
             'similarity': ('cosine', 'jaccard')},
    'vsknn': {'neighbors': (100, 200, 500, 1000),
              'sample_size': (500, 1000, 2000, 5000),
              'weighting': ('div', 'quadratic'),
              'weighting_score': ('div', 'quadratic'),
              'idf_weighting': (1.0, 5.0)},
    # STAN: session-rec's defaults of the two lambdas (1.02, 2.05) and 4
    # clicks, about the mean training session of both data sets (4.9 and
    # 4.2 clicks).
    'stan': {'neighbors': (100, 500, 1000),
             'sample_size': (1000, 5000),
             'lambda_spw': (0.5, 1.02, 4.0),
             'lambda_inh': (2.05, 4.0)},
}


def settings(grid: Dict[str, tuple]) -> List[Dict[str, Any]]:
    r"""The settings of :obj:`grid`, but for more neighbours than candidate
    sessions (the neighbours are chosen among those)."""
    every = [dict(zip(grid, values))
             for values in itertools.product(*grid.values())]
    return [options for options in every  # a sample of 0: all sessions
            if options.get('neighbors', 0) <= (options.get('sample_size')
                                               or float('inf'))]


def missing(model_name: str, grid: Dict[str, tuple],
            searched: Dict[str, Any]) -> int:
    r"""How many settings of :obj:`grid` a model's recorded search
    :obj:`searched` has not run."""
    ran = {setting_key(model_name, run['options'])
           for run in searched['runs']}
    return sum(setting_key(model_name, options) not in ran
               for options in settings(grid))


def search(model_name: str, grid: Dict[str, tuple], train_set, train_index,
           valid_loader, log, done: Dict[str, dict],
           record: Callable[[dict], None]) -> Dict[str, Any]:
    r"""Every setting of :obj:`grid` ranked on the validation split; the
    settings in :obj:`done` (by :func:`setting_key`) are not run again, each
    new one goes to :obj:`record` as it finishes."""
    runs = []
    for options in settings(grid):
        key = setting_key(model_name, options)
        if key in done:
            runs.append(done[key])
            continue
        model = model_config(model_name, **options).build(
            train_set.num_items)
        start = time.perf_counter()
        model.fit(train_set, train_index)
        fit_s = time.perf_counter() - start
        metrics = evaluate(model, valid_loader, (20, ))
        runs.append({'options': options,
                     'valid_HR@20': round(100 * metrics['HR@20'], 2),
                     'valid_MRR@20': round(100 * metrics['MRR@20'], 2),
                     'fit_s': round(fit_s, 2),
                     'seconds': round(time.perf_counter() - start, 1)})
        record({'key': key, **runs[-1]})
        log(f"{model_name} {options}: HR@20 {runs[-1]['valid_HR@20']} "
            f"MRR@20 {runs[-1]['valid_MRR@20']} ({runs[-1]['seconds']} s)")
    runs.sort(key=lambda r: (-r['valid_HR@20'], -r['valid_MRR@20']))
    return {'grid': grid, 'runs': runs, 'winner': runs[0]['options']}


def setting_key(model_name: str, options: Dict[str, Any]) -> str:
    return json.dumps([model_name, options], sort_keys=True)


def progress_file(dataset: str) -> Path:
    r"""The settings run so far (JSON lines, git-ignored), so that a search
    killed by a session's end goes on where it stopped."""
    return RESULTS_DIR / f'baseline-search-{dataset}.partial.jsonl'


def read_progress(path: Path) -> Dict[str, dict]:
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                run = json.loads(line)
            except ValueError:  # a line cut short by a kill
                continue
            done[run.pop('key')] = run
    return done


@click.command()
@click.option('--dataset', default='diginetica', show_default=True)
@click.option('--root', default=None, help='Data set directory.')
@click.option('--models', default=','.join(GRIDS), show_default=True)
@click.option('--threads', default=2, show_default=True)
@click.option('--quick', is_flag=True,
              help='The shipped sample; print one JSON line, write nothing.')
@click.option('--fit-winners', is_flag=True,
              help='Then run fit with each winner (and POP, S-POP) into '
              'bench/results/accuracy/.')
def main(dataset, root, models, threads, quick, fit_winners):
    names = chosen_models(models, GRIDS)
    keep_freed_memory()
    use_shared_data()
    torch.set_num_threads(threads)
    started_on, start = machine(), time.time()
    if quick:
        dataset = 'diginetica-sample'
    result_file = RESULTS_DIR / f'baseline-search-{dataset}.json'
    earlier: Dict[str, Any] = {'models': {}}
    if not quick and result_file.is_file():
        # Searched: only the new models, and the settings a widened grid
        # added to a model searched before (its recorded runs are kept).
        earlier = json.loads(result_file.read_text())
        widened = {name: missing(name, GRIDS[name], earlier['models'][name])
                   for name in names if name in earlier['models']}
        names = [name for name in names
                 if name not in widened or widened[name]]
        if not names:
            print(f'{result_file} has every model and setting asked for: '
                  f'the search is not run again')
            if fit_winners:
                fit_each_winner(dataset, root, threads, earlier['models'])
            return
        print(f"{result_file} exists: searching " + ', '.join(
            f'{name} ({widened[name]} new settings)' if name in widened
            else name for name in names))
    train_set = load_dataset(dataset, root, 'train')
    # The validation split `pyg-srgnn fit` cuts under the clean protocol.
    training = TrainingConfig()
    train_index, valid_index = get_protocol('clean').split(
        training, train_set.sample_tensors()[3])
    valid_loader = SessionLoader(train_set, valid_index, batch_size=500)
    log = (lambda message: None) if quick else (
        lambda message: print(message, flush=True))
    progress = progress_file(dataset)
    done = {} if quick else read_progress(progress)
    if done:
        log(f'{len(done)} settings already run ({progress})')
    for name in names:
        for recorded in earlier['models'].get(name, {}).get('runs', []):
            done.setdefault(setting_key(name, recorded['options']), recorded)

    def record(run: Dict[str, Any]) -> None:
        if not quick:
            with open(progress, 'a') as f:
                f.write(json.dumps(run) + '\n')

    results = {name: search(name, GRIDS[name], train_set, train_index,
                            valid_loader, log, done, record)
               for name in names}
    if quick:
        print(json.dumps({name: {'winner': r['winner'],
                                 'valid_HR@20': r['runs'][0]['valid_HR@20']}
                          for name, r in results.items()}))
        return
    command = 'python -m bench.baseline_search ' + ' '.join(sys.argv[1:])
    for name in names:  # every invocation that ran some of its settings
        results[name]['commands'] = model_commands(
            earlier['models'].get(name, {})) + [command]
    results = {**{name: {**{key: value for key, value in r.items()
                            if key != 'command'},
                         'commands': model_commands(r)}
                  for name, r in earlier['models'].items()}, **results}
    write_json(result_file, {
        # Every invocation that searched a model (each model's own is in
        # 'models').
        'commands': earlier.get('commands', [earlier['command']] if
                                'command' in earlier else []) + [command],
        'machine': started_on,
        # Of the last invocation; each setting's own seconds are in 'runs'.
        'wall_seconds_last_invocation': round(time.time() - start, 1),
        'protocol': 'statistics of the clean protocol\'s training part, '
                    'ranked on its validation split (the latest 10 % of '
                    'training sessions); the test split is not read',
        'rule': 'highest validation HR@20, then MRR@20',
        'train_samples': len(train_index), 'valid_samples': len(valid_index),
        'peak_rss_mb': max(peak_rss_mb(), earlier.get('peak_rss_mb', 0)),
        'models': results,
    })
    progress.unlink(missing_ok=True)
    if fit_winners:
        fit_each_winner(dataset, root, threads, results)


def model_commands(searched: Dict[str, Any]) -> List[str]:
    r"""The invocations a model's recorded search names (files written
    before a grid was widened name one, as 'command')."""
    return searched.get('commands', [searched['command']]
                        if 'command' in searched else [])


def fit_each_winner(dataset: str, root, threads: int,
                    results: Dict[str, Any]) -> None:
    r"""`fit` with each winner of :obj:`results`, and POP and S-POP, as
    bench.accuracy runs (a finished run is not run again)."""
    for name, options in [('pop', {}), ('spop', {})] + [
            (name, r['winner']) for name, r in results.items()]:
        config = FitConfig.from_options(
            dataset=dataset, root=root, model=name, num_threads=threads,
            progress=False, **options)
        run(config, f'python -m bench.baseline_search --dataset {dataset} '
            f'--fit-winners')


if __name__ == '__main__':
    main()
