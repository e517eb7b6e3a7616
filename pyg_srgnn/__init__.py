"""pyg-srgnn: SR-GNN session-based recommendation, the PyG way."""
from pyg_srgnn.nn import SRGNN, SessionReadout, SRGNNConv

__version__ = '0.1.0'

__all__ = ['SRGNN', 'SRGNNConv', 'SessionReadout', '__version__']
