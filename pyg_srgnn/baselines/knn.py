r"""The nearest-neighbour baselines of session-rec: Item-KNN, SKNN and
V-SKNN, scored for a whole batch with tensor operations."""
from typing import Callable, Dict, Tuple

import torch
from torch import Tensor

from pyg_srgnn.baselines.baseline import Baseline, SessionNodes, expand_runs

# session-rec's weights of a click at position p (1-based) of a session of
# n clicks: the vector of the current session (V-SKNN's `weighting`).
POSITION_WEIGHTS: Dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    'same': lambda p, n: torch.ones_like(p),
    'div': lambda p, n: p / n,
    'linear': lambda p, n: (1 - 0.1 * (n - p)).clamp_min(0),
    'log': lambda p, n: 1 / torch.log10(n - p + 1.7),
    'quadratic': lambda p, n: (p / n)**2,
}

# session-rec's decay of a neighbour's votes by the step (1 for the last
# click) of the latest click of the current session it holds
# (V-SKNN's `weighting_score`).
SCORE_DECAYS: Dict[str, Callable[[Tensor], Tensor]] = {
    'same': lambda step: torch.ones_like(step),
    'div': lambda step: 1 / step,
    'linear': lambda step: (1 - 0.1 * step).clamp_min(0),
    'log': lambda step: 1 / torch.log10(step + 1.7),
    'quadratic': lambda step: 1 / step**2,
}

SIMILARITIES = ('cosine', 'vec', 'jaccard')


def check_choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"Unknown {name} '{value}' (expected one of "
                         f"{', '.join(choices)})")
    return value


def distinct_items(clicks: Tensor, ptr: Tensor,
                   num_items: int) -> Tuple[Tensor, Tensor, Tensor]:
    r"""The distinct items of every session, as :obj:`(session, item)`
    pairs sorted by session, then item, and the position (1-based) of each
    pair's last click in its session."""
    num_sessions = ptr.numel() - 1
    click_session = torch.repeat_interleave(
        torch.arange(num_sessions, device=clicks.device), ptr.diff())
    key, inverse = torch.unique(click_session * (num_items + 1) + clicks,
                                return_inverse=True)
    position = (torch.arange(clicks.numel(), device=clicks.device) -
                ptr[click_session] + 1)
    last_click = torch.zeros_like(key).scatter_reduce_(0, inverse, position,
                                                       'amax')
    return (key.div(num_items + 1, rounding_mode='floor'),
            key % (num_items + 1), last_click)


def offsets(index: Tensor, size: int) -> Tensor:
    r"""The CSR offsets, :obj:`[size + 1]`, of rows :obj:`index` (sorted)."""
    counts = torch.bincount(index, minlength=size)
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def scatter_scores(session: Tensor, item: Tensor, value: Tensor,
                   num_sessions: int, num_items: int) -> Tensor:
    r"""Sums :obj:`value` into the scores :obj:`[num_sessions, num_items]`
    (:obj:`float32`) at :obj:`(session, item - 1)`, in float64 and in the
    order given, so that a session's scores do not depend on the batch."""
    key, inverse = torch.unique(session * num_items + item - 1,
                                return_inverse=True)
    total = torch.zeros(key.numel(), dtype=torch.float64,
                        device=value.device).index_add_(0, inverse, value)
    scores = torch.zeros(num_sessions * num_items, device=value.device)
    scores[key] = total.float()
    return scores.view(num_sessions, num_items)


class ItemKNN(Baseline):
    r"""Item-KNN, session-rec's :obj:`ItemKNN` (`"Evaluation of
    Session-based Recommendation Algorithms"
    <https://arxiv.org/abs/1803.09587>`_, Ludewig and Jannach, 2018; after
    Hidasi et al., 2016): the items most similar to the session's last
    click, by co-occurrence in the training sessions.

    .. math::
        \mathrm{sim}(i, j) = \frac{\sum_{s \ni j} n_s(i)}
        {(\mathrm{supp}_i + \lambda)^{\alpha}
        (\mathrm{supp}_j + \lambda)^{1 - \alpha}}, \qquad
        \hat{y}_{s,j} = \mathrm{sim}(s_{|s|}, j)

    with :math:`n_s(i)` the clicks on item :math:`i` in training session
    :math:`s` and :math:`\mathrm{supp}_i` those in all training sessions, as
    session-rec's code counts them (in sessions without repeated clicks the
    numerator is the number of sessions holding both items); :math:`\alpha
    = 0.5` gives the cosine similarity, :math:`\lambda` discounts rare
    items. An item is not its own neighbour; only the
    :obj:`num_neighbors` most similar items of each item score (ties to the
    lower id).

    Args:
        num_items (int): The number of items (the largest item id).
        num_neighbors (int, optional): Neighbours kept per item
            (session-rec's :obj:`n_sims`). (default: :obj:`100`)
        regularization (float, optional): :math:`\lambda` (session-rec's
            :obj:`lmbd`). (default: :obj:`20.0`)
        alpha (float, optional): :math:`\alpha`. (default: :obj:`0.5`)
    """
    def __init__(self, num_items: int, num_neighbors: int = 100,
                 regularization: float = 20.0, alpha: float = 0.5):
        if num_neighbors < 1:
            raise ValueError(f"'num_neighbors' must be at least 1 (got "
                             f"{num_neighbors})")
        super().__init__(num_items)
        self.num_neighbors = num_neighbors
        self.regularization = regularization
        self.alpha = alpha
        # The neighbours of item i, best first:
        # neighbor_item[neighbor_ptr[i]:neighbor_ptr[i + 1]].
        self.register_buffer('neighbor_ptr',
                             torch.zeros(num_items + 2, dtype=torch.long))
        self.register_buffer('neighbor_item',
                             torch.zeros(0, dtype=torch.long))
        self.register_buffer('neighbor_weight', torch.zeros(0))

    @torch.no_grad()
    def fit_sessions(self, clicks: Tensor, ptr: Tensor) -> 'ItemKNN':
        super().fit_sessions(clicks, ptr)
        clicks = clicks.to(self.device, torch.long)
        ptr = ptr.to(self.device, torch.long)
        size = self.num_items + 1
        session, item, _ = distinct_items(clicks, ptr, self.num_items)
        session_ptr = offsets(session, ptr.numel() - 1)
        # Every click i against every distinct item j of its session: the
        # pair counts sum n_s(i) over the sessions holding j.
        click_session = torch.repeat_interleave(
            torch.arange(ptr.numel() - 1, device=self.device), ptr.diff())
        start = session_ptr[click_session]
        positions, click = expand_runs(
            start, session_ptr[click_session + 1] - start)
        i, j = clicks[click], item[positions]
        other = i != j
        pair, count = torch.unique(i[other] * size + j[other],
                                   return_counts=True)
        i, j = pair.div(size, rounding_mode='floor'), pair % size

        support = self.popularity.double() + self.regularization
        weight = count / (support[i]**self.alpha *
                          support[j]**(1 - self.alpha))
        # Best first within each item, ties to the lower id (pairs come
        # sorted by (i, j), and both sorts are stable).
        order = torch.sort(weight, descending=True, stable=True).indices
        order = order[torch.sort(i[order], stable=True).indices]
        i, j, weight = i[order], j[order], weight[order]
        row_ptr = offsets(i, size)
        rank = torch.arange(i.numel(), device=self.device) - row_ptr[i]
        keep = rank < self.num_neighbors
        self.neighbor_ptr = offsets(i[keep], size)
        self.neighbor_item = j[keep]
        self.neighbor_weight = weight[keep].float()
        return self

    def item_scores(self, nodes: SessionNodes) -> Tensor:
        start = self.neighbor_ptr[nodes.last_item]
        positions, session = expand_runs(
            start, self.neighbor_ptr[nodes.last_item + 1] - start)
        scores = torch.zeros(nodes.num_sessions, self.num_items,
                             device=start.device)  # [B, num_items]
        scores[session, self.neighbor_item[positions] - 1] = (
            self.neighbor_weight[positions])
        return scores

    def hyperparameters(self) -> dict:
        return dict(num_neighbors=self.num_neighbors,
                    regularization=self.regularization, alpha=self.alpha)


class VSKNN(Baseline):
    r"""V-SKNN, session-rec's :obj:`VMContextKNN` (`"Evaluation of
    Session-based Recommendation Algorithms"
    <https://arxiv.org/abs/1803.09587>`_, Ludewig and Jannach, 2018;
    Ludewig et al., `"Empirical Analysis of Session-Based Recommendation
    Algorithms" <https://doi.org/10.1007/s11257-020-09277-1>`_, 2021):
    session-based kNN with the current session's items weighted by position,
    the neighbours' votes decayed by how long ago the current session last
    clicked an item they hold, and the voted items weighted by inverse
    document frequency.

    For the current session :math:`s` of :math:`n` clicks, item :math:`i`
    weighs :math:`w_i` (:obj:`weighting`, at the position :math:`p_i` of
    its last click; :obj:`"div"`: :math:`p_i / n`, a linear decay with the
    last click at 1). The candidates are the :obj:`sample_size` most recent
    training sessions holding any item of :math:`s` (all of them if
    :obj:`sample_size` is 0); of those, the :obj:`k` most similar are the
    neighbours :math:`N_s` (ties to the more recent), where with
    :obj:`similarity` :obj:`"vec"`

    .. math::
        \mathrm{sim}(s, t) = \frac{1}{|s|} \sum_{i \in s \cap t} w_i,

    :obj:`"cosine"` divides :math:`\sum_{i \in s \cap t} w_i` by
    :math:`\sqrt{\sum_{i \in s} w_i^2 \, |t|}` instead, and
    :obj:`"jaccard"` is :math:`|s \cap t| / |s \cup t|` (sessions as sets of
    items). Then

    .. math::
        \hat{y}_{s,j} = \sum_{t \in N_s,\, j \in t} \mathrm{sim}(s, t) \,
        d(\mathrm{step}_t) \, (1 + \beta \, \mathrm{idf}_j), \qquad
        \mathrm{idf}_j = \log \frac{|S|}{\mathrm{supp}_j}

    with :math:`\mathrm{step}_t` the position, counted from the end (1 for
    the last click), of the latest click of :math:`s` on an item of
    :math:`t`, :math:`d` the decay :obj:`weighting_score` (:obj:`"div"`:
    :math:`1/\mathrm{step}`), :math:`\beta` :obj:`idf_weighting`,
    :math:`|S|` the number of training sessions and
    :math:`\mathrm{supp}_j` the clicks on :math:`j` in them, as session-rec
    counts them. Items of the current session are scored too
    (session-rec's :obj:`remind=True`); its final division by the highest
    score does not change the ranking and is left out.

    Position weights (:math:`p` of :math:`n`): :obj:`"same"` 1,
    :obj:`"div"` :math:`p/n`, :obj:`"quadratic"` :math:`(p/n)^2`,
    :obj:`"log"` :math:`1/\log_{10}(n - p + 1.7)`, :obj:`"linear"`
    :math:`\max(1 - 0.1 (n - p), 0)`. Decays of the step :math:`k`:
    :obj:`"same"` 1, :obj:`"div"` :math:`1/k`, :obj:`"quadratic"`
    :math:`1/k^2`, :obj:`"log"` :math:`1/\log_{10}(k + 1.7)`,
    :obj:`"linear"` :math:`\max(1 - 0.1 k, 0)`. The two :obj:`"linear"`
    functions are session-rec's for sessions of up to 10 clicks; beyond, its
    code gives the weight 0 to clicks after the 10th and negative decays to
    steps 11 to 100, which are read as slips and not copied.

    The recency of a training session is its position in time order
    (:obj:`session` of the samples), where session-rec uses the time of its
    last click.

    Args:
        num_items (int): The number of items (the largest item id).
        k (int, optional): Neighbours per session (session-rec documents
            100 and has no default). (default: :obj:`100`)
        sample_size (int, optional): Candidate sessions per session, the
            most recent; :obj:`0` for all (session-rec documents 500, its
            constructor defaults to 1000). (default: :obj:`500`)
        similarity (str, optional): :obj:`"vec"`, :obj:`"cosine"` or
            :obj:`"jaccard"`. (default: :obj:`"vec"`)
        weighting (str, optional): The position weights of the current
            session. (default: :obj:`"div"`)
        weighting_score (str, optional): The decay of neighbours' votes.
            (default: :obj:`"div"`)
        idf_weighting (float, optional): :math:`\beta`; :obj:`0` leaves idf
            out. session-rec's constructor leaves it out; its published
            configurations use 1 to 10. (default: :obj:`1.0`)
    """
    def __init__(self, num_items: int, k: int = 100, sample_size: int = 500,
                 similarity: str = 'vec', weighting: str = 'div',
                 weighting_score: str = 'div', idf_weighting: float = 1.0):
        if k < 1 or sample_size < 0:
            raise ValueError(f"'k' must be at least 1 and 'sample_size' at "
                             f"least 0 (got {k} and {sample_size})")
        super().__init__(num_items)
        self.k = k
        self.sample_size = sample_size
        self.similarity = check_choice('similarity', similarity,
                                       SIMILARITIES)
        self.weighting = check_choice('weighting', weighting,
                                      POSITION_WEIGHTS)
        self.weighting_score = check_choice('weighting_score',
                                            weighting_score, SCORE_DECAYS)
        self.idf_weighting = idf_weighting
        # The training sessions as sets of items, in time order:
        # session_item[session_ptr[t]:session_ptr[t + 1]], and the other
        # way round, the sessions holding item i, oldest first:
        # item_session[item_ptr[i]:item_ptr[i + 1]].
        self.register_buffer('session_ptr',
                             torch.zeros(1, dtype=torch.long))
        self.register_buffer('session_item', torch.zeros(0,
                                                         dtype=torch.long))
        self.register_buffer('item_ptr',
                             torch.zeros(num_items + 2, dtype=torch.long))
        self.register_buffer('item_session', torch.zeros(0,
                                                         dtype=torch.long))

    @torch.no_grad()
    def fit_sessions(self, clicks: Tensor, ptr: Tensor) -> 'VSKNN':
        super().fit_sessions(clicks, ptr)
        self.index_sessions(*distinct_items(
            clicks.to(self.device, torch.long),
            ptr.to(self.device, torch.long), self.num_items))
        return self

    def index_sessions(self, session: Tensor, item: Tensor,
                       last_click: Tensor) -> None:
        r"""Keeps the training sessions' distinct items, given as
        :func:`distinct_items` gives them, both ways round."""
        self.session_ptr = offsets(session, int(self.num_sessions))
        self.session_item = item
        order = torch.sort(item, stable=True).indices
        self.item_ptr = offsets(item[order], self.num_items + 1)
        self.item_session = session[order]

    def item_scores(self, nodes: SessionNodes) -> Tensor:
        num_sessions, num_train = nodes.num_sessions, int(self.num_sessions)
        device = nodes.item.device
        weight = self.position_weights(
            nodes.last_position.double(),
            nodes.length[nodes.batch].double())  # [num_nodes]

        # Candidates: the training sessions holding each node's item, only
        # the `sample_size` most recent (the most recent of their union are
        # among those of each item's).
        start, end = (self.item_ptr[nodes.item],
                      self.item_ptr[nodes.item + 1])
        if self.sample_size > 0:
            start = torch.maximum(start, end - self.sample_size)
        positions, node = expand_runs(start, end - start)
        key, inverse = torch.unique(
            nodes.batch[node] * num_train + self.item_session[positions],
            return_inverse=True)  # (session, candidate), sorted
        dot = torch.zeros(key.numel(), dtype=torch.float64,
                          device=device).index_add_(0, inverse, weight[node])
        overlap = torch.bincount(inverse, minlength=key.numel())
        last_match = torch.zeros_like(key).scatter_reduce_(
            0, inverse, nodes.last_position[node], 'amax')
        session = key.div(num_train, rounding_mode='floor')
        candidate = key % num_train
        # 0 for a session's most recent candidate, 1 for the next, ...
        recency = (offsets(session, num_sessions)[session + 1] - 1 -
                   torch.arange(key.numel(), device=device))
        if self.sample_size > 0:
            keep = recency < self.sample_size
            session, candidate, recency = (session[keep], candidate[keep],
                                           recency[keep])
            dot, overlap, last_match = (dot[keep], overlap[keep],
                                        last_match[keep])
        if session.numel() == 0:
            return torch.zeros(num_sessions, self.num_items, device=device)

        candidate_size = (self.session_ptr[candidate + 1] -
                          self.session_ptr[candidate])
        if self.similarity == 'vec':
            num_distinct = torch.bincount(nodes.batch,
                                          minlength=num_sessions)
            sim = dot / num_distinct[session]
        elif self.similarity == 'cosine':
            norm = torch.zeros(num_sessions, dtype=torch.float64,
                               device=device).index_add_(
                                   0, nodes.batch, weight * weight)
            sim = dot / (norm[session] * candidate_size).sqrt()
        else:
            num_distinct = torch.bincount(nodes.batch,
                                          minlength=num_sessions)
            sim = overlap / (num_distinct[session] + candidate_size -
                             overlap).double()

        # The k most similar candidates of each session (ties to the more
        # recent): a table of a row per session, a column per recency.
        width = int(recency.max()) + 1
        table = torch.full((num_sessions, width), -1.0, dtype=torch.float64,
                           device=device)
        table[session, recency] = sim
        slot = torch.full((num_sessions, width), -1, dtype=torch.long,
                          device=device)
        slot[session, recency] = torch.arange(session.numel(), device=device)
        top, column = table.sort(dim=1, descending=True, stable=True)
        column = column[:, :self.k]
        chosen = slot.gather(1, column)[top[:, :self.k] > 0]  # [neighbours]

        session, sim, last_match = (session[chosen], sim[chosen],
                                    last_match[chosen])
        neighbor = candidate[chosen]
        start = self.session_ptr[neighbor]
        positions, owner = expand_runs(start,
                                       self.session_ptr[neighbor + 1] - start)
        vote = self.votes(nodes, session, sim, last_match, owner, positions)
        return scatter_scores(session[owner], self.session_item[positions],
                              vote, num_sessions, self.num_items)

    def position_weights(self, position: Tensor, length: Tensor) -> Tensor:
        r"""The weight :math:`w_i` of every node of the current sessions,
        from the position of its last click and its session's length."""
        return POSITION_WEIGHTS[self.weighting](position, length)

    def votes(self, nodes: SessionNodes, session: Tensor, sim: Tensor,
              last_match: Tensor, owner: Tensor, positions: Tensor) -> Tensor:
        r"""The vote of every (neighbour, item) pair, whose items are
        :obj:`self.session_item[positions]` and neighbours :obj:`owner`.
        Per neighbour: its current :obj:`session`, the similarity
        :obj:`sim` and :obj:`last_match`, the position of the session's
        latest click on an item the neighbour holds."""
        step = (nodes.length[session] - last_match + 1).double()
        vote = (sim * SCORE_DECAYS[self.weighting_score](step))[owner]
        if self.idf_weighting != 0:
            item = self.session_item[positions]
            idf = torch.log(int(self.num_sessions) /
                            self.popularity[item].double())
            vote = vote * (1 + self.idf_weighting * idf)
        return vote

    def hyperparameters(self) -> dict:
        return dict(k=self.k, sample_size=self.sample_size,
                    similarity=self.similarity, weighting=self.weighting,
                    weighting_score=self.weighting_score,
                    idf_weighting=self.idf_weighting)


class SKNN(VSKNN):
    r"""SKNN, session-rec's :obj:`ContextKNN` (`"Evaluation of
    Session-based Recommendation Algorithms"
    <https://arxiv.org/abs/1803.09587>`_, Ludewig and Jannach, 2018; after
    Jannach and Ludewig, 2017): the :obj:`k` training sessions most similar
    to the current one, among the :obj:`sample_size` most recent holding
    any of its items, vote for their items with their similarity.

    .. math::
        \mathrm{sim}(s, t) = \frac{|s \cap t|}{\sqrt{|s| \, |t|}}, \qquad
        \hat{y}_{s,j} = \sum_{t \in N_s,\, j \in t} \mathrm{sim}(s, t)

    over sessions as sets of items; :class:`VSKNN` with equal position
    weights, no decay and no idf. session-rec's :obj:`cosine` reads
    :math:`|s \cap t| / \sqrt{|t|} \cdot \sqrt{|s|}`, which scales a
    session's scores by :math:`|s|` and ranks alike.

    Args:
        num_items (int): The number of items (the largest item id).
        k (int, optional): As for :class:`VSKNN`. (default: :obj:`100`)
        sample_size (int, optional): As for :class:`VSKNN`.
            (default: :obj:`500`)
        similarity (str, optional): :obj:`"cosine"` or :obj:`"jaccard"`
            (session-rec's constructor default). (default:
            :obj:`"cosine"`)
    """
    def __init__(self, num_items: int, k: int = 100, sample_size: int = 500,
                 similarity: str = 'cosine'):
        check_choice('similarity', similarity, ('cosine', 'jaccard'))
        super().__init__(num_items, k, sample_size, similarity,
                         weighting='same', weighting_score='same',
                         idf_weighting=0.0)

    def hyperparameters(self) -> dict:
        return dict(k=self.k, sample_size=self.sample_size,
                    similarity=self.similarity)


class STAN(VSKNN):
    r"""STAN, session-rec's :obj:`STAN` (`"Sequence and Time Aware
    Neighborhood for Session-based Recommendations: STAN"
    <https://doi.org/10.1145/3331184.3331322>`_, Garg et al., SIGIR 2019):
    session-based kNN whose current session weighs its items by how recently
    it clicked them, and whose neighbours vote most for the items they
    clicked close to where they met the current session.

    For the current session :math:`s` of :math:`n` clicks, item :math:`i`,
    last clicked at position :math:`p_i`, weighs
    :math:`w_i = \exp((p_i - n) / \lambda_1)`. The candidates are the
    :obj:`sample_size` most recent training sessions holding any item of
    :math:`s`; of those, the :obj:`k` most similar are the neighbours
    :math:`N_s` (ties to the more recent), with

    .. math::
        \mathrm{sim}(s, t) = \frac{\sum_{i \in s \cap t} w_i}
        {\sqrt{\sum_{i \in s} w_i^2 \, |t|}}, \qquad
        \hat{y}_{s,j} = \sum_{t \in N_s,\, j \in t} \mathrm{sim}(s, t) \,
        \exp\Bigl(-\frac{|q_t(j) - q_t^*|}{\lambda_3}\Bigr)

    over sessions as sets of items, where :math:`q_t(j)` is the position
    of the last click on :math:`j` in :math:`t` and :math:`q_t^*` that of
    the last click in :math:`t` on an item of :math:`s`. Items of the
    current session are scored too (session-rec's :obj:`remind=True`).

    STAN's second decay, :math:`\exp(-\Delta t / \lambda_2)` of a
    neighbour's age in time, needs click times, which the SR-GNN splits do
    not hold: it is left out (session-rec's :obj:`lambda_snh=None`); the
    recency that chooses the candidates is a session's position in time
    order, as for :class:`VSKNN`.

    Args:
        num_items (int): The number of items (the largest item id).
        k (int, optional): Neighbours per session. (default: :obj:`100`)
        sample_size (int, optional): Candidate sessions per session, the
            most recent; :obj:`0` for all. (default: :obj:`5000`, as
            session-rec)
        lambda_spw (float, optional): :math:`\lambda_1`, in clicks.
            (default: :obj:`1.02`, as session-rec)
        lambda_inh (float, optional): :math:`\lambda_3`, in clicks.
            (default: :obj:`2.05`, as session-rec)
    """
    def __init__(self, num_items: int, k: int = 100, sample_size: int = 5000,
                 lambda_spw: float = 1.02, lambda_inh: float = 2.05):
        for name, value in (('lambda_spw', lambda_spw),
                            ('lambda_inh', lambda_inh)):
            if not 0 < value < float('inf'):
                raise ValueError(f"'{name}' must be positive and finite "
                                 f"(got {value})")
        super().__init__(num_items, k, sample_size, similarity='cosine',
                         weighting='same', weighting_score='same',
                         idf_weighting=0.0)
        self.lambda_spw = lambda_spw
        self.lambda_inh = lambda_inh
        # The position of the last click on session_item[j] in its
        # session (1-based).
        self.register_buffer('session_item_last',
                             torch.zeros(0, dtype=torch.long))

    def index_sessions(self, session: Tensor, item: Tensor,
                       last_click: Tensor) -> None:
        super().index_sessions(session, item, last_click)
        self.session_item_last = last_click

    def position_weights(self, position: Tensor, length: Tensor) -> Tensor:
        return torch.exp((position - length) / self.lambda_spw)

    def votes(self, nodes: SessionNodes, session: Tensor, sim: Tensor,
              last_match: Tensor, owner: Tensor, positions: Tensor) -> Tensor:
        size = self.num_items + 1
        item = self.session_item[positions]
        place = self.session_item_last[positions]  # q_t(j)
        shared = torch.isin(session[owner] * size + item,
                            nodes.batch * size + nodes.item)
        anchor = torch.zeros_like(session).scatter_reduce_(
            0, owner[shared], place[shared], 'amax')  # q_t^*
        distance = (place - anchor[owner]).abs().double()
        return sim[owner] * torch.exp(-distance / self.lambda_inh)

    def hyperparameters(self) -> dict:
        return dict(k=self.k, sample_size=self.sample_size,
                    lambda_spw=self.lambda_spw, lambda_inh=self.lambda_inh)
