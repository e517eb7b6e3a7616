import io
import pickle

import pytest
import torch
from tiny_log import NUM_ITEMS, TRAIN, fitted

from pyg_srgnn.baselines import POP, SKNN, SPOP, STAN, VSKNN, ItemKNN
from pyg_srgnn.baselines.baseline import break_ties
from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.log_dataset import SessionLogDataset
from pyg_srgnn.data.sequences import training_sessions

MODELS = {
    'pop': lambda n: POP(n),
    'spop': lambda n: SPOP(n),
    'item-knn': lambda n: ItemKNN(n, num_neighbors=50, regularization=5.0),
    'sknn': lambda n: SKNN(n, k=20, sample_size=100),
    'vsknn': lambda n: VSKNN(n, k=20, sample_size=100, similarity='cosine',
                             weighting='quadratic', idf_weighting=2.0),
    'stan': lambda n: STAN(n, k=20, sample_size=100, lambda_spw=2.0),
}


@pytest.fixture(scope='module')
def tiny_dataset(tmp_path_factory):
    r"""The tiny log as SR-GNN files: prefix-augmented training samples and
    whole test sessions."""
    path = tmp_path_factory.mktemp('tiny')
    (path / 'all_train_seq.txt').write_bytes(pickle.dumps(TRAIN))
    (path / 'test.txt').write_bytes(pickle.dumps(([[1, 2], [6]], [3, 1])))
    return SessionLogDataset.create(
        str(path / 'data'),
        [str(path / 'all_train_seq.txt'), str(path / 'test.txt')], 'srgnn')


def test_training_sessions_rebuilds_the_sessions(tiny_dataset):
    clicks, ptr = training_sessions(tiny_dataset)
    assert clicks.tolist() == [item for t in TRAIN for item in t]
    assert ptr.tolist() == [0, 3, 7, 9, 13]
    # The samples of t1 and t3 only, in any order; of t3 ([3, 4, 5] -> 1,
    # [3, 4] -> 5, [3] -> 4), the shortest two: its first three clicks.
    _, _, _, session = tiny_dataset.sample_tensors()
    index = torch.cat([torch.nonzero(session == 3).view(-1)[1:],
                       torch.nonzero(session == 1).view(-1)])
    clicks, ptr = training_sessions(tiny_dataset, index.flip(0))
    assert clicks.tolist() == [2, 3, 4, 2, 3, 4, 5]
    assert ptr.tolist() == [0, 4, 7]
    # A session given by one sample is its prefix and target.
    clicks, ptr = training_sessions(tiny_dataset.split_dataset('test'))
    assert (clicks.tolist(), ptr.tolist()) == ([1, 2, 3, 6, 1], [0, 3, 5])


def test_fit_on_a_subset_of_samples(tiny_dataset, sample):
    _, _, _, session = tiny_dataset.sample_tensors()
    index = torch.nonzero(session != 1).view(-1)  # all but t1
    model = POP(NUM_ITEMS).fit(tiny_dataset, index)
    assert model.popularity.tolist() == [0, 3, 1, 2, 1, 2, 0]
    assert int(model.num_sessions) == 3

    train_set, _ = sample
    index = torch.arange(0, len(train_set), 3)
    for make in MODELS.values():
        part = make(train_set.num_items).fit(train_set, index)
        same = make(train_set.num_items).fit(train_set[index])
        whole = make(train_set.num_items).fit(train_set)
        assert part.state_dict().keys() == whole.state_dict().keys()
        for name, value in part.state_dict().items():
            assert torch.equal(value, same.state_dict()[name])
        assert any(value.shape != whole.state_dict()[name].shape
                   or not torch.equal(value, whole.state_dict()[name])
                   for name, value in part.state_dict().items())


@pytest.mark.parametrize('name', list(MODELS))
def test_state_dict_round_trip(name, sample):
    train_set, test_set = sample
    model = MODELS[name](train_set.num_items).fit(train_set)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = MODELS[name](train_set.num_items)
    fresh.load_state_dict(state)
    batch = next(iter(SessionLoader(test_set, batch_size=len(test_set))))
    assert torch.equal(fresh.forward_batch(batch), model.forward_batch(batch))
    assert not model.neural and not hasattr(model, 'embedding')
    assert list(model.parameters()) == []


@pytest.mark.parametrize('name', list(MODELS))
def test_a_session_alone_scores_as_in_a_batch(name, sample):
    train_set, test_set = sample
    model = MODELS[name](train_set.num_items).fit(train_set)
    clicks, ptr, _, _ = test_set.sample_tensors()
    sessions = [clicks[a:b].tolist()
                for a, b in zip(ptr[:-1].tolist(), ptr[1:].tolist())]
    together = model.score_sessions(sessions)
    assert together.shape == (len(sessions), train_set.num_items)
    for i in range(0, len(sessions), 7):
        assert torch.equal(model.score_sessions([sessions[i]])[0],
                           together[i])
    # No two items of a session tie.
    assert all(row.unique().numel() == row.numel() for row in together)


def test_break_ties():
    popularity = torch.tensor([0, 1, 5, 5, 0])  # POP's order: 2, 3, 1, 4
    one = torch.tensor(1.0)
    above = torch.nextafter(one, torch.tensor(2.0))
    below = torch.nextafter(one, torch.tensor(0.0))
    scores = torch.stack([torch.tensor([1.0, 1.0, 1.0, 1.0]),
                          torch.tensor([0.0, 0.0, 0.0, 0.0]),
                          torch.stack([above, one, below, one]),
                          torch.tensor([2.5, 0.0, 3e-39, 2.5])])
    out = break_ties(scores, popularity)
    assert out.dtype == torch.float64
    order = (out.argsort(dim=1, descending=True) + 1).tolist()
    # The last row: a subnormal score counts as 0.
    assert order == [[2, 3, 1, 4], [2, 3, 1, 4], [1, 2, 4, 3],
                     [1, 4, 2, 3]]
    # Scores of normal floats come back when rounded to float32.
    assert torch.equal(out[:3].float()[2], scores[2])
    assert bool((out[1] > 0).all())


def test_errors_and_repr():
    with pytest.raises(ValueError, match="has no statistics; call fit"):
        SKNN(NUM_ITEMS).score_sessions([[1, 2]])
    with pytest.raises(ValueError, match=r"item ids from 1 to 5, outside "
                       r"the model's items 1\.\.4"):
        fitted(POP(4))
    assert repr(POP(7)) == 'POP(num_items=7)'
    assert repr(SKNN(7)) == ("SKNN(num_items=7, k=100, sample_size=500, "
                             "similarity='cosine')")
    assert repr(ItemKNN(7)) == ('ItemKNN(num_items=7, num_neighbors=100, '
                                'regularization=20.0, alpha=0.5)')
    assert repr(VSKNN(7)) == (
        "VSKNN(num_items=7, k=100, sample_size=500, similarity='vec', "
        "weighting='div', weighting_score='div', idf_weighting=1.0)")
    model = fitted(VSKNN(NUM_ITEMS))
    assert model.recommend([[2, 3, 2]], k=3).tolist() == [[3, 2, 4]]
