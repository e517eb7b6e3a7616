"""The `pyg-srgnn` command line: it parses options and calls the Python API."""
import contextlib
import dataclasses
import inspect
import json
import os
import re
import typing
import warnings
from dataclasses import fields
from typing import Any, Callable, Dict, List, Optional

import click
from click.core import ParameterSource

from pyg_srgnn import __version__, distributed
from pyg_srgnn.config import (
    LOSSES,
    LR_SCHEDULES,
    PROTOCOLS,
    VALID_SPLITS,
    DataConfig,
    FitConfig,
    RuntimeConfig,
    TrainingConfig,
    preset_names,
    read_config_file,
    read_preset,
)
from pyg_srgnn.data.registry import DATASETS
from pyg_srgnn.data.session_graph import EDGE_WEIGHTS
from pyg_srgnn.models import MODELS, model_option_names
from pyg_srgnn.sampling import SAMPLERS

CHOICES = {
    'dataset': tuple(DATASETS),
    'edge_weight': EDGE_WEIGHTS,
    'protocol': PROTOCOLS,
    'lr_schedule': LR_SCHEDULES,
    'valid_split': VALID_SPLITS,
    'loss': LOSSES,
    'sampler': SAMPLERS,
}
MODEL_HELP = ("The model: 'srgnn' (SR-GNN, Wu et al., 2019), 'srsan' (SR-SAN, "
              "Fang, 2021), or a baseline of session-rec: 'pop', 'spop', "
              "'itemknn', 'sknn', 'vsknn', 'stan' (statistics of the training "
              "sessions, no epochs). Each model takes only its own options "
              "below.")


def field_option(f, default, help: str) -> Callable:
    r"""The click option of the config field :obj:`f`."""
    name = f.name.replace('_', '-')
    kwargs: Dict[str, Any] = dict(help=help,
                                  show_default=default is not None)
    if f.type in (bool, Optional[bool]):
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
    return click.option(*decls, default=default, **kwargs)


def config_options(command: Callable) -> Callable:
    r"""Adds one option per config field (the data, every model's, the
    training and the runtime sections), with its help text and default, so
    that the command line and the config cannot drift apart. A model's
    options default to :obj:`None` here: the model's config has the
    default, which the help lists per model."""
    decorators = [field_option(f, f.default, f.metadata['help'])
                  for f in fields(DataConfig)]
    decorators.append(click.option('--model', type=click.Choice(MODELS),
                                   default='srgnn', show_default=True,
                                   help=MODEL_HELP))
    seen = set()
    for cls in MODELS.values():
        for f in fields(cls):
            if f.name in seen:
                continue
            seen.add(f.name)
            owners = [c for c in MODELS.values()
                      if f.name in {g.name for g in fields(c)}]
            defaults = ', '.join(
                f'{c.name} {c.__dataclass_fields__[f.name].default}'
                for c in owners)
            help = f.metadata['help']
            if len(owners) == 1:
                help = f'{owners[0].title}: {help}'
            decorators.append(field_option(
                f, None, f'{help} [default: {defaults}]'))
    decorators += [field_option(f, f.default, f.metadata['help'])
                   for section in (TrainingConfig, RuntimeConfig)
                   for f in fields(section)]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


@click.group(context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(__version__, prog_name='pyg-srgnn')
def main():
    """SR-GNN session-based recommendation on PyTorch Geometric."""


checkpoint_option = click.option(
    '--checkpoint', required=True,
    help='A checkpoint.pt written by pyg-srgnn fit.')
strict_option = click.option(
    '--strict', is_flag=True,
    help='Fail on an unknown item id instead of dropping it.')


@contextlib.contextmanager
def user_errors():
    r"""Turns the errors that bad input raises into one line and a non-zero
    exit, and prints the warnings (such as dropped rows or unknown items)
    as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            yield
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        except (MemoryError, RuntimeError) as e:
            if not is_out_of_memory(e):
                raise
            raise click.ClickException(
                f"Out of memory ({first_line(e)}); try smaller sizes, e.g. "
                f"--batch-size or --hidden-channels") from None
        except OSError as e:  # a missing, unreadable or unwritable file
            where = f"{e.filename}: " if e.filename else ''
            raise click.ClickException(
                f"{where}{e.strerror or e}") from None
        finally:
            for warning in caught:
                click.echo(f'Warning: {warning.message}', err=True)


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def is_out_of_memory(error: BaseException) -> bool:
    r"""Whether :obj:`error` is an allocation that failed: Python's
    :class:`MemoryError`, CUDA's out-of-memory error or the CPU allocator's
    :class:`RuntimeError`."""
    import torch
    return isinstance(error, (MemoryError, torch.OutOfMemoryError)) or (
        "can't allocate memory" in str(error))


def launch(nproc: int) -> None:
    r"""Runs this `fit` command again in :obj:`nproc` processes under
    torchrun (without --nproc), and exits with their status."""
    import sys

    from torch.distributed.run import main as torchrun

    args, skip = [], False
    for arg in sys.argv[sys.argv.index('fit') + 1:]:
        if skip:
            skip = False
        elif arg == '--nproc':
            skip = True
        elif not arg.startswith('--nproc='):
            args.append(arg)
    try:
        torchrun(['--standalone', '--nproc-per-node', str(nproc), '-m',
                  'pyg_srgnn', 'fit', *args])
    except Exception as e:  # a worker failed: it printed its own error
        raise click.ClickException(f'{nproc} processes: {first_line(e)}'
                                   ) from None


@main.command()
@config_options
@click.option('--preset', type=click.Choice(preset_names()),
              help='A shipped setting beyond the paper, chosen on the '
              'validation split (pyg_srgnn/presets/NAME.toml: niser is '
              'NISER, niser-plus NISER+, niser-plus-drop0.3 NISER+ with '
              'dropout 0.3, niser-plus-drop0.3-d200 that with d = 200); '
              '--config and the command line override it.')
@click.option('--config', 'config_file', type=click.Path(dir_okay=False),
              help='A TOML or YAML file of options, keyed by option name; '
              'options given on the command line override it.')
@click.option('--resume', 'resume_dir', type=click.Path(file_okay=False),
              help='Continue the run in this run directory (e.g. one the '
              'machine killed) from its last finished epoch, with its saved '
              'options.')
@click.option('--nproc', type=click.IntRange(min=1), default=1,
              show_default=True,
              help='Train with this many processes on this machine '
              '(torch.distributed data parallel, gloo on CPU, NCCL on CUDA): '
              'starts `torchrun --standalone --nproc-per-node N -m pyg_srgnn '
              'fit ...` with the other options; the global batch size stays '
              '--batch-size. For several machines, run torchrun yourself.')
@click.pass_context
def fit(ctx, preset, config_file, resume_dir, nproc, **options):
    """Train a model (SR-GNN unless --model says otherwise) and report
    HR@K / MRR@K on the test split, beside POP's.

    With no options, trains SR-GNN on the Diginetica sample shipped with
    pyg-srgnn, with the paper's settings except the sample's own batch size
    and StepLR step.
    """
    from pyg_srgnn.train import check_resume_options, load_run_config, resume
    from pyg_srgnn.train import fit as run_fit

    if nproc > 1:
        launch(nproc)
        return
    given = {key: value for key, value in options.items()
             if ctx.get_parameter_source(key) is ParameterSource.COMMANDLINE}
    try:
        if resume_dir is not None:
            if config_file is not None or preset is not None:
                raise ValueError('--resume continues a run with its saved '
                                 'options; --config and --preset cannot be '
                                 'given with it')
            check_resume_options(given)
            config = load_run_config(resume_dir)
        else:
            # A model's options are passed only where given: its config
            # holds their defaults.
            model_options = model_option_names()
            values = {key: value for key, value in options.items()
                      if key not in model_options}
            if preset is not None:
                values.update(read_preset(preset))
            if config_file is not None:
                values.update(read_config_file(config_file))
            values.update(given)
            config = FitConfig.from_options(**values)
    except (ValueError, FileNotFoundError) as e:
        raise click.UsageError(str(e)) from None
    with user_errors():
        if resume_dir is not None:
            result = resume(resume_dir, log=click.echo, **given)
        else:
            result = run_fit(config, log=click.echo)
    if not distributed.is_main():  # rank 0 reports
        return

    k = config.training.ks[-1]
    label = ('best over epochs on test, paper protocol'
             if config.training.protocol == 'paper' else
             f"test at the best validation epoch {result['best_epoch']}")
    if not config.model.neural:
        every = 'all ' if config.training.refit else ''
        label = f"test; statistics of {every}the training samples, no epochs"
    elif config.training.refit:
        before = result['test_before_refit']
        label = (f"test of a model refit on all training samples for the "
                 f"{result['best_epoch']} epoch(s) chosen on validation; "
                 f"the chosen model's: HR@{k} {100 * before[f'HR@{k}']:.2f}")
    rows = [(config.model.title, result['test'], label),
            ('POP', result['pop']['test'],
             f'the {k} most popular training items, same test samples')]
    for name, metrics, what in rows:
        click.echo(f"{name:<8}HR@{k} {100 * metrics[f'HR@{k}']:5.2f}  "
                   f"MRR@{k} {100 * metrics[f'MRR@{k}']:5.2f}  ({what})")
    click.echo(f"written to {result['run_dir']}")


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
    from pyg_srgnn.data.registry import load_dataset

    with user_errors():
        out = {split: load_dataset(dataset, root, split).statistics()
               for split in ('train', 'test')}
    echo_statistics(dataset, out, as_json)


def echo_statistics(name: str, out: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({'dataset': name, **out}))
        return
    click.echo(f'{name}: {out["train"]["items"]:,} items, '
               f'{out["train"]["clicks"] + out["test"]["clicks"]:,} clicks')
    click.echo(f'{"split":<6}{"samples":>10}{"sessions":>10}{"clicks":>10}'
               f'{"avg session":>13}{"avg prefix":>12}')
    for split, row in out.items():
        click.echo(f'{split:<6}{row["samples"]:>10,}{row["sessions"]:>10,}'
                   f'{row["clicks"]:>10,}{row["avg_session_length"]:>13.2f}'
                   f'{row["avg_prefix_length"]:>12.2f}')


def column(value):
    r"""A column given by name, or by position when it is a number."""
    return None if value is None else int(value) if value.isdigit() else value


def guess_format(files, csv_options_given: bool) -> str:
    name = os.path.basename(files[0]).lower()
    if csv_options_given:
        return 'csv'
    if name in ('train-item-views.csv', 'train-item-views.csv.gz'):
        return 'diginetica'
    if name in ('yoochoose-clicks.dat', 'yoochoose-clicks.dat.gz'):
        return 'yoochoose'
    if len(files) == 2:
        with open(files[0], 'rb') as f:
            return 'srgnn' if f.read(1) == b'\x80' else 'text'
    return 'csv'


@main.command()
@click.argument('files', nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@click.option('--root', required=True,
              help='Directory for the processed data set; train on it with '
              "'pyg-srgnn fit --dataset custom --root DIR'.")
@click.option('--format', 'format_', default=None,
              type=click.Choice(['diginetica', 'yoochoose', 'csv', 'srgnn',
                                 'text']),
              help='Input format [default: csv if a column option is given, '
              'else guessed: train-item-views.csv is diginetica, '
              'yoochoose-clicks.dat yoochoose, two pickles srgnn, two text '
              'files text, else csv].')
@click.option('--protocol', type=click.Choice(['parity', 'clean']),
              default='parity', show_default=True,
              help="Raw logs: 'parity' is the official SR-GNN preprocessing; "
              "'clean' counts items on training data only and filters to a "
              'fixed point.')
@click.option('--test-days', type=click.IntRange(min=1), default=None,
              help='Raw logs: the test period in days [default: 7, '
              'yoochoose: 1].')
@click.option('--fraction', type=click.Choice(['64', '4']), default=None,
              help='YOOCHOOSE: keep the most recent 1/64 or 1/4 of the '
              'training samples.')
@click.option('--session-col', default=None,
              help='csv: session id column (name, or 0-based position).')
@click.option('--item-col', default=None, help='csv: item id column.')
@click.option('--time-col', default=None,
              help='csv: time column (unix seconds or ISO 8601, UTC).')
@click.option('--sep', default=None,
              help="csv: field separator [default: sniffed among ',', TAB, "
              "';'].")
@click.option('--time-format', default=None,
              help="csv: 'unix', 'iso' or a strptime pattern [default: "
              'guessed].')
@click.option('--no-header', is_flag=True,
              help='csv: the file has no header row (use positions).')
@click.option('--on-error', type=click.Choice(['raise', 'skip']),
              default='raise', show_default=True,
              help='Malformed rows: fail, or skip them with a warning.')
@click.option('--json', 'as_json', is_flag=True,
              help='Print the statistics as one JSON object.')
def preprocess(files, root, format_, protocol, test_days, fraction,
               session_col, item_col, time_col, sep, time_format, no_header,
               on_error, as_json):
    """Turn a click log (or SR-GNN files) into a processed data set in ROOT
    and print its statistics."""
    from pyg_srgnn.data.log_dataset import SessionLogDataset

    format_ = format_ or guess_format(
        files, session_col is not None or item_col is not None)
    reader = {}
    if format_ == 'csv':
        if session_col is None or item_col is None:
            raise click.UsageError('A csv click log needs --session-col and '
                                   '--item-col')
        reader = {'session_col': column(session_col),
                  'item_col': column(item_col),
                  'time_col': column(time_col), 'sep': sep,
                  'time_format': time_format, 'header': not no_header}
    with user_errors():
        train = SessionLogDataset.create(root, list(files), format_,
                                         protocol, test_days,
                                         fraction and int(fraction), reader,
                                         on_error)
        out = {'train': train.statistics(),
               'test': train.split_dataset('test').statistics()}
    echo_statistics(f'{format_} ({protocol})', out, as_json)


# One item id: quoted as in CSV ("a b", "say ""hi""") or a run of
# characters other than separators and quotes.
ITEM_TOKEN = re.compile(r'"((?:[^"]|"")*)"|([^,\s"]+)')
SEPARATORS = re.compile(r'[,\s]*')


def parse_session(text: str, name: str = 'session') -> List[str]:
    r"""Item ids of one session, separated by commas and/or whitespace; an id
    that holds a separator or a quote is written in double quotes, with
    quotes inside doubled, as :func:`format_item` writes it."""
    items: List[str] = []
    position = SEPARATORS.match(text).end()
    while position < len(text):
        match = ITEM_TOKEN.match(text, position)
        end = match.end() if match else position
        if match is None or (end < len(text) and text[end] not in ','
                             and not text[end].isspace()):
            column = (end if match else position) + 1
            raise ValueError(
                f'{name}: cannot read the item ids at column {column} of '
                f'{text!r} (expected ids separated by commas or spaces; '
                f'write an id that holds one, or a quote, as "a b", '
                f'doubling quotes inside)')
        quoted, plain = match.groups()
        items.append(plain if quoted is None else quoted.replace('""', '"'))
        position = SEPARATORS.match(text, end).end()
    return items


def format_item(item: str) -> str:
    r"""An item id as :func:`parse_session` reads it back: quoted if it
    holds a comma, whitespace or a quote."""
    if item and not re.search(r'[,\s"]', item):
        return item
    return '"' + item.replace('"', '""') + '"'


@main.command()
@checkpoint_option
@click.option('--session', 'sessions', multiple=True,
              help='Item ids in click order, separated by commas or spaces, '
              'in your own ids ("a b" quotes an id holding either); repeat '
              'for several sessions.')
@click.option('--file', 'session_file', type=click.File('rb'),
              help="A file with one session per line ('-': stdin); each "
              "line gets one line of output, a blank one for a blank line.")
@click.option('-k', '--k', default=20, show_default=True,
              type=click.IntRange(min=1), help='How many items per session.')
@strict_option
@click.option('--fallback', type=click.Choice(['popular']), default=None,
              help='For a session with no known item, recommend the most '
              'popular items instead of an empty line.')
@click.option('--json', 'as_json', is_flag=True,
              help='One JSON object per session.')
def recommend(checkpoint, sessions, session_file, k, strict, fallback,
              as_json):
    """Recommend the next items for sessions, in your own item ids.

    Prints one line per session: the items, best first, separated by spaces
    (quoted where an id holds a space, comma or quote). A session with no
    item the model knows gets an empty line and a warning, and the command
    exits with status 1 once every session is answered.
    """
    from pyg_srgnn.recommend import Recommender
    from pyg_srgnn.text_files import decode_text

    inputs = [(f'--session {i}' if len(sessions) > 1 else '--session', text)
              for i, text in enumerate(sessions, 1)]
    lines: List[Optional[int]] = [None] * len(inputs)
    if session_file is not None:
        name = session_file.name
        with user_errors():
            text = decode_text(session_file.read(), name)
        file_lines = text.splitlines()
        if not file_lines:
            raise click.UsageError(f'{name} holds no session (expected one '
                                   f'per line)')
        inputs += [(f'{name} line {n}', line)
                   for n, line in enumerate(file_lines, 1)]
        lines += range(1, len(file_lines) + 1)
    if not inputs:
        raise click.UsageError('Give --session ITEMS or --file FILE')
    parsed: List[Optional[List[str]]] = []
    for name, text in inputs:
        try:
            parsed.append(parse_session(text, name))
        except ValueError as e:
            click.echo(f'Warning: {e}', err=True)
            parsed.append(None)
    asked = [i for i, session in enumerate(parsed) if session]
    with user_errors():
        recommender = Recommender.from_checkpoint(checkpoint)
        answers = recommender.recommend(
            [parsed[i] for i in asked], k, strict, fallback or 'empty',
            names=[inputs[i][0] for i in asked])
    out: List[List[str]] = [[] for _ in inputs]
    for i, items in zip(asked, answers):
        out[i] = items
    failed = [name for (name, _), session, items in zip(inputs, parsed, out)
              if session is None or (session and not items)]
    for session, items, line in zip(parsed, out, lines):
        if as_json:
            record = {'session': session or [], 'items': items}
            if line is not None:
                record = {'line': line, **record}
            click.echo(json.dumps(record))
        else:
            click.echo(' '.join(format_item(item) for item in items))
    if failed:
        shown = ', '.join(failed[:3]) + (', ...' if len(failed) > 3 else '')
        raise click.ClickException(
            f"{len(failed)} of {len(asked) + parsed.count(None)} session(s) "
            f"got no "
            f"recommendation ({shown}); their output lines are empty")


@main.command()
@checkpoint_option
@click.option('--dataset', type=click.Choice(tuple(DATASETS)), default=None,
              help='Data set [default: the one the model was trained on].')
@click.option('--root', default=None,
              help="Data set directory [default: the training run's for its "
              "own data set, else ~/.cache/pyg_srgnn/DATASET].")
@click.option('--split', type=click.Choice(['train', 'test']),
              default='test', show_default=True)
@click.option('-k', '--k', 'ks', multiple=True, type=click.IntRange(min=1),
              default=(10, 20), show_default=True,
              help='Cut-offs K of HR/MRR/NDCG@K.')
@click.option('--batch-size', default=500, show_default=True,
              type=click.IntRange(min=1))
@click.option('--hybrid-short', type=click.IntRange(min=1), default=None,
              help='Answer the sessions of at most this many clicks with the '
              'model of --short-checkpoint (e.g. a kNN baseline) and the '
              'longer ones with --checkpoint.')
@click.option('--short-checkpoint', default=None,
              help='With --hybrid-short: the checkpoint of the model for the '
              'short sessions, trained on the same data set.')
def evaluate(checkpoint, dataset, root, split, ks, batch_size, hybrid_short,
             short_checkpoint):
    """Evaluate a trained model: HR/MRR/NDCG at each K, Coverage@K and
    Popularity@K of its lists, and HR/MRR/NDCG@K of short (at most 3 clicks)
    and longer sessions, as JSON."""
    from pyg_srgnn.checkpoint import load_checkpoint, model_from_checkpoint
    from pyg_srgnn.data import SessionLoader
    from pyg_srgnn.data.registry import load_dataset
    from pyg_srgnn.nn import HybridModel
    from pyg_srgnn.train import evaluate as run_evaluate

    if (hybrid_short is None) != (short_checkpoint is None):
        raise click.UsageError('--hybrid-short and --short-checkpoint go '
                               'together')
    with user_errors():
        loaded = load_checkpoint(checkpoint)
        model, config = model_from_checkpoint(loaded)
        if short_checkpoint is not None:
            short = load_checkpoint(short_checkpoint)
            if list(short['item_labels']) != list(loaded['item_labels']):
                raise ValueError(f"'{short_checkpoint}' was trained on other "
                                 f"items than '{checkpoint}'; both must come "
                                 f"from the same data set")
            model = HybridModel(model_from_checkpoint(short)[0], model,
                                hybrid_short)
        if root is None and dataset in (None, config.data.dataset):
            root = config.data.root  # where the model's own data set lives
        dataset = dataset or config.data.dataset
        data = load_dataset(dataset, root, split)
        if data.num_items > model.num_items:
            raise ValueError(f"{dataset} has {data.num_items:,} items but "
                             f"the model knows {model.num_items:,}")
        loader = SessionLoader(data, edge_weight=config.data.edge_weight,
                               batch_size=batch_size)
        # With the training counts the checkpoint carries: the lists'
        # coverage and popularity, and the metrics by session length.
        metrics = run_evaluate(model, loader, ks,
                               loaded.get('item_popularity'))
    hybrid = {} if short_checkpoint is None else {
        'short_checkpoint': short_checkpoint, 'hybrid_short': hybrid_short}
    click.echo(json.dumps({'checkpoint': checkpoint, **hybrid,
                           'dataset': dataset, 'split': split,
                           'samples': len(data), **metrics}))


@main.command()
@checkpoint_option
@click.option('--host', default='127.0.0.1', show_default=True)
@click.option('--port', default=8000, show_default=True,
              type=click.IntRange(1, 65535))
@click.option('--max-batch', default=64, show_default=True,
              type=click.IntRange(min=1),
              help='Most sessions scored in one forward pass.')
@click.option('--max-wait-ms', default=0.0, show_default=True,
              type=click.FloatRange(min=0),
              help='How long a batch smaller than --max-batch waits for more '
              'requests; at 0 a batch is what came in while the model was '
              'busy with the previous one.')
@click.option('--no-batching', is_flag=True,
              help='Score every request on its own.')
@click.option('--max-session-length', default=200, show_default=True,
              type=click.IntRange(min=1))
@click.option('--max-k', default=100, show_default=True,
              type=click.IntRange(min=1))
@click.option('--max-body-bytes', default=1 << 20, show_default=True,
              type=click.IntRange(min=1))
@strict_option
@click.option('--threads', type=click.IntRange(min=1), default=None,
              help="Torch CPU threads per worker [default: torch's choice].")
@click.option('--fused-kernel/--no-fused-kernel', default=True,
              show_default=True,
              help="Run SR-GNN's session embedding as the fused CPU kernel "
              "(as fit does; same results, faster), built or loaded before "
              "the server starts; the PyTorch modules run where it cannot "
              "be built or does not apply.")
@click.option('--workers', type=click.IntRange(min=1), default=1,
              show_default=True,
              help="Server processes (uvicorn's workers), each with the "
              "model and its own batches: Python's work per request spread "
              "over several cores. With more than one, SIGHUP reloads "
              "every worker (uvicorn starts a new one before it stops the "
              "old, which closes a connection it accepted but had not yet "
              "read: clients retry); POST /reload only the worker that "
              "answers it.")
def serve(checkpoint, host, port, max_batch, max_wait_ms, no_batching,
          max_session_length, max_k, max_body_bytes, strict, threads,
          fused_kernel, workers):
    """Serve a trained model over HTTP: POST /recommend, /recommend/batch,
    /explain; GET /health, /info; the OpenAPI docs at /docs (needs the
    [serve] extra)."""
    with user_errors():
        try:
            import uvicorn

            from pyg_srgnn.serve import (
                SERVE_ENVIRONMENT,
                ServeOptions,
                app_from_environment,
            )
        except ImportError as e:
            raise ValueError(str(e)) from None
        options = ServeOptions(
            max_batch=max_batch, max_wait_ms=max_wait_ms,
            batching=not no_batching,
            max_session_length=max_session_length, max_k=max_k,
            max_body_bytes=max_body_bytes, strict=strict)
        # Loaded here in any case, so that a bad checkpoint is one message.
        environment = {'checkpoint': checkpoint, 'threads': threads,
                       'fused': fused_kernel,
                       'options': dataclasses.asdict(options)}
        os.environ[SERVE_ENVIRONMENT] = json.dumps(environment)
        app = app_from_environment()
        recommender = app.state.serving['recommender']
        info = app.state.serving['info']
    click.echo(f"Serving {info['title']} "
               f"({recommender.model.num_items:,} items) on "
               f"http://{host}:{port} with {workers} worker(s) (docs: /docs; "
               f"SIGHUP or POST /reload loads the checkpoint again)")
    # No access log, and no reading of proxy headers: the app makes no use
    # of the client's address or scheme, and both cost every request.
    quiet = {'log_level': 'warning', 'access_log': False,
             'proxy_headers': False}
    if workers == 1:
        uvicorn.run(app, host=host, port=port, **quiet)
    else:  # each worker builds its app from the environment
        del app, recommender  # the parent only supervises
        # A worker imports torch and loads the model before it serves: more
        # than uvicorn's 5 s to replace one on SIGHUP, on a busy machine.
        patience = ({'timeout_worker_healthcheck': 120} if (
            'timeout_worker_healthcheck' in inspect.signature(
                uvicorn.Config).parameters) else {})
        uvicorn.run('pyg_srgnn.serve:app_from_environment', factory=True,
                    workers=workers, host=host, port=port, **quiet,
                    **patience)


@main.command()
@click.argument('run_dir', type=click.Path(file_okay=False))
@click.option('--out', default=None,
              help='PNG file to write [default: RUN_DIR/curves.png].')
def plot(run_dir, out):
    """Draw a run's loss and HR/MRR curves to a PNG (needs matplotlib)."""
    from pyg_srgnn.plot import plot_run
    from pyg_srgnn.run_log import RunLog

    out = out or os.path.join(run_dir, 'curves.png')
    with user_errors():
        if not os.path.isfile(os.path.join(run_dir, 'log.jsonl')):
            raise ValueError(f"'{run_dir}' is not a run directory (no "
                             f"log.jsonl)")
        # A run still going, or killed, may end in a partial line.
        plot_run(RunLog.read(run_dir, partial_last=True), out)
    click.echo(f'wrote {out}')


@main.command()
@checkpoint_option
@click.option('--session', required=True,
              help='Item ids in click order, comma-separated, in your own '
              'ids.')
@strict_option
@click.option('--png', default=None, help='Also draw it to this PNG file.')
@click.option('--json', 'as_json', is_flag=True,
              help='Print the explanation as JSON.')
def explain(checkpoint, session, strict, png, as_json):
    """Show one session's graph and each click's attention weight.

    The weight α of a click is its factor in the session's attention sum
    s_g = Σ α_i v_i. SR-GNN does not normalise these weights (no softmax):
    they need not sum to 1 and may be negative.
    """
    from pyg_srgnn.recommend import Recommender

    with user_errors():
        items = parse_session(session, '--session')
        recommender = Recommender.from_checkpoint(checkpoint)
        out = recommender.explain(items, strict)
        if png is not None:
            from pyg_srgnn.plot import plot_explanation
            plot_explanation(out, png)
    if as_json:
        click.echo(json.dumps(out))
        return
    nodes = [format_item(node) for node in out['nodes']]
    click.echo(f"{len(nodes)} nodes, {len(out['edges'])} edges; last click "
               f"on {nodes[out['last_node']]}")
    click.echo(f"{'edge':<24}{'in weight':>10}{'out weight':>11}")
    for edge in out['edges']:
        name = f"{nodes[edge['source']]} -> {nodes[edge['target']]}"
        click.echo(f"{name:<24}{edge['in_weight']:>10.3f}"
                   f"{edge['out_weight']:>11.3f}")
    click.echo(f"{'click':<7}{'item':<16}{'weight α':>10}")
    for c in out['clicks']:
        click.echo(f"{c['position'] + 1:<7}{nodes[c['node']]:<16}"
                   f"{c['attention']:>10.4f}")
    click.echo(f'α: {recommender.model.attention_note}')
    if png is not None:
        click.echo(f'wrote {png}')


if __name__ == '__main__':
    main()
