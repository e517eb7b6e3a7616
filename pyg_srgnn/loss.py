r"""Training losses, outside the models: any model of the
:class:`~pyg_srgnn.nn.SessionModel` contract trains with them (the full
softmax takes its scores of every item; sampled softmax its session
embeddings and :meth:`item_logits` of some items)."""
import torch
import torch.nn.functional as F
from torch import Tensor


def full_softmax_loss(scores: Tensor, target: Tensor,
                      label_smoothing: float = 0.0) -> Tensor:
    r"""Cross-entropy over all items, as SR-GNN trains.

    Args:
        scores (torch.Tensor): Scores of every item, :obj:`[B, num_items]`
            (column :obj:`j` for item :obj:`j + 1`).
        target (torch.Tensor): The target item ids, :obj:`[B]`.
        label_smoothing (float, optional): Label smoothing :math:`\epsilon`
            (Szegedy et al., 2016): the target's share of the training
            distribution is :math:`1 - \epsilon` and every item gets
            :math:`\epsilon / \text{num\_items}`. (default: :obj:`0.0`)
    """
    return F.cross_entropy(scores, target - 1,
                           label_smoothing=label_smoothing)


class FullSoftmaxLoss:
    r"""The full softmax as a training loss of a model and a batch, with
    label smoothing (:func:`full_softmax_loss`).

    Args:
        label_smoothing (float): Label smoothing :math:`\epsilon`.
    """
    sparse_grad = False  # the whole item table gets a gradient

    def __init__(self, label_smoothing: float):
        self.label_smoothing = label_smoothing

    def __call__(self, model, batch) -> Tensor:
        return full_softmax_loss(model.forward_batch(batch), batch.y,
                                 self.label_smoothing)


class SampledSoftmaxLoss:
    r"""Sampled softmax (Jean et al., 2015): each sample's target against
    the negatives the batch shares (:mod:`pyg_srgnn.sampling`), every logit
    corrected by :math:`-\log Q` of its item (Yi et al., RecSys 2019), and
    a negative equal to the sample's target masked (an accidental hit).

    Only the rows of the items scored (and those looked up by the session
    embedding) get a gradient, a sparse one, so that a step no longer
    touches the whole item table (:class:`~pyg_srgnn.optim.LazyAdam`
    updates those rows only).

    Args:
        sampler (NegativeSampler): Draws the negatives.
    """
    sparse_grad = True  # only the rows scored get a gradient

    def __init__(self, sampler):
        self.sampler = sampler

    def __call__(self, model, batch) -> Tensor:
        target = batch.y
        size = target.numel()
        items = torch.cat([target, self.sampler.sample(target)])
        session = model.session_embedding_batch(batch, sparse_grad=True)
        logits = model.item_logits(session, items, sparse_grad=True)
        logits = logits - self.sampler.log_q(items, size).view(1, -1)
        own = torch.zeros_like(logits, dtype=torch.bool)
        rows = torch.arange(size, device=target.device)
        own[rows, rows] = True
        # Accidental hits: the target again, as another sample's target or
        # as a negative drawn.
        masked = (items.view(1, -1) == target.view(-1, 1)) & ~own
        if not self.sampler.in_batch:  # the other targets are no negatives
            masked[:, :size] |= ~own[:, :size]
        logits = logits.masked_fill(masked, float('-inf'))
        return F.cross_entropy(logits, rows)
