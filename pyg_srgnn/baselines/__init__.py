r"""The classic non-neural baselines of session-based recommendation, as
session-rec defines them (Ludewig and Jannach, 2018; Ludewig et al., 2021),
behind the same :class:`~pyg_srgnn.nn.SessionModel` contract as the neural
models: :meth:`fit` gathers their statistics, :meth:`forward_batch` scores
all items."""
from pyg_srgnn.baselines.baseline import Baseline
from pyg_srgnn.baselines.knn import SKNN, STAN, VSKNN, ItemKNN
from pyg_srgnn.baselines.pop import POP, SPOP

__all__ = ['Baseline', 'POP', 'SPOP', 'ItemKNN', 'SKNN', 'VSKNN', 'STAN']
