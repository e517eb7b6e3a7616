import json
import pickle
import re

import pytest
import torch
from click.testing import CliRunner

from pyg_srgnn.checkpoint import load_checkpoint, model_from_checkpoint
from pyg_srgnn.cli import format_item, main, parse_session
from pyg_srgnn.config import FitConfig
from pyg_srgnn.data import session_graph_batch
from pyg_srgnn.popularity import popular_items
from pyg_srgnn.recommend import Recommender
from pyg_srgnn.train import fit


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('trained')
    config = FitConfig.from_options(
        root=str(tmp / 'data'), run_dir=str(tmp / 'run'), hidden_channels=8,
        epochs=2, progress=False)
    fit(config, log=lambda msg: None)
    return tmp / 'run' / 'checkpoint.pt'


def test_checkpoint_round_trip(trained):
    checkpoint = load_checkpoint(str(trained))
    model, config = model_from_checkpoint(checkpoint)
    assert config.model.hidden_channels == 8
    assert set(checkpoint) >= {'model', 'optimizer', 'scheduler', 'config',
                               'epoch', 'metrics', 'item_labels',
                               'item_popularity'}
    again, _ = model_from_checkpoint(load_checkpoint(str(trained)))
    sessions = [[1, 2, 3], [4]]
    assert torch.equal(model.score_sessions(sessions),
                       again.score_sessions(sessions))
    for key, value in checkpoint['model'].items():
        assert torch.equal(model.state_dict()[key], value)


def test_recommend_in_user_ids(trained):
    rec = Recommender.from_checkpoint(str(trained))
    labels = rec.item_labels
    session = [labels[0], labels[5], labels[0]]  # strings, e.g. '81766'
    out = rec.recommend([session], k=5)
    assert len(out) == 1 and len(out[0]) == 5
    assert all(item in rec.item_index for item in out[0])
    expected = rec.model.recommend([[1, 6, 1]], k=5)[0].tolist()
    assert out[0] == [labels[i - 1] for i in expected]
    # Integer ids work as well as strings.
    assert rec.recommend([[int(x) for x in session]], k=5) == out


def test_the_recommender_ranks_with_a_current_ranker(trained):
    # Recommender keeps an ItemRanker of the model's rows, built again when
    # the item table changes (e.g. by more training).
    rec = Recommender.from_checkpoint(str(trained))
    sessions = [[1, 2, 3], [4]]
    for _ in range(2):
        expected = rec.model.score_sessions(sessions)
        assert torch.allclose(rec.score(sessions), expected, atol=1e-5)
        values, items = rec.top_items(sessions, 5)
        assert torch.equal(items, expected.topk(5).indices + 1)
        assert torch.allclose(values, expected.topk(5).values, atol=1e-5)
        ranker = rec.ranker()
        assert rec.ranker() is ranker
        with torch.no_grad():
            rec.model.embedding.weight.mul_(-2)
        assert rec.ranker() is not ranker
    # Leaving a session's own items out, for some sessions only.
    values, items = rec.top_items(sessions, 309, [True, False])
    assert set(items[0, -3:].tolist()) == {1, 2, 3}
    assert values[0, -3:].eq(float('-inf')).all()
    assert values[1].isfinite().all()
    # A model in another type ranks in its own.
    rec.model.double()
    values, items = rec.top_items(sessions, 5)
    assert values.dtype == torch.float64
    assert torch.equal(items, rec.model.score_sessions(sessions).topk(5)
                       .indices + 1)


def test_unknown_and_empty_sessions(trained):
    rec = Recommender.from_checkpoint(str(trained))
    known = rec.item_labels[3]
    with pytest.warns(UserWarning, match=r"Session 0: unknown item id\(s\) "
                      r"'nope'.*dropped"):
        out = rec.recommend([[known, 'nope']], k=3)
    assert out == rec.recommend([[known]], k=3)
    with pytest.raises(ValueError, match="unknown item id"):
        rec.recommend([[known, 'nope']], k=3, strict=True)
    with pytest.raises(ValueError, match='Session 1 has no item the model'):
        with pytest.warns(UserWarning):
            rec.recommend([[known], ['nope']], k=3)
    with pytest.warns(UserWarning):
        out = rec.recommend([[known], ['nope']], k=3, fallback='popular')
    popularity = load_checkpoint(str(trained))['item_popularity']
    assert out[1] == [rec.item_labels[i - 1]
                      for i in popular_items(popularity, 3).tolist()]
    assert popularity[popular_items(popularity, 3)].tolist() == sorted(
        popularity[1:].tolist(), reverse=True)[:3]
    with pytest.warns(UserWarning, match='line 7 has no item the model'):
        out = rec.recommend([[known], ['nope']], k=3, fallback='empty',
                            names=['line 5', 'line 7'])
    assert out[0] == rec.recommend([[known]], k=3)[0] and out[1] == []
    with pytest.raises(ValueError, match="Unknown fallback 'random'"):
        rec.recommend([[known]], fallback='random')


def recommend_cli(*args):
    return CliRunner().invoke(main, ['recommend', *map(str, args)])


def test_recommend_cli(trained, tmp_path):
    rec = Recommender.from_checkpoint(str(trained))
    a, b = rec.item_labels[0], rec.item_labels[1]
    result = recommend_cli('--checkpoint', trained, '--session', f'{a},{b}',
                           '-k', '4')
    assert result.exit_code == 0, result.output
    assert result.output.split() == rec.recommend([[a, b]], k=4)[0]

    result = recommend_cli('--checkpoint', trained, '--session', 'nope',
                           '--strict')
    assert result.exit_code == 1
    assert result.output.startswith("Error: --session: unknown item id")
    assert 'Traceback' not in result.output

    result = recommend_cli('--checkpoint', tmp_path / 'missing.pt',
                           '--session', a)
    assert result.exit_code == 1
    assert 'No checkpoint at' in result.output


def test_recommend_file_keeps_one_line_per_line(trained, tmp_path):
    rec = Recommender.from_checkpoint(str(trained))
    a, b = rec.item_labels[0], rec.item_labels[1]
    sessions = tmp_path / 'sessions.txt'
    sessions.write_text(f'{a} {b}\n\n{b}, {a}\nnope, never\n{a}\n')
    result = recommend_cli('--checkpoint', trained, '--file', sessions, '-k',
                           3)
    # The unknown-only line 4 gets an empty line and a warning naming it;
    # the other sessions are answered, and the exit status says one failed.
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert lines[0].split() == rec.recommend([[a, b]], k=3)[0]
    assert lines[1] == '' and lines[3] == ''
    assert lines[2].split() == rec.recommend([[b, a]], k=3)[0]
    assert lines[4].split() == rec.recommend([[a]], k=3)[0]
    assert f'Warning: {sessions} line 4 has no item the model knows' in (
        result.stderr)
    assert result.stderr.strip().splitlines()[-1] == (
        f'Error: 1 of 4 session(s) got no recommendation ({sessions} line '
        f'4); their output lines are empty')

    result = recommend_cli('--checkpoint', trained, '--file', sessions,
                           '--json', '--fallback', 'popular')
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r['line'] for r in records] == [1, 2, 3, 4, 5]
    assert [r['session'] for r in records] == [[a, b], [], [b, a],
                                               ['nope', 'never'], [a]]
    assert [len(r['items']) for r in records] == [20, 0, 20, 20, 20]


def test_session_text_round_trip():
    ids = ['plain', 'with space', 'a,b', 'say "hi"', '', 'tab\there']
    text = ' '.join(format_item(item) for item in ids)
    assert text == ('plain "with space" "a,b" "say ""hi""" "" "tab\there"')
    assert parse_session(text) == ids
    assert parse_session(' a, b ,,c\td ') == ['a', 'b', 'c', 'd']
    assert parse_session('') == []
    for bad, column in (('a "b', 3), ('ab"c"', 3), ('"a"b', 4)):
        with pytest.raises(ValueError, match=f'line 2: cannot read the item '
                           f'ids at column {column} '):
            parse_session(bad, 'line 2')


def test_item_ids_with_separators_round_trip(tmp_path):
    # A shop's own ids may hold spaces, commas and quotes; what recommend
    # prints can be given back to it.
    log = tmp_path / 'shop.csv'
    names = ['red shirt', 'shoe,left', 'the "best" hat', 'sock']
    rows = ['visit\tproduct\twhen']
    for visit in range(40):
        for step in range(3):
            item = names[(visit + step) % 4]
            when = 1_000_000 + visit * 10_000 + step
            rows.append(f'{visit}\t{item}\t{when}')
    log.write_text('\n'.join(rows) + '\n')
    runner = CliRunner()
    result = runner.invoke(main, [
        'preprocess', str(log), '--root', str(tmp_path / 'data'),
        '--session-col', 'visit', '--item-col', 'product', '--time-col',
        'when', '--test-days', '1', '--sep', '\t'])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, [
        'fit', '--dataset', 'custom', '--root', str(tmp_path / 'data'),
        '--run-dir', str(tmp_path / 'run'), '--epochs', '1',
        '--hidden-channels', '8', '--no-progress', '--protocol', 'paper'])
    assert result.exit_code == 0, result.output
    checkpoint = str(tmp_path / 'run' / 'checkpoint.pt')
    rec = Recommender.from_checkpoint(checkpoint)
    assert sorted(rec.item_labels) == sorted(names)

    typed = '"red shirt", "shoe,left"'
    result = recommend_cli('--checkpoint', checkpoint, '--session', typed,
                           '-k', 4)
    assert result.exit_code == 0, result.output
    printed = parse_session(result.output.strip())
    assert printed == rec.recommend([['red shirt', 'shoe,left']], k=4)[0]
    assert sorted(printed) == sorted(names)
    result = recommend_cli('--checkpoint', checkpoint, '--session',
                           result.output.strip(), '--strict', '-k', 2)
    assert result.exit_code == 0, result.output

    result = runner.invoke(main, ['explain', '--checkpoint', checkpoint,
                                  '--session', typed])
    assert result.exit_code == 0, result.output
    assert '"red shirt" -> "shoe,left"' in result.output


def test_evaluate_cli(trained):
    result = CliRunner().invoke(main, ['evaluate', '--checkpoint',
                                       str(trained), '-k', '5', '-k', '20'])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out['samples'] == 99 and out['split'] == 'test'
    assert set(out) >= {'HR@5', 'MRR@5', 'NDCG@5', 'HR@20', 'MRR@20',
                        'NDCG@20'}
    run = json.loads((trained.parent / 'metrics.json').read_text())
    assert out['HR@20'] == pytest.approx(run['test']['HR@20'])


def test_checkpoint_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ('pwned', ))

    path = tmp_path / 'evil.pt'
    path.write_bytes(pickle.dumps({'model': Evil()}))
    with pytest.raises(ValueError, match='cannot be loaded safely|not a '
                       'pyg-srgnn checkpoint'):
        load_checkpoint(str(path))
    torch.save({'weights': torch.zeros(1)}, tmp_path / 'other.pt')
    with pytest.raises(ValueError, match='missing model, config'):
        load_checkpoint(str(tmp_path / 'other.pt'))


def test_explain(trained):
    rec = Recommender.from_checkpoint(str(trained))
    a, b, c = rec.item_labels[:3]
    out = rec.explain([a, b, a, c])
    assert out['nodes'] == [a, b, c]  # item ids 1, 2, 3, ascending
    assert [(e['source'], e['target']) for e in out['edges']] == [
        (0, 1), (0, 2), (1, 0)]
    # a has two distinct out-neighbours; b's only in-neighbour is a.
    assert [e['out_weight'] for e in out['edges']] == [0.5, 0.5, 1.0]
    assert [e['in_weight'] for e in out['edges']] == [1.0, 1.0, 1.0]
    assert [c_['node'] for c_ in out['clicks']] == [0, 1, 0, 2]
    assert out['last_node'] == 2
    model = rec.model
    data = session_graph_batch(torch.tensor([1, 2, 1, 3]),
                               torch.tensor([0, 4]))
    with torch.no_grad():
        h = model.conv(model.embedding(data.x), data.edge_index)
        _, alpha = model.readout(h, data.alias_index, data.last_index,
                                 data.batch, return_attention_weights=True)
    assert [c_['attention'] for c_ in out['clicks']] == pytest.approx(
        alpha.tolist())


def test_explain_and_plot_cli(trained, tmp_path):
    pytest.importorskip('matplotlib')
    rec = Recommender.from_checkpoint(str(trained))
    a, b = rec.item_labels[:2]
    png = tmp_path / 'explain.png'
    result = CliRunner().invoke(main, [
        'explain', '--checkpoint', str(trained), '--session', f'{a},{b},{a}',
        '--png', str(png)
    ])
    assert result.exit_code == 0, result.output
    assert f'{a} -> {b}' in result.output
    assert 'weight α' in result.output
    # The raw weights come with what they are.
    assert 'not normalised' in result.output.splitlines()[-2]
    assert png.stat().st_size > 1000
    assert png.read_bytes()[:4] == b'\x89PNG'

    result = CliRunner().invoke(main, ['plot', str(trained.parent)])
    assert result.exit_code == 0, result.output
    curves = trained.parent / 'curves.png'
    assert curves.stat().st_size > 1000
    assert curves.read_bytes()[:4] == b'\x89PNG'

    result = CliRunner().invoke(main, ['plot', str(tmp_path)])
    assert result.exit_code == 1
    assert 'not a run directory' in result.output


def test_evaluate_on_another_dataset_leaves_the_models_data_alone(
        trained, tmp_path, monkeypatch):
    monkeypatch.delenv('PYG_SRGNN_DATA', raising=False)
    monkeypatch.setenv('PYG_SRGNN_HOME', str(tmp_path / 'home'))
    data_dir = trained.parent.parent / 'data'  # the model's --root
    before = sorted(data_dir.rglob('*'))
    result = CliRunner().invoke(main, ['evaluate', '--checkpoint',
                                       str(trained), '--dataset',
                                       'diginetica'])
    assert result.exit_code == 1
    # Diginetica is looked for where it lives by default, not in the
    # sample's directory.
    assert str(tmp_path / 'home' / 'diginetica' / 'raw') in result.output
    assert sorted(data_dir.rglob('*')) == before


def test_niser_checkpoint_round_trip(tmp_path):
    config = FitConfig.from_options(
        root=str(tmp_path / 'data'), run_dir=str(tmp_path / 'run'),
        hidden_channels=8, epochs=1, progress=False, norm_scale=16.0,
        embedding_dropout=0.1, positions=5)
    fit(config, log=lambda msg: None)
    checkpoint = load_checkpoint(str(tmp_path / 'run' / 'checkpoint.pt'))
    model, loaded = model_from_checkpoint(checkpoint)
    assert (model.norm_scale, model.dropout, model.max_positions) == (
        16.0, 0.1, 5)
    assert loaded.model.positions == 5
    rec = Recommender.from_checkpoint(str(tmp_path / 'run' /
                                          'checkpoint.pt'))
    a, b = rec.item_labels[:2]
    top = rec.model.recommend([[1, 2]], k=5)[0].tolist()
    assert rec.recommend([[a, b]], k=5)[0] == [rec.item_labels[i - 1]
                                               for i in top]
    # explain's weights come from the same session embedding as the scores.
    out = rec.explain([a, b, a])
    data = session_graph_batch(torch.tensor([1, 2, 1]), torch.tensor([0, 3]))
    _, alpha = rec.model.session_embedding(
        data.x, data.edge_index, data.alias_index, data.last_index,
        data.batch, return_attention_weights=True)
    assert [c['attention'] for c in out['clicks']] == pytest.approx(
        alpha.tolist())


def test_plot_a_run_killed_while_logging(trained, tmp_path):
    pytest.importorskip('matplotlib')
    import shutil
    run = tmp_path / 'run'
    shutil.copytree(trained.parent, run)
    with open(run / 'log.jsonl', 'a') as f:
        f.write('{"epoch": 3, "lr": 0.001, "lo')  # cut mid-record
    result = CliRunner().invoke(main, ['plot', str(run)])
    assert result.exit_code == 0, result.output
    assert (run / 'curves.png').stat().st_size > 1000


@pytest.mark.parametrize('name', ['srgnn', 'srsan', 'pop', 'spop',
                                  'itemknn', 'sknn', 'vsknn', 'stan'])
def test_every_model_through_fit_evaluate_recommend_explain(name, tmp_path):
    runner = CliRunner()
    run = tmp_path / 'run'
    sizes = {'srgnn': ['--hidden-channels', '8'],
             'srsan': ['--hidden-channels', '8', '--ff-channels', '16']}
    result = runner.invoke(main, [
        'fit', '--model', name, '--root', str(tmp_path / 'data'),
        '--run-dir', str(run), '--epochs', '2', '--no-progress',
        *sizes.get(name, [])])
    assert result.exit_code == 0, result.output
    fitted = result.output
    metrics = json.loads((run / 'metrics.json').read_text())
    checkpoint = str(run / 'checkpoint.pt')
    model, config = model_from_checkpoint(load_checkpoint(checkpoint))
    assert config.model_name == name
    if model.neural:
        assert metrics['epochs_run'] == 2
        settings = {'srgnn': 'settings: SR-GNN d = 8, 1 propagation step',
                    'srsan': 'settings: SR-SAN d = 8, 1 layer(s), 2 heads'}
        assert settings[name] in fitted
    else:
        # Gathered on the training part, ranked on validation, then
        # gathered again from every training sample (refit, the default):
        # the model kept and tested.
        counts = re.findall(r'statistics of ([\d,]+) training samples',
                            fitted)
        assert counts[0] == '1,058' and len(counts) == 2
        assert int(counts[1].replace(',', '')) > 1058
        assert 'statistics of all the training samples' in fitted
        # The settings line names the baseline with its options.
        settings = {'pop': 'POP;', 'spop': 'S-POP;',
                    'itemknn': 'ItemKNN (neighbors 100, regularization 20.0, '
                               'alpha 0.5);',
                    'sknn': 'SKNN (neighbors 100, sample_size 500, '
                            'similarity cosine);',
                    'vsknn': 'V-SKNN (neighbors 100, sample_size 500, '
                             'similarity vec, weighting div, weighting_score '
                             'div, idf_weighting 1.0);',
                    'stan': 'STAN (neighbors 100, sample_size 5000, '
                            'lambda_spw 1.02, lambda_inh 2.05);'}
        assert f'settings: {settings[name]}' in fitted
        assert metrics['epochs_run'] == 0 and 'valid' in metrics

    result = runner.invoke(main, ['evaluate', '--checkpoint', checkpoint])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)['HR@20'] == pytest.approx(
        metrics['test']['HR@20'])

    rec = Recommender.from_checkpoint(checkpoint)
    a, b = rec.item_labels[:2]
    result = runner.invoke(main, ['recommend', '--checkpoint', checkpoint,
                                  '--session', f'{a} {b}', '-k', '4'])
    assert result.exit_code == 0, result.output
    assert result.output.split() == rec.recommend([[a, b]], k=4)[0]

    result = runner.invoke(main, ['explain', '--checkpoint', checkpoint,
                                  '--session', f'{a} {b} {a}'])
    if name == 'srsan':
        assert result.exit_code == 0, result.output
        weights = [c['attention'] for c in rec.explain([a, b, a])['clicks']]
        assert sum(weights) == pytest.approx(1.0)  # the last click's softmax
        assert weights[0] == weights[2]  # the same item, the same key
        assert 'softmax weights, summing to 1' in result.output
    elif name == 'srgnn':
        assert result.exit_code == 0, result.output
        assert 'not normalised' in result.output
    else:
        assert result.exit_code == 1
        assert 'has no attention weights to explain' in result.output
