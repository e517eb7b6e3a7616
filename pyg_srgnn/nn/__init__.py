from pyg_srgnn.nn.hybrid import HybridModel
from pyg_srgnn.nn.session_model import SessionModel
from pyg_srgnn.nn.session_readout import SessionReadout
from pyg_srgnn.nn.srgnn import SRGNN
from pyg_srgnn.nn.srgnn_conv import SRGNNConv, srgnn_norm
from pyg_srgnn.nn.srsan import SRSAN

__all__ = ['SRGNNConv', 'srgnn_norm', 'SessionReadout', 'SessionModel',
           'SRGNN', 'SRSAN', 'HybridModel']
