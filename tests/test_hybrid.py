import json

import pytest
import torch
from click.testing import CliRunner

from pyg_srgnn.baselines import POP
from pyg_srgnn.cli import main
from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.nn import SRGNN, HybridModel
from pyg_srgnn.nn.hybrid import session_lengths


def test_hybrid_rows_come_from_the_model_of_their_length(tmp_path):
    root = str(tmp_path / 'data')
    train_set = load_dataset('diginetica-sample', root, 'train')
    test_set = load_dataset('diginetica-sample', root, 'test')
    short = POP(train_set.num_items).fit(train_set)
    torch.manual_seed(0)
    long = SRGNN(train_set.num_items, hidden_channels=8).eval()
    hybrid = HybridModel(short, long, max_short=2)
    data = next(iter(SessionLoader(test_set, batch_size=99)))
    lengths = session_lengths(data)
    # The clicks of each sample's prefix.
    assert torch.equal(lengths, test_set.sample_tensors()[1].diff()[:99])
    is_short = lengths <= 2
    assert 0 < int(is_short.sum()) < 99
    scores = hybrid.forward_batch(data)
    assert scores.dtype == torch.float64
    assert torch.equal(scores[is_short],
                       short.forward_batch(data)[is_short].double())
    with torch.no_grad():
        assert torch.equal(scores[~is_short],
                           long.forward_batch(data)[~is_short].double())


def test_hybrid_checks_its_models():
    with pytest.raises(ValueError, match='rank different items'):
        HybridModel(POP(5), SRGNN(6, 8), 3)
    with pytest.raises(ValueError, match="'max_short' must be at least 1"):
        HybridModel(POP(5), SRGNN(5, 8), 0)


def fit_model(runner, tmp_path, name, *options):
    run = tmp_path / name
    result = runner.invoke(main, ['fit', '--model', name, '--root',
                                  str(tmp_path / 'data'), '--run-dir',
                                  str(run), '--no-progress', *options])
    assert result.exit_code == 0, result.output
    return str(run / 'checkpoint.pt')


def evaluate(runner, *args):
    result = runner.invoke(main, ['evaluate', *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_evaluate_hybrid_short(tmp_path):
    runner = CliRunner()
    gnn = fit_model(runner, tmp_path, 'srgnn', '--epochs', '2',
                    '--hidden-channels', '8')
    knn = fit_model(runner, tmp_path, 'sknn')
    alone, short = evaluate(runner, '--checkpoint', gnn), evaluate(
        runner, '--checkpoint', knn)
    # Sessions of at most 3 clicks, the split the metrics report by length:
    # SKNN's numbers on the short ones, SR-GNN's on the rest.
    hybrid = evaluate(runner, '--checkpoint', gnn, '--hybrid-short', '3',
                      '--short-checkpoint', knn)
    assert hybrid['hybrid_short'] == 3
    assert hybrid['HR@20 short'] == pytest.approx(short['HR@20 short'])
    assert hybrid['HR@20 long'] == pytest.approx(alone['HR@20 long'])
    assert hybrid['MRR@20 long'] == pytest.approx(alone['MRR@20 long'])

    result = runner.invoke(main, ['evaluate', '--checkpoint', gnn,
                                  '--hybrid-short', '3'])
    assert result.exit_code == 2
    assert '--hybrid-short and --short-checkpoint go together' in (
        result.output)
