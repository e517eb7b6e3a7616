import math
import os
import sys
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Optional, Tuple, Union

from pyg_srgnn.text_files import decode_text

PROTOCOLS = ('clean', 'paper')
# The models `fit --model` trains, and the defaults that differ between
# them (their official code's); options of one model only are refused for
# the other.
MODELS = ('srgnn', 'srsan', 'pop', 'spop', 'itemknn', 'sknn', 'vsknn')
# Models that gather statistics of the training data instead of training
# for epochs (pyg_srgnn.baselines); they take their defaults.
BASELINES = ('pop', 'spop', 'itemknn', 'sknn', 'vsknn')
MODEL_DEFAULTS = {'srgnn': {'hidden_channels': 100},
                  'srsan': {'hidden_channels': 96},
                  **{name: {'hidden_channels': 100} for name in BASELINES}}
MODEL_ONLY = {
    'srgnn': {'hybrid': True, 'norm_scale': None, 'embedding_dropout': 0.0,
              'positions': 0},
    'srsan': {'heads': 2, 'ff_channels': 384, 'dropout': 0.1,
              'faithful': False},
}
# When StepLR steps: after each epoch, or before it as the official loop.
LR_SCHEDULES = ('step', 'official')
VALID_SPLITS = ('latest', 'random')
# Training settings that suit a data set's size. The paper's suit the
# published splits; on the shipped sample (1,058 training samples under the
# clean protocol) they make 11 steps an epoch and decay the learning rate
# before the model has learnt anything, so it gets its own, chosen on its
# validation split by bench/sample_defaults.py
# (bench/results/sample-defaults.json).
PAPER_SETTINGS = {'batch_size': 100, 'lr_step': 3}
DATASET_SETTINGS = {'diginetica-sample': {'batch_size': 50, 'lr_step': 10}}


def dataset_settings(dataset: str) -> Dict[str, Any]:
    r"""The defaults of the size-dependent settings for :obj:`dataset`."""
    return {**PAPER_SETTINGS, **DATASET_SETTINGS.get(dataset, {})}


def _sized_help(name: str, what: str) -> str:
    special = '; '.join(f'{dataset}: {settings[name]}'
                        for dataset, settings in DATASET_SETTINGS.items())
    return f'{what} [default: {PAPER_SETTINGS[name]}, the paper\'s; {special}]'


# Config-file keys named after an option rather than its field.
CONFIG_KEY_ALIASES = {'k': 'ks'}


def option(default, help: str):
    return field(default=default, metadata={'help': help})


@dataclass
class FitConfig:
    r"""Everything :func:`pyg_srgnn.fit` needs. The defaults are the settings
    of the paper and of the official code, except that :obj:`batch_size` and
    :obj:`lr_step` left at :obj:`None` take the values that suit the data set
    (:func:`dataset_settings`: the paper's, or the shipped sample's own);
    each field's help text is also the help of its :obj:`pyg-srgnn fit`
    option."""
    dataset: str = option('diginetica-sample', 'Data set name.')
    root: Optional[str] = option(
        None, 'Data set directory [default: ~/.cache/pyg_srgnn/DATASET].')
    edge_weight: str = option(
        'binary', "Session graph edges: 'binary' (one per distinct "
        "transition, the official code) or 'count' (transition counts, the "
        "paper's text).")
    model: str = option(
        'srgnn', "The model: 'srgnn' (SR-GNN, Wu et al., 2019), 'srsan' "
        "(SR-SAN, Fang, 2021), or a baseline of session-rec: 'pop', 'spop', "
        "'itemknn', 'sknn', 'vsknn' (statistics of the training sessions, "
        "no epochs).")
    hidden_channels: Optional[int] = option(
        None, 'Embedding and state size d [default: 100; srsan: 96].')
    num_layers: int = option(
        1, 'SR-GNN: propagation steps with shared weights (official '
        '--step); SR-SAN: encoder layers.')
    hybrid: bool = option(
        True, 'Session embedding W3[s_g; v_n] (hybrid) or s_g alone.')
    norm_scale: Optional[float] = option(
        None, 'NISER (Gupta et al., 2019): L2-normalise item and session '
        'embeddings and score with this scale times the cosine (16 in '
        'NISER) [default: dot products, as SR-GNN].')
    embedding_dropout: float = option(
        0.0, 'Dropout on the looked-up item embeddings (NISER+: 0.1).')
    positions: int = option(
        0, 'NISER+: learned embeddings of click positions 1..N added to the '
        "clicks' states before the readout (later clicks share the last); "
        '0 for none. The fused kernel does not cover them.')
    heads: int = option(2, 'SR-SAN: attention heads.')
    ff_channels: int = option(384, 'SR-SAN: feed-forward size.')
    dropout: float = option(0.1, "SR-SAN: the encoder's dropout.")
    faithful: bool = option(
        False, "SR-SAN: read the session as the official code does (its "
        "distinct items by id, no padding mask) instead of its clicks in "
        "order with a mask.")
    epochs: int = option(30, 'Maximum number of epochs.')
    batch_size: Optional[int] = option(
        None, _sized_help('batch_size', 'Training batch size'))
    lr: float = option(1e-3, 'Adam learning rate.')
    weight_decay: float = option(1e-5, "Adam's L2 penalty.")
    lr_step: Optional[int] = option(
        None, _sized_help('lr_step', 'StepLR step size, in epochs'))
    lr_gamma: float = option(0.1, 'StepLR decay factor.')
    patience: int = option(10, 'Epochs without improvement before stopping.')
    protocol: str = option(
        'clean', "'clean': pick the epoch on a validation split cut by "
        "session from the training data, test once. 'paper': the official "
        "loop (scheduler stepped before each epoch) and the best test value "
        "of each metric over epochs, as behind the paper's table.")
    lr_schedule: Optional[str] = option(
        None, "When StepLR steps: 'official' before each epoch, as the "
        "official loop (first decay after lr_step - 1 epochs), 'step' after "
        "each epoch (first decay after lr_step epochs) [default: official "
        "under the paper protocol, step under the clean one].")
    valid_fraction: float = option(
        0.1, 'Clean protocol: share of the training sessions that form the '
        'validation split.')
    valid_split: str = option(
        'latest', "Clean protocol: which training sessions form the "
        "validation split: the 'latest' ones, or 'random' ones (drawn with "
        "the seed).")
    refit: bool = option(
        False, 'Clean protocol: after choosing the number of epochs on the '
        'validation split, train a new model on all training sessions for '
        'that many epochs and test it.')
    monitor: str = option(
        'HR@20', 'Clean protocol: the validation metric that picks the '
        'epoch.')
    ks: Tuple[int, ...] = option((10, 20), 'Cut-offs K of HR/MRR/NDCG@K.')
    seed: int = option(0, 'Random seed (initialisation and shuffling).')
    eval_batch_size: int = option(
        500, 'Evaluation batch size (scores do not depend on it).')
    num_threads: Optional[int] = option(
        None, "Torch CPU threads [default: torch's choice].")
    device: str = option('cpu', "Torch device, e.g. 'cpu' or 'cuda'.")
    keep_freed_memory: bool = option(
        True, "Have glibc's malloc keep freed memory, so that the large "
        "buffers every step re-allocates are not faulted in again (see "
        "pyg_srgnn.allocator); no effect off glibc.")
    fused_kernel: bool = option(
        True, "Run the session embedding as one compiled CPU kernel "
        "(pyg_srgnn.nn.fused; same results, faster), built at first use with "
        "a C++ compiler and ninja; the PyTorch modules run where it cannot "
        "be built or does not apply.")
    run_dir: Optional[str] = option(
        None, 'Output directory [default: runs/DATASET-PROTOCOL-seedN-TIME].')
    progress: bool = option(True, 'Show a progress bar with loss and speed.')

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"Invalid 'model': {self.model!r} (expected one "
                             f"of {', '.join(MODELS)})")
        for name, value in MODEL_DEFAULTS[self.model].items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for other, options in MODEL_ONLY.items():
            for name, default in options.items():
                if other != self.model and getattr(self, name) != default:
                    raise ValueError(
                        f"'{name}' is an option of {other}, not of "
                        f"{self.model} (got {getattr(self, name)!r})")
        for name, value in dataset_settings(self.dataset).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.lr_schedule is None:
            self.lr_schedule = ('official' if self.protocol == 'paper' else
                                'step')
        self.ks = tuple(sorted(set(int(k) for k in self.ks)))
        checks = [
            (self.protocol in PROTOCOLS, 'protocol',
             f"one of {', '.join(PROTOCOLS)}"),
            (self.edge_weight in ('binary', 'count'), 'edge_weight',
             'one of binary, count'),
            (self.lr_schedule in LR_SCHEDULES, 'lr_schedule',
             f"one of {', '.join(LR_SCHEDULES)}"),
            (self.valid_split in VALID_SPLITS, 'valid_split',
             f"one of {', '.join(VALID_SPLITS)}"),
            (not self.refit or self.protocol == 'clean', 'refit',
             'false under the paper protocol, which has no validation '
             'split'),
            (self.hidden_channels >= 1, 'hidden_channels', 'at least 1'),
            (self.num_layers >= 1, 'num_layers', 'at least 1'),
            (self.heads >= 1 and self.hidden_channels % self.heads == 0,
             'heads', f'at least 1 and a divisor of hidden_channels '
             f'({self.hidden_channels})'),
            (self.ff_channels >= 1, 'ff_channels', 'at least 1'),
            (0 <= self.dropout < 1, 'dropout', 'in [0, 1)'),
            (self.norm_scale is None or 0 < self.norm_scale < math.inf,
             'norm_scale', 'positive and finite, or null'),
            (0 <= self.embedding_dropout < 1, 'embedding_dropout',
             'in [0, 1)'),
            (self.positions >= 0, 'positions', 'at least 0'),
            (self.epochs >= 1, 'epochs', 'at least 1'),
            (self.batch_size >= 1, 'batch_size', 'at least 1'),
            (self.eval_batch_size >= 1, 'eval_batch_size', 'at least 1'),
            (0 < self.lr < math.inf, 'lr', 'positive and finite'),
            (0 <= self.weight_decay < math.inf, 'weight_decay',
             'non-negative and finite'),
            (self.lr_step >= 1, 'lr_step', 'at least 1'),
            (0 < self.lr_gamma <= 1, 'lr_gamma', 'in (0, 1]'),
            (self.patience >= 1, 'patience', 'at least 1'),
            (0 < self.valid_fraction < 1, 'valid_fraction', 'in (0, 1)'),
            (len(self.ks) > 0 and self.ks[0] >= 1, 'ks',
             'positive integers'),
            (self.num_threads is None or self.num_threads >= 1,
             'num_threads', 'at least 1'),
            (0 <= self.seed < 2**63, 'seed', 'an integer in [0, 2**63)'),
        ]
        for ok, name, expected in checks:
            if not ok:
                raise ValueError(f"Invalid '{name}': {getattr(self, name)!r} "
                                 f"(expected {expected})")
        check_device_name(self.device)
        name, _, k = self.monitor.partition('@')
        if name not in ('HR', 'MRR', 'NDCG') or not k.isdigit() or int(
                k) not in self.ks:
            raise ValueError(f"Invalid 'monitor': {self.monitor!r} (expected "
                             f"HR@K, MRR@K or NDCG@K with K in {self.ks})")

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out['ks'] = list(self.ks)
        return out

    @classmethod
    def from_dict(cls, values: Dict[str, Any],
                  source: str = 'config') -> 'FitConfig':
        r"""Builds a config from plain values (e.g. a parsed file), refusing
        unknown keys and values of the wrong type by name."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"{source}: unknown key(s) {unknown} (known: "
                             f"{', '.join(known)})")
        for key, value in values.items():
            if not _has_type(value, known[key].type):
                raise ValueError(f"{source}: '{key}' must be "
                                 f"{_type_name(known[key].type)} (got "
                                 f"{value!r})")
        return cls(**values)


def check_device_name(name: str) -> None:
    r"""Refuses a :obj:`device` that is not a torch device name; whether the
    machine has it is checked when training starts."""
    import torch
    try:
        torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"Invalid 'device': {name!r} (expected a torch "
                         f"device such as cpu, cuda or cuda:1)") from None


def _has_type(value: Any, annotation: Any) -> bool:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is Union:  # Optional[X]
        return value is None or _has_type(value, args[0])
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typing.get_origin(annotation) is tuple:  # Tuple[int, ...]
        return isinstance(value, (list, tuple)) and all(
            _has_type(v, int) for v in value)
    return isinstance(value, annotation)


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Union:
        return f'{_type_name(typing.get_args(annotation)[0])} or null'
    if typing.get_origin(annotation) is tuple:
        return 'a list of integers'
    return {bool: 'true or false', int: 'an integer', float: 'a number',
            str: 'a string'}[annotation]


def read_config_file(path: str) -> Dict[str, Any]:
    r"""Reads the options of :obj:`pyg-srgnn fit` from a TOML or YAML file
    (keys are option or :class:`FitConfig` field names, e.g.
    :obj:`batch-size` or :obj:`batch_size`, and :obj:`k` or :obj:`ks`)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == '.toml':
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        parse, errors = tomllib.loads, tomllib.TOMLDecodeError
    elif suffix in ('.yaml', '.yml'):
        try:
            import yaml
        except ImportError:
            raise ValueError(f"{path}: reading YAML needs PyYAML (pip "
                             f"install pyyaml), or use TOML") from None
        parse, errors = yaml.safe_load, yaml.YAMLError
    else:
        raise ValueError(f"{path}: unknown config format '{suffix}' "
                         f"(expected .toml, .yaml or .yml)")
    try:
        with open(path, 'rb') as f:
            text = decode_text(f.read(), path)
        values = parse(text)
    except OSError as e:
        raise ValueError(f"{path}: cannot read the config file "
                         f"({e.strerror})") from None
    except errors as e:
        raise ValueError(f"{path}: not valid {suffix[1:].upper()} "
                         f"({str(e).splitlines()[0]})") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a table of options at the top "
                         f"level")
    # Keys follow the options' names; `-k` is the option of the field `ks`.
    return {CONFIG_KEY_ALIASES.get(key, key.replace('-', '_')): value
            for key, value in values.items()}
