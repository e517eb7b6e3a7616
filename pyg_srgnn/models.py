r"""The model registry: what :obj:`pyg-srgnn fit --model NAME` trains.

Each model has its own config dataclass, registered under its name with
:func:`register_model`: the options that belong to that model, with its
defaults (those of its paper or official code), and :meth:`build`, which
makes the model. Everything else of a run (data, training, runtime) is the
same for every model (:class:`pyg_srgnn.config.FitConfig`). Checkpoints
store the model's name with its options, so any registered model loads
wherever a checkpoint is read.

A new model::

    @register_model
    @dataclass
    class MyConfig(ModelConfig):
        name: ClassVar[str] = 'mine'
        title: ClassVar[str] = 'Mine'
        hidden_channels: int = option(64, 'Embedding size.')

        def build(self, num_items, fused=False):
            return MyModel(num_items, self.hidden_channels)
"""
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Dict, List, Optional, Type

from pyg_srgnn.baselines import POP, SKNN, SPOP, STAN, VSKNN, ItemKNN
from pyg_srgnn.baselines.knn import POSITION_WEIGHTS, SCORE_DECAYS
from pyg_srgnn.nn import SRGNN, SRSAN, SessionModel


def option(default, help: str):
    r"""A config field with its default and the help text of its
    :obj:`pyg-srgnn fit` option."""
    return field(default=default, metadata={'help': help})


@dataclass
class ModelConfig(ABC):
    r"""The options of one model. Subclasses set :obj:`name` (the
    :obj:`--model` value), :obj:`title` (how output names the model) and
    :obj:`neural` (trained for epochs by gradient descent, or a baseline
    whose statistics are gathered once), declare their options as fields and
    check them in :meth:`checks`."""
    name: ClassVar[str]
    title: ClassVar[str]
    neural: ClassVar[bool] = True

    @abstractmethod
    def build(self, num_items: int, fused: bool = False) -> SessionModel:
        r"""A new model over :obj:`num_items` items (:obj:`fused`: use the
        compiled session embedding where the model has one)."""

    @abstractmethod
    def describe(self) -> str:
        r"""The model and its sizes, for the first lines of a run."""

    def checks(self) -> List[tuple]:
        r"""(ok, option, what was expected) for each option."""
        return []

    def __post_init__(self):
        for ok, name, expected in self.checks():
            if not ok:
                raise ValueError(f"Invalid '{name}': {getattr(self, name)!r} "
                                 f"(expected {expected})")

    def to_dict(self) -> Dict[str, Any]:
        return {'name': self.name, **asdict(self)}


def at_least_one(config: ModelConfig, *names: str) -> List[tuple]:
    r""":meth:`ModelConfig.checks` that options :obj:`names` are at least
    1."""
    return [(getattr(config, name) >= 1, name, 'at least 1')
            for name in names]


MODELS: Dict[str, Type[ModelConfig]] = {}


def register_model(cls: Type[ModelConfig]) -> Type[ModelConfig]:
    r"""Makes :obj:`cls` the config of the model :obj:`cls.name` (a class
    decorator)."""
    MODELS[cls.name] = cls
    return cls


def model_config(name: str, **options) -> ModelConfig:
    r"""The config of the model :obj:`name` with :obj:`options`, refusing
    an unknown model and another model's options by name."""
    if name not in MODELS:
        raise ValueError(f"Invalid 'model': {name!r} (expected one of "
                         f"{', '.join(MODELS)})")
    cls = MODELS[name]
    own = {f.name for f in fields(cls)}
    for key, value in options.items():
        if key not in own:
            owners = [other for other, other_cls in MODELS.items()
                      if key in {f.name for f in fields(other_cls)}]
            raise ValueError(f"'{key}' is an option of {', '.join(owners)}, "
                             f"not of {name} (got {value!r})")
    return cls(**options)


def model_option_names() -> Dict[str, List[str]]:
    r"""Every model option's name, with the models that have it."""
    out: Dict[str, List[str]] = {}
    for name, cls in MODELS.items():
        for f in fields(cls):
            out.setdefault(f.name, []).append(name)
    return out


@register_model
@dataclass
class SRGNNConfig(ModelConfig):
    r"""SR-GNN (Wu et al., 2019) with NISER's options (Gupta et al.,
    2019)."""
    name: ClassVar[str] = 'srgnn'
    title: ClassVar[str] = 'SR-GNN'

    hidden_channels: int = option(100, 'Embedding and state size d.')
    num_layers: int = option(
        1, 'Propagation steps with shared weights (official --step).')
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
    reverse_positions: bool = option(
        False, "With --positions: count them from the session's last click "
        '(its distance from it, as GCE-GNN) instead of from its first.')

    def checks(self):
        return at_least_one(self, 'hidden_channels', 'num_layers') + [
            (self.norm_scale is None or 0 < self.norm_scale < math.inf,
             'norm_scale', 'positive and finite, or null'),
            (0 <= self.embedding_dropout < 1, 'embedding_dropout',
             'in [0, 1)'),
            (self.positions >= 0, 'positions', 'at least 0'),
            (not self.reverse_positions or self.positions > 0,
             'reverse_positions', 'false without --positions'),
        ]

    def build(self, num_items: int, fused: bool = False) -> SRGNN:
        return SRGNN(num_items, self.hidden_channels, self.num_layers,
                     self.hybrid, fused=fused, norm_scale=self.norm_scale,
                     dropout=self.embedding_dropout,
                     max_positions=self.positions,
                     reverse_positions=self.reverse_positions)

    def describe(self) -> str:
        extras = [text for text, used in (
            (f'NISER scale {self.norm_scale:g}' if self.norm_scale else '',
             self.norm_scale is not None),
            (f'embedding dropout {self.embedding_dropout:g}',
             self.embedding_dropout > 0),
            (f'{self.positions} position embeddings' + (
                ' from the last click' if self.reverse_positions else ''),
             self.positions > 0),
            ('no hybrid readout', not self.hybrid),
        ) if used]
        return (f'SR-GNN d = {self.hidden_channels}, {self.num_layers} '
                f'propagation step(s)' + ''.join(f', {e}' for e in extras))


@register_model
@dataclass
class SRSANConfig(ModelConfig):
    r"""SR-SAN (Fang, 2021), its official code's defaults."""
    name: ClassVar[str] = 'srsan'
    title: ClassVar[str] = 'SR-SAN'

    hidden_channels: int = option(96, 'Embedding and state size d.')
    num_layers: int = option(1, 'Encoder layers.')
    heads: int = option(2, 'Attention heads.')
    ff_channels: int = option(384, 'Feed-forward size.')
    dropout: float = option(0.1, "The encoder's dropout.")
    faithful: bool = option(
        False, "Read the session as the official code does (its distinct "
        "items by id, no padding mask) instead of its clicks in order with "
        "a mask.")

    def checks(self):
        return at_least_one(self, 'hidden_channels', 'num_layers',
                            'ff_channels') + [
            (self.heads >= 1 and self.hidden_channels % self.heads == 0,
             'heads', f'at least 1 and a divisor of hidden_channels '
             f'({self.hidden_channels})'),
            (0 <= self.dropout < 1, 'dropout', 'in [0, 1)'),
        ]

    def build(self, num_items: int, fused: bool = False) -> SRSAN:
        return SRSAN(num_items, self.hidden_channels, self.num_layers,
                     self.heads, self.ff_channels, self.dropout,
                     self.faithful)

    def describe(self) -> str:
        return (f'SR-SAN d = {self.hidden_channels}, {self.num_layers} '
                f'layer(s), {self.heads} heads, feed-forward '
                f'{self.ff_channels}, dropout {self.dropout:g}'
                f'{", faithful" if self.faithful else ""}')


@dataclass
class BaselineConfig(ModelConfig):
    r"""A baseline of session-rec: statistics of the training sessions, no
    epochs."""
    neural: ClassVar[bool] = False
    baseline: ClassVar[type]

    def build(self, num_items: int, fused: bool = False) -> SessionModel:
        return self.baseline(num_items, **self.arguments())

    def arguments(self) -> Dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        values = ', '.join(f'{key} {value}'
                           for key, value in asdict(self).items())
        return self.title + (f' ({values})' if values else '')


@register_model
@dataclass
class POPConfig(BaselineConfig):
    name: ClassVar[str] = 'pop'
    title: ClassVar[str] = 'POP'
    baseline: ClassVar[type] = POP


@register_model
@dataclass
class SPOPConfig(BaselineConfig):
    name: ClassVar[str] = 'spop'
    title: ClassVar[str] = 'S-POP'
    baseline: ClassVar[type] = SPOP


NEIGHBORS_HELP = 'kNN baselines: neighbours per item or session.'


@register_model
@dataclass
class ItemKNNConfig(BaselineConfig):
    name: ClassVar[str] = 'itemknn'
    title: ClassVar[str] = 'ItemKNN'
    baseline: ClassVar[type] = ItemKNN

    neighbors: int = option(100, NEIGHBORS_HELP)
    regularization: float = option(
        20.0, "ItemKNN: added to both items' supports in the cosine's "
        'denominator.')
    alpha: float = option(
        0.5, "ItemKNN: the cosine's balance of the two items' supports.")

    def checks(self):
        return at_least_one(self, 'neighbors') + [
            (0 <= self.regularization < math.inf, 'regularization',
             'non-negative and finite'),
            (0 <= self.alpha <= 1, 'alpha', 'in [0, 1]')]

    def arguments(self):
        return dict(num_neighbors=self.neighbors,
                    regularization=self.regularization, alpha=self.alpha)


@dataclass
class SessionKNNConfig(BaselineConfig):
    neighbors: int = option(100, NEIGHBORS_HELP)
    sample_size: int = option(
        500, 'SKNN, V-SKNN, STAN: candidate sessions per session, the most '
        'recent; 0 for all.')

    def checks(self):
        return at_least_one(self, 'neighbors') + [
            (self.sample_size >= 0, 'sample_size', 'at least 0')]

    def arguments(self):
        out = asdict(self)
        out['k'] = out.pop('neighbors')
        return out


@register_model
@dataclass
class SKNNConfig(SessionKNNConfig):
    name: ClassVar[str] = 'sknn'
    title: ClassVar[str] = 'SKNN'
    baseline: ClassVar[type] = SKNN

    similarity: str = option(
        'cosine', "SKNN, V-SKNN: session similarity, 'cosine', 'jaccard' or "
        "(V-SKNN) 'vec'.")

    def checks(self):
        return super().checks() + [
            (self.similarity in ('cosine', 'jaccard'), 'similarity',
             'one of cosine, jaccard')]


@register_model
@dataclass
class VSKNNConfig(SessionKNNConfig):
    name: ClassVar[str] = 'vsknn'
    title: ClassVar[str] = 'V-SKNN'
    baseline: ClassVar[type] = VSKNN

    similarity: str = option('vec', SKNNConfig.__dataclass_fields__[
        'similarity'].metadata['help'])
    weighting: str = option(
        'div', "V-SKNN: the weights of the session's clicks by position: "
        f"{', '.join(POSITION_WEIGHTS)}.")
    weighting_score: str = option(
        'div', "V-SKNN: the decay of a neighbour's votes with the step of "
        f"the session's latest click it holds: {', '.join(SCORE_DECAYS)}.")
    idf_weighting: float = option(
        1.0, "V-SKNN: the weight of the voted items' idf; 0 for none.")

    def checks(self):
        return super().checks() + [
            (self.similarity in ('vec', 'cosine', 'jaccard'), 'similarity',
             'one of vec, cosine, jaccard'),
            (self.weighting in POSITION_WEIGHTS, 'weighting',
             f"one of {', '.join(POSITION_WEIGHTS)}"),
            (self.weighting_score in SCORE_DECAYS, 'weighting_score',
             f"one of {', '.join(SCORE_DECAYS)}"),
            (0 <= self.idf_weighting < math.inf, 'idf_weighting',
             'non-negative and finite')]


@register_model
@dataclass
class STANConfig(SessionKNNConfig):
    name: ClassVar[str] = 'stan'
    title: ClassVar[str] = 'STAN'
    baseline: ClassVar[type] = STAN

    sample_size: int = option(5000, SessionKNNConfig.__dataclass_fields__[
        'sample_size'].metadata['help'])
    lambda_spw: float = option(
        1.02, "STAN: the current session's clicks weigh exp((position - "
        'length) / lambda_spw).')
    lambda_inh: float = option(
        2.05, "STAN: a neighbour's items weigh exp(-distance / lambda_inh), "
        'the distance in clicks from its last click on an item of the '
        'session.')

    def checks(self):
        return super().checks() + [
            (0 < getattr(self, name) < math.inf, name, 'positive and finite')
            for name in ('lambda_spw', 'lambda_inh')]
