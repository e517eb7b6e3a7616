import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from pyg_srgnn.checkpoint import load_checkpoint, model_from_checkpoint
from pyg_srgnn.data.session_graph import (
    session_graph_batch,
    sessions_to_tensors,
)
from pyg_srgnn.nn import SessionModel, srgnn_norm
from pyg_srgnn.popularity import popular_items
from pyg_srgnn.ranking import ItemRanker

ItemId = Union[str, int]
FALLBACKS = (None, 'popular', 'empty')


class Recommender:
    r"""A trained SR-GNN together with its item-id mapping: sessions in the
    user's own item ids in, recommendations in the same ids out.

    Args:
        model (SessionModel): The trained model.
        item_labels (list of str): The user's id of every item:
            :obj:`item_labels[i - 1]` for model item :obj:`i`.
        edge_weight (str, optional): The session graph weighting the model
            was trained with. (default: :obj:`"binary"`)
        popularity (torch.Tensor, optional): A count per model item (index
            :obj:`i` for item :obj:`i`), used by :obj:`fallback="popular"`.

    Example:
        >>> rec = Recommender.from_checkpoint('runs/.../checkpoint.pt')
        >>> rec.recommend([['81766', '31331']], k=5)
        [['...', '...', '...', '...', '...']]
    """
    def __init__(self, model: SessionModel, item_labels: Sequence[str],
                 edge_weight: str = 'binary',
                 popularity: Optional[torch.Tensor] = None):
        if len(item_labels) != model.num_items:
            raise ValueError(f"Expected one label per item ({model.num_items})"
                             f", got {len(item_labels)}")
        self.model = model.eval()
        self.item_labels = [str(label) for label in item_labels]
        self.item_index: Dict[str, int] = {
            label: i + 1 for i, label in enumerate(self.item_labels)
        }
        self.edge_weight = edge_weight
        self.popularity = popularity
        self._ranker: Optional[ItemRanker] = None
        self._ranker_of: Optional[Tuple[int, int]] = None

    def ranker(self) -> Optional[ItemRanker]:
        r"""The :class:`~pyg_srgnn.ranking.ItemRanker` of the model's
        scoring rows, built once and again only after the item table changed
        (e.g. by more training); :obj:`None` for a model scored otherwise
        (the baselines)."""
        embedding = getattr(self.model, 'embedding', None)
        if embedding is None:
            return None
        key = (embedding.weight.data_ptr(), embedding.weight._version)
        if key != self._ranker_of:
            with torch.no_grad():
                self._ranker = ItemRanker(self.model.scoring_rows())
            self._ranker_of = key
        return self._ranker

    @torch.no_grad()
    def score(self, sessions: Sequence[Sequence[int]]) -> torch.Tensor:
        r"""The score of every item for each session of model items,
        :obj:`[B, num_items]`, column :obj:`j` for item :obj:`j + 1` (as
        :meth:`~pyg_srgnn.nn.SessionModel.score_sessions`, to rounding)."""
        ranker = self.ranker()
        if ranker is None:
            return self.model.score_sessions(sessions, self.edge_weight)
        return ranker.scores(self._embed(sessions))

    @torch.no_grad()
    def top_items(self, sessions: Sequence[Sequence[int]], k: int,
                  exclude_seen: Union[bool, Sequence[bool]] = False
                  ) -> Tuple[torch.Tensor, torch.Tensor]:
        r"""The scores and model ids of the :obj:`k` best items of each
        session of model items, best first, :obj:`[B, k]` (:obj:`k` at most
        the number of items). A session's own items are left out where
        :obj:`exclude_seen` says (one flag for all sessions, or one each):
        they end its list, scored :obj:`-inf`."""
        model = self.model
        k = min(k, model.num_items)
        if isinstance(exclude_seen, bool):
            exclude_seen = [exclude_seen] * len(sessions)
        exclude = None
        if any(exclude_seen):
            pairs = [(row, item - 1) for row, (session, seen) in enumerate(
                zip(sessions, exclude_seen)) if seen for item in set(session)]
            if pairs:
                exclude = tuple(torch.tensor(pairs, device=model.device).t())
        ranker = self.ranker()
        if ranker is not None:
            values, columns = ranker.topk(self._embed(sessions), k, exclude)
            return values, columns + 1
        scores = model.score_sessions(sessions, self.edge_weight)
        if exclude is not None:
            scores[exclude] = float('-inf')
        values, columns = scores.topk(k, dim=1)
        return values, columns + 1

    def _embed(self, sessions: Sequence[Sequence[int]]) -> torch.Tensor:
        model = self.model
        clicks, ptr = sessions_to_tensors(sessions, model.num_items)
        data = session_graph_batch(clicks.to(model.device),
                                   ptr.to(model.device),
                                   edge_weight=self.edge_weight)
        if not model.training:
            return model.session_embedding_batch(data)
        model.eval()  # trained further since: scored as in eval all the same
        try:
            return model.session_embedding_batch(data)
        finally:
            model.train()

    @classmethod
    def from_checkpoint(cls, path: str,
                        map_location='cpu') -> 'Recommender':
        checkpoint = load_checkpoint(path, map_location)
        model, config = model_from_checkpoint(checkpoint)
        return cls(model, checkpoint['item_labels'], config.data.edge_weight,
                   checkpoint.get('item_popularity'))

    def split_known(self, session: Sequence[ItemId]
                    ) -> Tuple[List[int], List[str]]:
        r"""The model items of the ids of :obj:`session` that the model
        knows, in click order, and the ids it does not know."""
        known, unknown = [], []
        for item in session:
            index = self.item_index.get(str(item).strip())
            if index is None:
                unknown.append(str(item))
            else:
                known.append(index)
        return known, unknown

    def encode(self, session: Sequence[ItemId], strict: bool = False,
               name: str = 'Session 0') -> List[int]:
        r"""Maps a session's item ids to model items. Unknown ids are
        dropped with a warning, or raise a :class:`ValueError` if
        :obj:`strict`; messages call the session :obj:`name`."""
        known, unknown = self.split_known(session)
        if unknown:
            message = (f"{name}: unknown item id(s) "
                       f"{', '.join(repr(u) for u in unknown[:5])}"
                       f"{' ...' if len(unknown) > 5 else ''} (the model "
                       f"knows {len(self.item_labels):,} items)")
            if strict:
                raise ValueError(message)
            warnings.warn(message + '; dropped', stacklevel=3)
        return known

    def recommend(self, sessions: Sequence[Sequence[ItemId]], k: int = 20,
                  strict: bool = False, fallback: Optional[str] = None,
                  names: Optional[Sequence[str]] = None) -> List[List[str]]:
        r"""Returns the :obj:`k` best items for each session, best first, in
        the user's item ids.

        Args:
            sessions (list of lists): Item ids in click order.
            k (int, optional): How many items. (default: :obj:`20`)
            strict (bool, optional): Refuse unknown item ids instead of
                dropping them. (default: :obj:`False`)
            fallback (str, optional): For a session with no known item:
                :obj:`None` raises a :class:`ValueError`, :obj:`"popular"`
                returns POP's items (the most clicked in training),
                :obj:`"empty"` an empty list, with a warning.
                (default: :obj:`None`)
            names (list of str, optional): What messages call each session,
                e.g. the line of a file it came from.
                (default: :obj:`"Session 0"`, :obj:`"Session 1"`, ...)
        """
        if fallback not in FALLBACKS:
            raise ValueError(f"Unknown fallback {fallback!r} (expected None, "
                             f"'popular' or 'empty')")
        if fallback == 'popular' and self.popularity is None:
            raise ValueError("This model carries no item popularity; "
                             "retrain with a current pyg-srgnn or drop the "
                             "fallback")
        if names is None:
            names = [f'Session {i}' for i in range(len(sessions))]
        encoded = [self.encode(s, strict, name)
                   for s, name in zip(sessions, names)]
        empty = [i for i, s in enumerate(encoded) if not s]
        if empty and fallback is None:
            raise ValueError(f"{names[empty[0]]} has no item the model "
                             f"knows; ask for fallback='popular' to get the "
                             f"most popular items instead")
        out: List[List[str]] = [[] for _ in encoded]
        scored = [i for i, s in enumerate(encoded) if s]
        if scored:
            if not 1 <= k <= self.model.num_items:
                raise ValueError(f"'k' must be between 1 and the number of "
                                 f"items {self.model.num_items} (got {k})")
            top = self.top_items([encoded[i] for i in scored], k)[1]
            for i, row in zip(scored, top.tolist()):
                out[i] = [self.item_labels[j - 1] for j in row]
        if empty and fallback == 'popular':
            popular = popular_items(self.popularity, k).tolist()
            for i in empty:
                out[i] = [self.item_labels[j - 1] for j in popular]
        elif empty:  # 'empty'
            for i in empty:
                warnings.warn(f"{names[i]} has no item the model knows; no "
                              f"recommendation", stacklevel=2)
        return out

    @torch.no_grad()
    def explain(self, session: Sequence[ItemId],
                strict: bool = False) -> Dict[str, Any]:
        r"""Opens up one session: its graph (distinct items as nodes, with
        the normalised weight of every edge in the incoming and outgoing
        channels) and the attention weight of every click in the readout.
        Item ids are the user's."""
        items = self.encode(session, strict, 'The session')
        if not items:
            raise ValueError("The session has no item the model knows")
        model = self.model
        device = model.device
        clicks, ptr = sessions_to_tensors([items], model.num_items)
        data = session_graph_batch(clicks.to(device), ptr.to(device),
                                   edge_weight=self.edge_weight)
        edge_weight = getattr(data, 'edge_weight', None)
        alpha = model.attention_weights(data)
        weight_in, weight_out = srgnn_norm(data.edge_index, edge_weight,
                                           data.num_nodes)
        labels = [self.item_labels[i - 1] for i in data.x.tolist()]
        alias = data.alias_index.tolist()
        return {
            'nodes': labels,
            'edges': [{'source': u, 'target': v, 'in_weight': w_in,
                       'out_weight': w_out}
                      for (u, v), w_in, w_out in zip(
                          data.edge_index.t().tolist(), weight_in.tolist(),
                          weight_out.tolist())],
            'clicks': [{'position': i, 'item': labels[node], 'node': node,
                        'attention': a}
                       for i, (node, a) in enumerate(zip(alias,
                                                         alpha.tolist()))],
            'last_node': int(data.last_index),
        }
