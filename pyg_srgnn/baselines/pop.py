r"""POP and S-POP, session-rec's popularity baselines."""
import torch
from torch import Tensor

from pyg_srgnn.baselines.baseline import Baseline, SessionNodes


class POP(Baseline):
    r"""POP, session-rec's :obj:`Pop` (`"Evaluation of Session-based
    Recommendation Algorithms" <https://arxiv.org/abs/1803.09587>`_, Ludewig
    and Jannach, 2018): the items clicked most often in the training
    sessions, the same list for every session.

    .. math::
        \hat{y}_{s,i} = \mathrm{supp}_i

    with :math:`\mathrm{supp}_i` the clicks on item :math:`i` in the
    training sessions (session-rec's :math:`\mathrm{supp}_i /
    (1 + \mathrm{supp}_i)` orders items alike). Ties go to the lower item id,
    as in :func:`~pyg_srgnn.popularity.popularity_rank`. session-rec's
    :obj:`top_n` (default: all items) only shortens the returned list.

    The POP printed beside every :obj:`pyg-srgnn fit` run
    (:func:`~pyg_srgnn.popularity.session_popularity`) counts the same way.

    Args:
        num_items (int): The number of items (the largest item id).
    """
    def item_scores(self, nodes: SessionNodes) -> Tensor:
        return self.popularity[1:].float().expand(nodes.num_sessions, -1)


class SPOP(Baseline):
    r"""S-POP, session-rec's :obj:`SessionPop` (`"Evaluation of
    Session-based Recommendation Algorithms"
    <https://arxiv.org/abs/1803.09587>`_, Ludewig and Jannach, 2018): the
    items of the current session by how often they were clicked in it,
    ties and all other items in POP's order.

    .. math::
        \hat{y}_{s,i} = \mathrm{count}_s(i) +
        \frac{\mathrm{supp}_i}{1 + \mathrm{supp}_i}

    as session-rec scores it, :math:`\mathrm{count}_s(i)` the clicks on
    :math:`i` in session :math:`s` and :math:`\mathrm{supp}_i` those in the
    training sessions; here the second term is POP's order itself, which
    also orders items of equal support by id
    (:class:`~pyg_srgnn.baselines.baseline.Baseline`). session-rec keeps
    the popularity term for its :obj:`top_n = 100` most popular items only;
    all items keep it here, which orders what session-rec leaves tied (a
    session's less popular items of equal count, and the items beyond the
    100 most popular outside the session).

    Args:
        num_items (int): The number of items (the largest item id).
    """
    def item_scores(self, nodes: SessionNodes) -> Tensor:
        scores = torch.zeros(nodes.num_sessions, self.num_items,
                             device=nodes.item.device)  # [B, num_items]
        scores[nodes.batch, nodes.item - 1] = nodes.count.float()
        return scores
