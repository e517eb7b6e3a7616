"""Every model side by side on one data set, clean protocol, from the runs
under bench/results/accuracy/ (made by bench.accuracy, bench.search and
bench.baseline_search):

    python -m bench.compare evaluate --dataset diginetica
    python -m bench.compare table

`evaluate` completes runs made before the test split reported the lists'
Coverage@20 / Popularity@20 and the metrics by session length: it ranks the
test split again with the run's checkpoint (the model the run kept) and
writes test-extras.json into the run directory. `table` prints the
comparison (mean ± sd over the seeds run) that bench.collect puts in
bench/README.md, and writes bench/results/comparison.json.

A model's runs: SR-GNN and SR-SAN with their defaults (clean protocol,
official schedule, refit); the kNN baselines with the options their
validation search chose (bench/results/baseline-search-DATASET.json),
else session-rec's defaults; POP and S-POP.
"""
import json
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import click

from bench.accuracy import run_dir_of
from bench.common import RESULTS_DIR, use_shared_data, write_json
from pyg_srgnn.config import FitConfig

DATASETS = ('diginetica', 'yoochoose1_64')
# The rows: a label and the options of fit beyond the data set and seed.
ROWS: List[Tuple[str, Dict[str, Any]]] = [
    ('SR-GNN', {}),
    ('SR-SAN', {'model': 'srsan'}),
    ('SR-SAN, faithful input', {'model': 'srsan', 'faithful': True}),
    ('POP', {'model': 'pop'}),
    ('S-POP', {'model': 'spop'}),
    ('ItemKNN', {'model': 'itemknn'}),
    ('SKNN', {'model': 'sknn'}),
    ('V-SKNN', {'model': 'vsknn'}),
    ('STAN', {'model': 'stan'}),
]
COLUMNS = ('HR@20', 'MRR@20', 'NDCG@20', 'Coverage@20', 'Popularity@20',
           'HR@20 short', 'HR@20 long', 'MRR@20 short', 'MRR@20 long')


def tuned(dataset: str, options: Dict[str, Any]) -> Dict[str, Any]:
    r""":obj:`options` with a kNN baseline's options chosen on validation by
    bench.baseline_search, where it has run."""
    path = RESULTS_DIR / f'baseline-search-{dataset}.json'
    model = options.get('model')
    if path.is_file():
        searched = json.loads(path.read_text())['models']
        if model in searched:
            return {**options, **searched[model]['winner']}
    return options


def run_dirs(dataset: str, options: Dict[str, Any]) -> List[Path]:
    r"""The finished runs (seeds 0-9) of a row on :obj:`dataset`."""
    found = []
    for seed in range(10):
        config = FitConfig.from_options(dataset=dataset, seed=seed,
                                        **tuned(dataset, options))
        run_dir = run_dir_of(config)
        if (run_dir / 'metrics.json').is_file():
            found.append(run_dir)
    return found


def test_metrics(run_dir: Path) -> Dict[str, float]:
    r"""A run's test metrics, with test-extras.json where the run predates
    some of them."""
    test = json.loads((run_dir / 'metrics.json').read_text())['test']
    extras = run_dir / 'test-extras.json'
    if extras.is_file():
        test = {**json.loads(extras.read_text())['test'], **test}
    return test


def cell(values: List[Optional[float]]) -> str:
    values = [100 * v for v in values if v is not None]
    if not values:
        return '-'
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def comparison() -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    for dataset in DATASETS:
        rows = []
        for label, options in ROWS:
            dirs = run_dirs(dataset, options)
            if not dirs:
                continue
            metrics = [test_metrics(d) for d in dirs]
            rows.append({
                'model': label, 'options': tuned(dataset, options),
                'runs': [d.name for d in dirs],
                'test': {key: [m.get(key) for m in metrics]
                         for key in COLUMNS}})
        if rows:
            out[dataset] = rows
    return out


def comparison_table(result: Dict[str, List[Dict[str, Any]]]) -> str:
    lines = ['| data set | model | seeds | ' + ' | '.join(COLUMNS) + ' |',
             '|---|---|---|' + '---|' * len(COLUMNS)]
    for dataset, rows in result.items():
        for row in rows:
            cells = ' | '.join(cell(row['test'][key]) for key in COLUMNS)
            lines.append(f"| {dataset} | {row['model']} | "
                         f"{len(row['runs'])} | {cells} |")
    lines.append('\nClean protocol: options and epochs chosen on the '
                 'validation split (the latest 10 % of training sessions), '
                 'then refit on all training sessions and tested once; mean '
                 '± sd over the seeds run (baselines have no seed). Short: '
                 'test prefixes of at most 3 clicks. Coverage@20: share of '
                 'all items in some top-20 list; Popularity@20: mean '
                 'training clicks of the listed items over the largest.')
    return '\n'.join(lines)


@click.group()
def main():
    """Complete the runs' test metrics (evaluate); print the table."""


@main.command()
@click.option('--dataset', type=click.Choice(DATASETS), required=True)
@click.option('--threads', default=2, show_default=True)
def evaluate(dataset, threads):
    """Rank the test split again with the checkpoints of runs whose
    metrics predate Coverage@K, Popularity@K and the split by length."""
    import torch

    from pyg_srgnn.checkpoint import load_checkpoint, model_from_checkpoint
    from pyg_srgnn.data import SessionLoader
    from pyg_srgnn.data.registry import load_dataset
    from pyg_srgnn.popularity import session_popularity
    from pyg_srgnn.train import evaluate as run_evaluate

    use_shared_data()
    torch.set_num_threads(threads)
    train_set = load_dataset(dataset, None, 'train')
    test_set = load_dataset(dataset, None, 'test')
    popularity = session_popularity(train_set)
    for _, options in ROWS:
        for run_dir in run_dirs(dataset, options):
            if 'Coverage@20' in test_metrics(run_dir):
                continue
            checkpoint = run_dir / 'checkpoint.pt'
            if not checkpoint.is_file():
                print(f'{run_dir.name}: no checkpoint here, skipped')
                continue
            model, config = model_from_checkpoint(
                load_checkpoint(str(checkpoint)))
            loader = SessionLoader(test_set, None, config.data.edge_weight,
                                   batch_size=500)
            metrics = run_evaluate(model, loader, (10, 20), popularity)
            write_json(run_dir / 'test-extras.json', {
                'command': f'python -m bench.compare evaluate --dataset '
                           f'{dataset}',
                'what': "the kept model's test split ranked again with the "
                        "lists' metrics (POP's counts: all training "
                        "sessions' clicks) and the split by length",
                'test': metrics})
            print(f"{run_dir.name}: HR@20 {100 * metrics['HR@20']:.2f}, "
                  f"Coverage@20 {100 * metrics['Coverage@20']:.2f}")


# Short sessions, as the comparison's columns split them; fixed beforehand,
# so that nothing is chosen on the test split.
HYBRID_SHORT = 3


def hybrid_rows(dataset: str, threads: int) -> Dict[str, Any]:
    r"""Each SR-GNN run's test metrics with its sessions of at most
    :data:`HYBRID_SHORT` clicks answered by the V-SKNN run instead
    (:class:`~pyg_srgnn.nn.HybridModel`), beside the two models alone."""
    import torch

    from pyg_srgnn.checkpoint import load_checkpoint, model_from_checkpoint
    from pyg_srgnn.data import SessionLoader
    from pyg_srgnn.data.registry import load_dataset
    from pyg_srgnn.nn import HybridModel
    from pyg_srgnn.popularity import session_popularity
    from pyg_srgnn.train import evaluate as run_evaluate

    torch.set_num_threads(threads)
    knn_dirs = run_dirs(dataset, dict(ROWS)['V-SKNN'])
    gnn_dirs = run_dirs(dataset, dict(ROWS)['SR-GNN'])
    if not knn_dirs or not gnn_dirs:
        raise click.ClickException(f'{dataset}: needs a finished V-SKNN run '
                                   f'and SR-GNN runs with checkpoints')
    train_set = load_dataset(dataset, None, 'train')
    test_set = load_dataset(dataset, None, 'test')
    popularity = session_popularity(train_set)
    knn = model_from_checkpoint(load_checkpoint(
        str(knn_dirs[0] / 'checkpoint.pt')))[0]
    runs = []
    for run_dir in gnn_dirs:
        gnn, config = model_from_checkpoint(load_checkpoint(
            str(run_dir / 'checkpoint.pt')))
        loader = SessionLoader(test_set, None, config.data.edge_weight,
                               batch_size=500)
        metrics = run_evaluate(HybridModel(knn, gnn, HYBRID_SHORT), loader,
                               (20, ), popularity)
        runs.append({'srgnn_run': run_dir.name,
                     'srgnn_alone': test_metrics(run_dir),
                     'hybrid': metrics})
        print(f"{run_dir.name}: hybrid HR@20 {100 * metrics['HR@20']:.2f} "
              f"MRR@20 {100 * metrics['MRR@20']:.2f}")
    return {'max_short': HYBRID_SHORT, 'knn_run': knn_dirs[0].name,
            'knn_alone': test_metrics(knn_dirs[0]), 'runs': runs}


@main.command()
@click.option('--dataset', type=click.Choice(DATASETS), required=True)
@click.option('--threads', default=2, show_default=True)
def hybrid(dataset, threads):
    """SR-GNN with its short sessions answered by V-SKNN: does it help?
    Writes bench/results/hybrid-DATASET.json."""
    use_shared_data()
    write_json(RESULTS_DIR / f'hybrid-{dataset}.json', {
        'command': f'python -m bench.compare hybrid --dataset {dataset}',
        'what': f'test split; sessions of at most {HYBRID_SHORT} clicks '
                f'(fixed beforehand) ranked by V-SKNN, the longer ones by '
                f'SR-GNN; the same metrics of each model alone',
        **hybrid_rows(dataset, threads)})


@main.command()
def table():
    """Print the comparison and write bench/results/comparison.json."""
    result = comparison()
    write_json(RESULTS_DIR / 'comparison.json', {
        'command': 'python -m bench.compare table', 'columns': COLUMNS,
        'datasets': result})
    print(comparison_table(result))


if __name__ == '__main__':
    main()
