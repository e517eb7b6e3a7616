"""The `pyg-srgnn` command line: it parses options and calls the Python API."""
import json
import typing
from dataclasses import MISSING, fields
from typing import Any, Callable, Dict

import click

from pyg_srgnn import __version__
from pyg_srgnn.config import PROTOCOLS, FitConfig
from pyg_srgnn.data.dataset import DATASETS
from pyg_srgnn.data.session_graph import EDGE_WEIGHTS

CHOICES = {
    'dataset': tuple(DATASETS),
    'edge_weight': EDGE_WEIGHTS,
    'protocol': PROTOCOLS,
}


def config_options(command: Callable) -> Callable:
    r"""Adds one option per :class:`FitConfig` field, with its help text and
    default, so that the command line and the config cannot drift apart."""
    for f in reversed(fields(FitConfig)):
        name = f.name.replace('_', '-')
        default = f.default if f.default is not MISSING else None
        kwargs: Dict[str, Any] = dict(help=f.metadata['help'],
                                      show_default=default is not None)
        if f.type is bool:
            decls = [f'--{name}/--no-{name}']
        elif f.name == 'ks':
            decls = ['-k', '--k', 'ks']
            kwargs.update(type=click.IntRange(min=1), multiple=True)
        else:
            decls = [f'--{name}', f.name]
            # Optional[X] -> X
            args = [t for t in typing.get_args(f.type) if t is not type(None)]
            kwargs['type'] = click.Choice(CHOICES[f.name]) if (
                f.name in CHOICES) else (args[0] if args else f.type)
        command = click.option(*decls, default=default, **kwargs)(command)
    return command


@click.group(context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(__version__, prog_name='pyg-srgnn')
def main():
    """SR-GNN session-based recommendation on PyTorch Geometric."""


@main.command()
@config_options
def fit(**options):
    """Train SR-GNN and report HR@K / MRR@K on the test split.

    With no options, trains on the Diginetica sample shipped with pyg-srgnn
    using the paper's settings.
    """
    from pyg_srgnn.train import fit as run_fit

    try:
        config = FitConfig(**options)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    try:
        result = run_fit(config, log=click.echo)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None

    k = config.ks[-1]
    test = result['test']
    label = ('best over epochs on test, paper protocol'
             if config.protocol == 'paper' else
             f"test at the best validation epoch {result['best_epoch']}")
    click.echo(f"HR@{k} {100 * test[f'HR@{k}']:.2f}  "
               f"MRR@{k} {100 * test[f'MRR@{k}']:.2f}  ({label}; "
               f"written to {result['run_dir']})")


@main.command()
@click.option('--dataset', type=click.Choice(tuple(DATASETS)),
              default='diginetica-sample', show_default=True,
              help='Data set name.')
@click.option('--root', default=None,
              help='Data set directory [default: ~/.cache/pyg_srgnn/DATASET].')
@click.option('--json', 'as_json', is_flag=True,
              help='Print one JSON object instead of a table.')
def stats(dataset, root, as_json):
    """Print the statistics of a data set: samples, sessions, items, clicks
    and average lengths of its training and test splits."""
    from pyg_srgnn.data.dataset import load_dataset

    try:
        out = {split: load_dataset(dataset, root, split).statistics()
               for split in ('train', 'test')}
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps({'dataset': dataset, **out}))
        return
    click.echo(f'{dataset}: {out["train"]["items"]:,} items, '
               f'{out["train"]["clicks"] + out["test"]["clicks"]:,} clicks')
    click.echo(f'{"split":<6}{"samples":>10}{"sessions":>10}{"clicks":>10}'
               f'{"avg session":>13}{"avg prefix":>12}')
    for split, row in out.items():
        click.echo(f'{split:<6}{row["samples"]:>10,}{row["sessions"]:>10,}'
                   f'{row["clicks"]:>10,}{row["avg_session_length"]:>13.2f}'
                   f'{row["avg_prefix_length"]:>12.2f}')


if __name__ == '__main__':
    main()
