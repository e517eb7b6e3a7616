from pyg_srgnn.data.dataset import (
    Diginetica,
    DigineticaSample,
    SessionDataset,
    YooChoose,
)
from pyg_srgnn.data.loader import SessionLoader
from pyg_srgnn.data.log_dataset import SessionLogDataset
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.data.sequences import Sequences, prefix_augment
from pyg_srgnn.data.session_graph import SessionGraphs, session_graph_batch
from pyg_srgnn.data.transform import SessionToGraph

__all__ = [
    'Sequences',
    'prefix_augment',
    'session_graph_batch',
    'SessionGraphs',
    'SessionToGraph',
    'SessionLoader',
    'SessionDataset',
    'DigineticaSample',
    'Diginetica',
    'YooChoose',
    'SessionLogDataset',
    'load_dataset',
]
