from torch import Tensor

from pyg_srgnn.nn.session_model import SessionModel


def session_lengths(data) -> Tensor:
    r"""The clicks of every session of a batch built by
    :class:`~pyg_srgnn.data.SessionLoader`, :obj:`[B]`."""
    return data.batch[data.alias_index].bincount(minlength=data.num_graphs)


class HybridModel(SessionModel):
    r"""Answers the sessions of at most :obj:`max_short` clicks with
    :obj:`short_model` and the longer ones with :obj:`long_model`, e.g. a
    kNN baseline for the short sessions, where session GNNs are said to
    struggle, and SR-GNN for the rest. Both models are trained already
    and rank the same items.

    Scores are :obj:`float64` (a baseline's scores carry its tie-breaking in
    the low bits); a row's order is its model's order.

    Args:
        short_model (SessionModel): The model of the short sessions.
        long_model (SessionModel): The model of the longer sessions.
        max_short (int): The most clicks of a short session.
    """
    neural = False

    def __init__(self, short_model: SessionModel, long_model: SessionModel,
                 max_short: int):
        if short_model.num_items != long_model.num_items:
            raise ValueError(f"The two models rank different items "
                             f"({short_model.num_items:,} and "
                             f"{long_model.num_items:,})")
        if max_short < 1:
            raise ValueError(f"'max_short' must be at least 1 (got "
                             f"{max_short})")
        super().__init__(long_model.num_items)
        self.short_model = short_model
        self.long_model = long_model
        self.max_short = max_short

    def forward_batch(self, data) -> Tensor:
        short = session_lengths(data) <= self.max_short
        scores = self.long_model.forward_batch(data).double()
        if bool(short.any()):
            scores[short] = self.short_model.forward_batch(data)[
                short].double()
        return scores

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(short_model={self.short_model!r}, '
                f'long_model={self.long_model.__class__.__name__}, '
                f'max_short={self.max_short})')
