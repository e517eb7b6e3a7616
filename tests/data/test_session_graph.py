import numpy as np
import pytest
import torch

from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from pyg_srgnn.data import (
    Sequences,
    SessionGraphs,
    SessionToGraph,
    session_graph_batch,
)


def graph(session, edge_weight='binary'):
    data = Data(clicks=torch.tensor(session))
    return SessionToGraph(edge_weight)(data)


def test_worked_example():
    # v1 -> v2 -> v3 -> v2 -> v4, the paper's Fig. 1.
    data = graph([1, 2, 3, 2, 4])
    assert data.x.tolist() == [1, 2, 3, 4]
    assert data.edge_index.tolist() == [[0, 1, 1, 2], [1, 2, 3, 1]]
    assert data.alias_index.tolist() == [0, 1, 2, 1, 3]
    assert data.last_index.tolist() == [3]
    assert 'edge_weight' not in data
    assert str(SessionToGraph()) == "SessionToGraph(edge_weight='binary')"


def test_repeated_transitions():
    data = graph([1, 2, 1, 2])
    assert data.x.tolist() == [1, 2]
    assert data.edge_index.tolist() == [[0, 1], [1, 0]]  # 1->2, 2->1 once
    assert data.last_index.tolist() == [1]

    data = graph([1, 2, 1, 2], edge_weight='count')
    assert data.edge_index.tolist() == [[0, 1], [1, 0]]
    assert data.edge_weight.tolist() == [2.0, 1.0]


def test_last_click_on_a_repeated_item():
    # The last click is item 5, seen before: not the last *new* node (7).
    data = graph([5, 7, 5])
    assert data.x.tolist() == [5, 7]
    assert data.alias_index.tolist() == [0, 1, 0]
    assert data.last_index.tolist() == [0]


def test_self_loop_and_single_click():
    data = graph([3, 3, 9])
    assert data.edge_index.tolist() == [[0, 0], [0, 1]]
    data = graph([42])
    assert data.x.tolist() == [42]
    assert data.edge_index.tolist() == [[], []]
    assert data.alias_index.tolist() == [0]
    assert data.last_index.tolist() == [0]


def test_other_attributes_are_kept():
    data = SessionToGraph()(Data(clicks=torch.tensor([1, 2]),
                                 y=torch.tensor([3])))
    assert data.y.tolist() == [3]
    assert 'clicks' not in data


@pytest.mark.parametrize('edge_weight', ['binary', 'count'])
def test_batch_equals_collated_transform(edge_weight):
    sessions = [[1, 2, 3, 2, 4], [7], [5, 5, 6], [1, 2, 1, 2], [8, 1]]
    targets = [5, 6, 7, 8, 9]
    data_list = [
        SessionToGraph(edge_weight)(Data(clicks=torch.tensor(s),
                                         y=torch.tensor([t])))
        for s, t in zip(sessions, targets)
    ]
    expected = next(iter(DataLoader(data_list, batch_size=len(sessions))))

    clicks = torch.tensor([i for s in sessions for i in s])
    ptr = torch.tensor([0, 5, 6, 9, 13, 15])
    out = session_graph_batch(clicks, ptr, torch.tensor(targets),
                              edge_weight=edge_weight)
    assert isinstance(out, Batch) and out.num_graphs == 5
    keys = ['x', 'edge_index', 'alias_index', 'last_index', 'batch', 'ptr',
            'y']
    if edge_weight == 'count':
        keys.append('edge_weight')
    for key in keys:
        assert out[key].tolist() == expected[key].tolist(), key

    # The offsets, spelled out: nodes per session are 4, 1, 2, 2, 2.
    assert out.ptr.tolist() == [0, 4, 5, 7, 9, 11]
    assert out.last_index.tolist() == [3, 4, 6, 8, 9]
    assert out.alias_index.tolist() == [0, 1, 2, 1, 3, 4, 5, 5, 6, 7, 8, 7,
                                        8, 10, 9]
    assert out.edge_index.tolist() == [[0, 1, 1, 2, 5, 5, 7, 8, 10],
                                       [1, 2, 3, 1, 5, 6, 8, 7, 9]]


def test_empty_session_is_refused():
    with pytest.raises(ValueError, match='Session 1 of the batch has no'):
        session_graph_batch(torch.tensor([1, 2, 3]), torch.tensor([0, 3, 3]))


def test_unknown_edge_weighting():
    with pytest.raises(ValueError, match="'ones'.*binary, count"):
        SessionToGraph('ones')


@pytest.mark.parametrize('edge_weight', ['binary', 'count'])
def test_stored_graphs_equal_built_batches(edge_weight):
    gen = np.random.default_rng(0)
    # Short sessions over few items: repeats, self-loops, single clicks.
    sessions = [gen.integers(1, 6, gen.integers(1, 9)).tolist()
                for _ in range(50)]
    sequences = Sequences.from_lists(sessions)
    # A chunk size that does not divide the sessions: graphs built in parts.
    graphs = SessionGraphs(sequences, edge_weight, chunk_size=7)
    assert len(graphs) == 50
    assert str(graphs) == f"SessionGraphs(50, edge_weight='{edge_weight}')"
    keys = ['x', 'edge_index', 'alias_index', 'last_index', 'batch', 'ptr',
            'y']
    if edge_weight == 'count':
        keys.append('edge_weight')
    for index in ([3], [0, 49, 7, 7, 12], gen.permutation(50)[:20]):
        index = np.asarray(index)
        y = torch.arange(len(index))
        out = graphs.batch(index, y)
        picked = sequences.select(index)
        expected = session_graph_batch(torch.from_numpy(picked.values),
                                       torch.from_numpy(picked.ptr), y,
                                       edge_weight)
        assert out.num_graphs == len(index)
        for key in keys:
            assert out[key].dtype == expected[key].dtype, key
            assert out[key].is_contiguous(), key
            assert out[key].tolist() == expected[key].tolist(), key


@pytest.mark.parametrize('edge_weight', ['binary', 'count'])
def test_stored_graphs_gather_many_batches_at_once(edge_weight):
    gen = np.random.default_rng(1)
    sessions = [gen.integers(1, 6, gen.integers(1, 9)).tolist()
                for _ in range(40)]
    sessions[7] = sessions[8] = [3]  # sessions without edges
    sequences = Sequences.from_lists(sessions)
    graphs = SessionGraphs(sequences, edge_weight, chunk_size=9)
    # Batches of unequal sizes, one of them without any edge, one repeating
    # a session.
    indices = [np.array([5, 0, 39]), np.array([7, 8]), np.array([2]),
               gen.permutation(40)[:25], np.array([4, 4, 11])]
    ys = [torch.arange(len(index)) + 10 * k for k, index in
          enumerate(indices)]
    keys = ['x', 'edge_index', 'alias_index', 'last_index', 'batch', 'ptr',
            'y'] + (['edge_weight'] if edge_weight == 'count' else [])
    together = graphs.batches(indices, ys)
    assert len(together) == len(indices)
    assert together[1].edge_index.size() == (2, 0)
    for out, index, y in zip(together, indices, ys):
        alone = graphs.batch(index, y)
        assert out.num_graphs == alone.num_graphs == len(index)
        for key in keys:
            assert out[key].dtype == alone[key].dtype, key
            assert out[key].is_contiguous(), key
            assert out[key].tolist() == alone[key].tolist(), key


def test_stored_graphs_of_no_sessions():
    graphs = SessionGraphs(Sequences.from_lists([]))
    assert len(graphs) == 0
