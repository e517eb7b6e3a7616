import pickle

import pytest
import torch

from torch_geometric.loader import DataLoader

from pyg_srgnn.data import SessionLoader, SessionToGraph
from pyg_srgnn.data.dataset import DigineticaSample
from pyg_srgnn.data.log_dataset import SessionLogDataset
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.data.safe_pickle import load_pickle


@pytest.fixture(scope='module')
def sample_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('diginetica-sample'))


def test_diginetica_sample(sample_root):
    train = DigineticaSample(sample_root, split='train')
    test = DigineticaSample(sample_root, split='test')
    assert str(train) == "DigineticaSample(1205, split='train')"
    assert len(train) == 1205 and len(test) == 99
    assert train.num_items == test.num_items == 309
    assert len(train.item_labels) == 309
    assert int(train.sample_tensors()[3].max()) + 1 == 469
    # 47 sessions fall in the test period; 8 keep fewer than two clicks on
    # items seen in training, so 39 give samples (as in the official test.txt).
    assert int(test.sample_tensors()[3].max()) + 1 == 39

    data = train[0]
    assert set(data.keys()) == {'clicks', 'y', 'session'}
    assert data.session.tolist() == [0]

    graph = DigineticaSample(sample_root, transform=SessionToGraph())[0]
    assert {'x', 'edge_index', 'alias_index', 'last_index'} <= set(
        graph.keys())


def test_diginetica_sample_equals_official_pickles(sample_root,
                                                   shared_data):
    for split in ('train', 'test'):
        prefixes, targets = load_pickle(shared_data / 'sample' /
                                        f'{split}.txt')
        dataset = DigineticaSample(sample_root, split=split)
        clicks, ptr, y, _ = dataset.sample_tensors()
        assert y.tolist() == targets
        assert ptr.diff().tolist() == [len(p) for p in prefixes]
        assert clicks.tolist() == [i for p in prefixes for i in p]


def test_subset_keeps_the_order_of_its_indices(sample_root):
    dataset = DigineticaSample(sample_root)
    subset = dataset[torch.tensor([5, 2, 9])]
    clicks, ptr, y, session = subset.sample_tensors()
    expected = [dataset[i] for i in (5, 2, 9)]
    assert y.tolist() == [int(d.y) for d in expected]
    assert clicks.tolist() == [i for d in expected for i in d.clicks.tolist()]
    assert ptr.tolist()[-1] == clicks.numel()


@pytest.mark.parametrize('edge_weight', ['binary', 'count'])
def test_session_loader_equals_pyg_data_loader(sample_root, edge_weight):
    dataset = DigineticaSample(sample_root)
    ours = SessionLoader(dataset, edge_weight=edge_weight, batch_size=64)
    transformed = DigineticaSample(sample_root,
                                   transform=SessionToGraph(edge_weight))
    pyg = DataLoader(transformed, batch_size=64)
    assert len(ours) == len(pyg) == 19
    for a, b in zip(ours, pyg):
        for key in ('x', 'edge_index', 'alias_index', 'last_index', 'batch',
                    'ptr', 'y'):
            assert a[key].tolist() == b[key].tolist(), key
        if edge_weight == 'count':
            assert a.edge_weight.tolist() == b.edge_weight.tolist()


def test_session_loader_batches_do_not_depend_on_gathering(sample_root):
    dataset = DigineticaSample(sample_root)

    def batches(**kwargs):
        loader = SessionLoader(dataset, batch_size=50, shuffle=True,
                               generator=torch.Generator().manual_seed(3),
                               **kwargs)
        return [(b.x.tolist(), b.edge_index.tolist(), b.alias_index.tolist(),
                 b.y.tolist()) for b in loader]

    one_by_one = batches(gather_batches=1)
    assert len(one_by_one) == 25  # 1,205 samples, the last batch partial
    assert batches(gather_batches=7) == one_by_one
    assert batches() == one_by_one
    # Worker processes collate one batch at a time through PyTorch's
    # iterator.
    assert batches(num_workers=1) == one_by_one


@pytest.mark.parametrize('seeded', [False, True])
def test_session_loader_shuffles_like_data_loader(sample_root, seeded):
    # The same random state gives the same batches as torch's DataLoader.
    dataset = DigineticaSample(sample_root)
    loader = SessionLoader(dataset)

    def generator():
        return torch.Generator().manual_seed(5) if seeded else None

    torch.manual_seed(0)
    expected = [loader.y[index].tolist() for index in torch.utils.data.
                DataLoader(range(len(dataset)), batch_size=100, shuffle=True,
                           generator=generator())]
    torch.manual_seed(0)
    ours = [batch.y.tolist() for batch in SessionLoader(
        dataset, batch_size=100, shuffle=True, generator=generator())]
    assert ours == expected
    with pytest.raises(ValueError, match="'gather_batches' must be at least "
                       "1 \\(got 0\\)"):
        SessionLoader(dataset, gather_batches=0)


def test_session_loader_on_an_index(sample_root):
    dataset = DigineticaSample(sample_root)
    loader = SessionLoader(dataset, torch.tensor([3, 1]), batch_size=10)
    batch = next(iter(loader))
    assert batch.y.tolist() == [int(dataset[3].y), int(dataset[1].y)]


def test_load_dataset_errors(sample_root):
    assert len(load_dataset('diginetica-sample', sample_root, 'test')) == 99
    with pytest.raises(ValueError, match="Unknown dataset 'nope'.*"
                       "diginetica-sample"):
        load_dataset('nope')
    with pytest.raises(ValueError, match="Unknown split 'valid'"):
        DigineticaSample(sample_root, split='valid')


@pytest.mark.parametrize('name,expected', [
    ('diginetica', dict(train_samples=719_470, test_samples=60_858,
                        train_sessions=186_670, test_sessions=15_963,
                        items=43_097, clicks=982_961)),
    ('yoochoose1_64', dict(train_samples=369_859, test_samples=55_898,
                           train_sessions=116_167, test_sessions=15_324,
                           items=37_483, clicks=557_248)),
])
def test_published_splits(name, expected, shared_data, tmp_path,
                          monkeypatch):
    monkeypatch.setenv('PYG_SRGNN_DATA', str(shared_data))
    train = load_dataset(name, str(tmp_path), 'train')
    test = load_dataset(name, str(tmp_path), 'test')
    train_stats, test_stats = train.statistics(), test.statistics()
    assert train_stats['samples'] == expected['train_samples']
    assert test_stats['samples'] == expected['test_samples']
    assert train_stats['sessions'] == expected['train_sessions']
    assert test_stats['sessions'] == expected['test_sessions']
    assert train.num_items == expected['items']
    assert train_stats['clicks'] + test_stats['clicks'] == expected['clicks']


def test_published_split_missing_files(tmp_path, monkeypatch):
    monkeypatch.delenv('PYG_SRGNN_DATA', raising=False)
    with pytest.raises(FileNotFoundError, match=r"all_train_seq.txt and "
                       r"test.txt in .*raw.*PYG_SRGNN_DATA"):
        load_dataset('diginetica', str(tmp_path))


def test_published_split_rejects_a_pickled_class(tmp_path, monkeypatch):
    import pickle
    from collections import OrderedDict

    monkeypatch.delenv('PYG_SRGNN_DATA', raising=False)
    raw = tmp_path / 'raw'
    raw.mkdir()
    (raw / 'all_train_seq.txt').write_bytes(pickle.dumps(OrderedDict()))
    (raw / 'test.txt').write_bytes(pickle.dumps(([[1]], [2])))
    with pytest.raises(ValueError, match="refuses to load class "
                       "'collections.OrderedDict'"):
        load_dataset('diginetica', str(tmp_path))

    (raw / 'all_train_seq.txt').write_bytes(pickle.dumps([[1, 2], [3, 0]]))
    with pytest.raises(ValueError, match='session 1 holds item id 0'):
        load_dataset('diginetica', str(tmp_path))


def test_processing_writes_whole_files(tmp_path, monkeypatch):
    # Another process may load the processed files while this one writes
    # them: each is written under a temporary name and renamed into place.
    import pyg_srgnn.data.dataset as dataset

    saved = []
    torch_save = dataset.fs.torch_save

    def recording_save(obj, path):
        saved.append(path)
        torch_save(obj, path)

    monkeypatch.setattr(dataset.fs, 'torch_save', recording_save)
    train = DigineticaSample(str(tmp_path / 'whole'), split='train')
    ours = [path for path in saved if 'pre_' not in path]  # PyG's own
    assert len(ours) == 2 and all(path.endswith('.tmp') for path in ours)
    assert not set(ours) & set(train.processed_paths)
    assert not list((tmp_path / 'whole' / 'processed').glob('*.tmp'))

    # A write that fails midway leaves neither a partial file nor its
    # temporary, and the next load processes the data set again.
    def failing_save(obj, path):
        with open(path, 'wb') as f:
            f.write(b'partial')
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset.fs, 'torch_save', failing_save)
    root = tmp_path / 'interrupted'
    with pytest.raises(KeyboardInterrupt):
        DigineticaSample(str(root), split='train')
    assert not list((root / 'processed').glob('*.tmp'))
    assert not list((root / 'processed').glob('train.pt*'))
    monkeypatch.setattr(dataset.fs, 'torch_save', torch_save)
    assert len(DigineticaSample(str(root), split='train')) == 1205


def test_statistics_of_samples_that_are_not_prefix_augmented(tmp_path):
    # SR-GNN pickles whose test samples are whole sessions, one sample each:
    # a session's clicks are its prefix and its target.
    train = tmp_path / 'all_train_seq.txt'
    test = tmp_path / 'test.txt'
    train.write_bytes(pickle.dumps([[1, 2, 3], [2, 3], [3, 1, 2, 4]]))
    test.write_bytes(pickle.dumps(([[1, 2, 3, 4], [4, 4, 1], [2]],
                                   [2, 3, 1])))
    dataset = SessionLogDataset.create(str(tmp_path / 'data'),
                                       [str(train), str(test)], 'srgnn')
    stats = dataset.split_dataset('test').statistics()
    assert stats['samples'] == stats['sessions'] == 3
    assert stats['clicks'] == 5 + 4 + 2
    assert stats['avg_prefix_length'] == pytest.approx(8 / 3)
    assert stats['avg_session_length'] == pytest.approx(11 / 3)
    # Prefix-augmented training sessions: n clicks make n - 1 samples.
    stats = dataset.statistics()
    assert (stats['samples'], stats['sessions'], stats['clicks']) == (6, 3,
                                                                     9)
