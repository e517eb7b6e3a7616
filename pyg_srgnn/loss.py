r"""Training losses: they take a model's scores and the targets, so that any
model of the :class:`~pyg_srgnn.nn.SessionModel` contract trains with them."""
import torch.nn.functional as F
from torch import Tensor


def full_softmax_loss(scores: Tensor, target: Tensor) -> Tensor:
    r"""Cross-entropy over all items, as SR-GNN trains.

    Args:
        scores (torch.Tensor): Scores of every item, :obj:`[B, num_items]`
            (column :obj:`j` for item :obj:`j + 1`).
        target (torch.Tensor): The target item ids, :obj:`[B]`.
    """
    return F.cross_entropy(scores, target - 1)
