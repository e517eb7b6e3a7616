r"""The options of a run, in four sections: :class:`DataConfig` (what it
reads), the model's own config (:mod:`pyg_srgnn.models`),
:class:`TrainingConfig` (how it trains and chooses) and
:class:`RuntimeConfig` (where and how fast it runs: the only options that
may change when a run resumes, since they do not change its result).
:class:`FitConfig` holds the four; :meth:`FitConfig.from_options` builds it
from the flat option names of :obj:`pyg-srgnn fit` and config files."""
import math
import os
import sys
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple, Union

from pyg_srgnn.models import (
    MODELS,
    ModelConfig,
    SRGNNConfig,
    model_config,
    option,
)
from pyg_srgnn.sampling import SAMPLERS
from pyg_srgnn.text_files import decode_text

PROTOCOLS = ('clean', 'paper')
# When StepLR steps: after each epoch, or before it as the official loop;
# or no StepLR: a cosine decay over the epochs, set at every batch.
LR_SCHEDULES = ('step', 'official', 'cosine')
VALID_SPLITS = ('latest', 'random')
LOSSES = ('full', 'sampled')
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


def _check(section: Any, checks: List[tuple]) -> None:
    for ok, name, expected in checks:
        if not ok:
            raise ValueError(f"Invalid '{name}': {getattr(section, name)!r} "
                             f"(expected {expected})")


@dataclass
class DataConfig:
    r"""The data a run reads."""
    dataset: str = option('diginetica-sample', 'Data set name.')
    root: Optional[str] = option(
        None, 'Data set directory [default: ~/.cache/pyg_srgnn/DATASET].')
    edge_weight: str = option(
        'binary', "Session graph edges: 'binary' (one per distinct "
        "transition, the official code) or 'count' (transition counts, the "
        "paper's text).")

    def __post_init__(self):
        _check(self, [(self.edge_weight in ('binary', 'count'), 'edge_weight',
                       'one of binary, count')])


@dataclass
class TrainingConfig:
    r"""How a run trains, chooses its model and measures it. The defaults
    are the paper's, except that :obj:`batch_size` and :obj:`lr_step` left
    at :obj:`None` take the values that suit the data set
    (:func:`dataset_settings`) and :obj:`refit` left at :obj:`None` is on
    under the clean protocol (see :class:`FitConfig`)."""
    protocol: str = option(
        'clean', "'clean': choose the number of epochs on a validation "
        "split cut by session from the training data, then (refit) train "
        "on all training data for that many and test once. 'paper': the "
        "official loop and the best test value of each metric over epochs, "
        "as behind the paper's table.")
    epochs: int = option(30, 'Maximum number of epochs.')
    batch_size: Optional[int] = option(
        None, _sized_help('batch_size', 'Training batch size'))
    lr: float = option(1e-3, 'Adam learning rate.')
    weight_decay: float = option(1e-5, "Adam's L2 penalty.")
    lr_step: Optional[int] = option(
        None, _sized_help('lr_step', 'StepLR step size, in epochs'))
    lr_gamma: float = option(0.1, 'StepLR decay factor.')
    lr_schedule: str = option(
        'official', "When StepLR steps: 'official' before each epoch, as the "
        "official loop (first decay after lr_step - 1 epochs), 'step' after "
        "each epoch (first decay after lr_step epochs); or 'cosine': no "
        "StepLR, the learning rate set at every batch to follow a half "
        "cosine from lr to 0 over --epochs (Loshchilov & Hutter, 2017), "
        "after --lr-warmup epochs of linear warm-up.")
    lr_warmup: float = option(
        0.0, "With --lr-schedule cosine: epochs (may be fractional) of "
        "linear warm-up from 0 to lr before the cosine decay.")
    patience: int = option(10, 'Epochs without improvement before stopping.')
    valid_fraction: float = option(
        0.1, 'Clean protocol: share of the training sessions that form the '
        'validation split.')
    valid_split: str = option(
        'latest', "Clean protocol: which training sessions form the "
        "validation split: the 'latest' ones, or 'random' ones (drawn with "
        "the seed).")
    refit: Optional[bool] = option(
        None, 'Clean protocol: after choosing the number of epochs on the '
        'validation split, train a new model on all training sessions for '
        'that many epochs and test it (a baseline gathers its statistics '
        'again from all of them) [default: on under the clean protocol; '
        'the paper protocol has no validation split].')
    loss: str = option(
        'full', "'full': softmax over all items, as SR-GNN trains. "
        "'sampled': sampled softmax against --num-negatives items shared by "
        "a batch (logQ-corrected, accidental hits masked); the item table "
        "then gets sparse row gradients and a lazy Adam update, for large "
        "catalogues. Evaluation stays a full ranking.")
    num_negatives: int = option(
        8192, "Sampled softmax: negatives per batch (the 'in-batch' sampler "
        "uses the batch's other targets instead).")
    sampler: str = option(
        'popularity', "Sampled softmax: how negatives are drawn: "
        "'uniform', 'popularity' (by training clicks + 1) or 'in-batch'.")
    label_smoothing: float = option(
        0.0, "Full softmax: label smoothing epsilon (Szegedy et al., 2016): "
        "the target's share of the training distribution is 1 - epsilon "
        "and every item gets epsilon / num_items; 0 for none, as SR-GNN.")
    monitor: str = option(
        'HR@20', 'Clean protocol: the validation metric that picks the '
        'epoch.')
    ks: Tuple[int, ...] = option((10, 20), 'Cut-offs K of HR/MRR/NDCG@K.')
    seed: int = option(0, 'Random seed (initialisation and shuffling).')

    def __post_init__(self):
        self.ks = tuple(sorted(set(int(k) for k in self.ks)))
        if self.refit is None:
            self.refit = self.protocol == 'clean'
        _check(self, [
            (self.protocol in PROTOCOLS, 'protocol',
             f"one of {', '.join(PROTOCOLS)}"),
            (self.lr_schedule in LR_SCHEDULES, 'lr_schedule',
             f"one of {', '.join(LR_SCHEDULES)}"),
            (self.valid_split in VALID_SPLITS, 'valid_split',
             f"one of {', '.join(VALID_SPLITS)}"),
            (not self.refit or self.protocol == 'clean', 'refit',
             'false under the paper protocol, which has no validation '
             'split'),
            (self.epochs >= 1, 'epochs', 'at least 1'),
            (self.batch_size is None or self.batch_size >= 1, 'batch_size',
             'at least 1'),
            (0 < self.lr < math.inf, 'lr', 'positive and finite'),
            (0 <= self.weight_decay < math.inf, 'weight_decay',
             'non-negative and finite'),
            (self.lr_step is None or self.lr_step >= 1, 'lr_step',
             'at least 1'),
            (0 < self.lr_gamma <= 1, 'lr_gamma', 'in (0, 1]'),
            (0 <= self.lr_warmup < self.epochs, 'lr_warmup',
             f'in [0, epochs) = [0, {self.epochs})'),
            (self.lr_warmup == 0 or self.lr_schedule == 'cosine',
             'lr_warmup', "0 unless lr_schedule is 'cosine'"),
            (self.patience >= 1, 'patience', 'at least 1'),
            (0 < self.valid_fraction < 1, 'valid_fraction', 'in (0, 1)'),
            (len(self.ks) > 0 and self.ks[0] >= 1, 'ks',
             'positive integers'),
            (0 <= self.seed < 2**63, 'seed', 'an integer in [0, 2**63)'),
            (self.loss in LOSSES, 'loss', f"one of {', '.join(LOSSES)}"),
            (self.num_negatives >= 1, 'num_negatives', 'at least 1'),
            (self.sampler in SAMPLERS, 'sampler',
             f"one of {', '.join(SAMPLERS)}"),
            (0 <= self.label_smoothing < 1, 'label_smoothing', 'in [0, 1)'),
            (self.label_smoothing == 0 or self.loss == 'full',
             'label_smoothing', "0 with loss 'sampled' (it smooths the "
             "full softmax)"),
        ])
        name, _, k = self.monitor.partition('@')
        if name not in ('HR', 'MRR', 'NDCG') or not k.isdigit() or int(
                k) not in self.ks:
            raise ValueError(f"Invalid 'monitor': {self.monitor!r} (expected "
                             f"HR@K, MRR@K or NDCG@K with K in {self.ks})")


@dataclass
class RuntimeConfig:
    r"""Where and how a run computes: options that do not change its
    result, the only ones a resumed run may change."""
    device: str = option('cpu', "Torch device, e.g. 'cpu' or 'cuda'.")
    num_threads: Optional[int] = option(
        None, "Torch CPU threads [default: torch's choice].")
    fused_kernel: bool = option(
        True, "Run the session embedding as one compiled CPU kernel "
        "(pyg_srgnn.nn.fused; same results, faster), built at first use with "
        "a C++ compiler and ninja; the PyTorch modules run where it cannot "
        "be built or does not apply.")
    keep_freed_memory: bool = option(
        True, "Have glibc's malloc keep freed memory, so that the large "
        "buffers every step re-allocates are not faulted in again (see "
        "pyg_srgnn.allocator); no effect off glibc.")
    eval_batch_size: int = option(
        500, 'Evaluation batch size (scores do not depend on it).')
    run_dir: Optional[str] = option(
        None, 'Output directory [default: runs/DATASET-PROTOCOL-seedN-TIME].')
    progress: bool = option(True, 'Show a progress bar with loss and speed.')

    def __post_init__(self):
        _check(self, [
            (self.num_threads is None or self.num_threads >= 1,
             'num_threads', 'at least 1'),
            (self.eval_batch_size >= 1, 'eval_batch_size', 'at least 1'),
        ])
        check_device_name(self.device)


SECTIONS = {'data': DataConfig, 'training': TrainingConfig,
            'runtime': RuntimeConfig}


@dataclass
class FitConfig:
    r"""Everything :func:`pyg_srgnn.train.fit` needs, by section: the data,
    the model (its registered config, :mod:`pyg_srgnn.models`), the
    training and the runtime. Built from flat option names with
    :meth:`from_options`; :meth:`to_dict` and :meth:`from_dict` give and
    read the sectioned form that run directories and checkpoints store.

    The size-dependent training settings left at :obj:`None` are resolved
    for the data set here, so a saved config holds the values used."""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=SRGNNConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self):
        for name, value in dataset_settings(self.data.dataset).items():
            if getattr(self.training, name) is None:
                setattr(self.training, name, value)
        # Training options that only a model trained by epochs can take.
        for name, default, said in (('loss', 'full', "'full'"),
                                    ('label_smoothing', 0.0, '0')):
            value = getattr(self.training, name)
            if value != default and not self.model.neural:
                raise ValueError(f"Invalid '{name}': {value!r} (expected "
                                 f"{said} for {self.model_name}, which "
                                 f"trains no epochs)")

    @property
    def model_name(self) -> str:
        return self.model.name

    @classmethod
    def from_options(cls, **options) -> 'FitConfig':
        r"""A config from flat option names (:obj:`model` names the model;
        the rest go to their section, a model's to its config), refusing
        unknown options and another model's options by name."""
        sections: Dict[str, Dict[str, Any]] = {name: {} for name in SECTIONS}
        owner = {f.name: name for name, section in SECTIONS.items()
                 for f in fields(section)}
        model_options = {}
        for key, value in options.items():
            if key == 'model':
                continue
            if key in owner:
                sections[owner[key]][key] = value
            elif any(key in {f.name for f in fields(c)}
                     for c in MODELS.values()):
                model_options[key] = value
            else:
                raise ValueError(f"Unknown option '{key}'")
        model = model_config(options.get('model', 'srgnn'), **model_options)
        return cls(data=DataConfig(**sections['data']), model=model,
                   training=TrainingConfig(**sections['training']),
                   runtime=RuntimeConfig(**sections['runtime']))

    def options(self) -> Dict[str, Any]:
        r"""The flat options (as :meth:`from_options` takes them)."""
        model = self.model.to_dict()
        return {**asdict(self.data), 'model': model.pop('name'), **model,
                **asdict(self.training), **asdict(self.runtime)}

    def replace(self, **options) -> 'FitConfig':
        r"""A copy with :obj:`options` (flat names) changed."""
        return FitConfig.from_options(**{**self.options(), **options})

    def to_dict(self) -> Dict[str, Any]:
        training = asdict(self.training)
        training['ks'] = list(self.training.ks)
        return {'data': asdict(self.data), 'model': self.model.to_dict(),
                'training': training, 'runtime': asdict(self.runtime)}

    @classmethod
    def from_dict(cls, values: Dict[str, Any],
                  source: str = 'config') -> 'FitConfig':
        r"""Reads :meth:`to_dict`'s form, refusing unknown keys and values
        of the wrong type by name. The flat form that run directories and
        checkpoints held before the sections is read too: other models'
        options, which it held at their defaults, are dropped, and options
        it predates take what such runs did (:func:`saved_run_defaults`)."""
        if not isinstance(values, dict):
            raise ValueError(f"{source}: expected a table of options")
        if 'training' not in values:
            return cls._from_flat(values, source)
        unknown = sorted(set(values) - {*SECTIONS, 'model'})
        if unknown:
            raise ValueError(f"{source}: unknown section(s) {unknown} "
                             f"(known: data, model, training, runtime)")
        sections = {name: section(**_typed(values.get(name, {}),
                                           _fields(section),
                                           f'{source}: {name}'))
                    for name, section in SECTIONS.items()}
        model = values.get('model', {})
        if not isinstance(model, dict):
            raise ValueError(f"{source}: model: expected a table")
        model = dict(model)
        model_cls = _model_class(model.pop('name', 'srgnn'), source)
        model = model_cls(**_typed(model, _fields(model_cls),
                                   f'{source}: model'))
        return cls(model=model, **sections)

    @classmethod
    def _from_flat(cls, values: Dict[str, Any], source: str) -> 'FitConfig':
        values = {**saved_run_defaults(values), **values}
        name = values.get('model', 'srgnn')
        known = {f.name: f for section in (*SECTIONS.values(),
                                           _model_class(name, source))
                 for f in fields(section)}
        others = {f.name for model in MODELS.values() for f in fields(model)}
        kept = {key: value for key, value in values.items()
                if key in known or key not in others}
        kept.pop('model', None)
        _typed(kept, known, source)
        return cls.from_options(model=name, **kept)


def _typed(values: Any, known: Dict[str, Any], source: str) -> Dict[str, Any]:
    r""":obj:`values` checked against the dataclass fields :obj:`known`, by
    name: unknown keys and values of the wrong type are refused."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: expected a table")
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{source}: unknown key(s) {unknown} (known: "
                         f"{', '.join(known)})")
    for key, value in values.items():
        if not _has_type(value, known[key].type):
            raise ValueError(f"{source}: '{key}' must be "
                             f"{_type_name(known[key].type)} (got "
                             f"{value!r})")
    return values


def _fields(cls: type) -> Dict[str, Any]:
    return {f.name: f for f in fields(cls)}


def _model_class(name: Any, source: str) -> type:
    if name not in MODELS:
        raise ValueError(f"{source}: unknown model {name!r} (expected one "
                         f"of {', '.join(MODELS)})")
    return MODELS[name]


def saved_run_defaults(values: Dict[str, Any]) -> Dict[str, Any]:
    r"""What a run did about the options its saved :obj:`config.json`
    (:obj:`values`) may lack because it was written before they existed:
    StepLR stepped after each epoch under the clean protocol, no refit, the
    latest sessions as the validation split. Today's defaults differ, so
    such a run resumes as it started."""
    return {'lr_schedule': ('official' if values.get('protocol') == 'paper'
                            else 'step'),
            'refit': False, 'valid_split': 'latest'}


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
    # The sections of a run's config.json may be tables of their own; the
    # model's table names the model.
    flat: Dict[str, Any] = {}
    for key, value in values.items():
        if key in (*SECTIONS, 'model') and isinstance(value, dict):
            value = dict(value)
            if key == 'model' and 'name' in value:
                flat['model'] = value.pop('name')
            flat.update(value)
        else:
            flat[key] = value
    # Keys follow the options' names; `-k` is the option of the field `ks`.
    return typed_options({CONFIG_KEY_ALIASES.get(key, key.replace('-', '_')):
                          value for key, value in flat.items()}, path)


PRESETS_DIR = os.path.join(os.path.dirname(__file__), 'presets')


def preset_names() -> List[str]:
    r"""The presets shipped with pyg-srgnn: TOML config files in
    :obj:`pyg_srgnn/presets`, each naming its source."""
    return sorted(name[:-len('.toml')] for name in os.listdir(PRESETS_DIR)
                  if name.endswith('.toml'))


def read_preset(name: str) -> Dict[str, Any]:
    r"""The options of the preset :obj:`name` (:func:`preset_names`)."""
    if name not in preset_names():
        raise ValueError(f"Unknown preset {name!r} (expected one of "
                         f"{', '.join(preset_names())})")
    return read_config_file(os.path.join(PRESETS_DIR, f'{name}.toml'))


def option_fields() -> Dict[str, Any]:
    r"""Every option's dataclass field, by name: the sections' and every
    model's (an option several models have has one type)."""
    out = {f.name: f for model in MODELS.values() for f in fields(model)}
    out.update({f.name: f for section in SECTIONS.values()
                for f in fields(section)})
    out['model'] = field(default='srgnn')
    out['model'].type = str
    return out


def typed_options(values: Dict[str, Any], source: str) -> Dict[str, Any]:
    r"""Flat :obj:`values` (e.g. of a config file), refusing unknown
    options and values of the wrong type by name."""
    return _typed(values, option_fields(), source)
