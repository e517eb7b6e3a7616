import json

from click.testing import CliRunner

from pyg_srgnn.cli import main
from pyg_srgnn.config import option_fields


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_fit_help_documents_every_option():
    result = run('fit', '--help')
    assert result.exit_code == 0
    # Every section's options and every model's.
    for name in option_fields():
        option = '--k' if name == 'ks' else '--' + name.replace('_', '-')
        assert option in result.output, option
    assert '[default: 0.001]' in result.output  # --lr
    # A model's option lists each model's default.
    text = ' '.join(result.output.split())
    assert '[default: srgnn 100, srsan 96]' in text
    assert '[default: itemknn 100, sknn 100, vsknn 100, stan 100]' in text


def test_fit(tmp_path):
    result = run('fit', '--root', str(tmp_path / 'data'), '--run-dir',
                 str(tmp_path / 'run'), '--epochs', '2', '--hidden-channels',
                 '8', '--no-progress', '-k', '5', '-k', '20')
    assert result.exit_code == 0, result.output
    assert 'epoch   2' in result.output
    *_, model, pop, written = result.output.strip().splitlines()
    assert model.startswith('SR-GNN  HR@20 ') and 'MRR@20 ' in model
    assert pop.startswith('POP     HR@20 ') and 'most popular' in pop
    assert written == f"written to {tmp_path / 'run'}"
    metrics = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert f"HR@20 {100 * metrics['pop']['test']['HR@20']:5.2f}" in pop


def test_fit_paper_protocol(tmp_path):
    result = run('fit', '--root', str(tmp_path / 'data'), '--run-dir',
                 str(tmp_path / 'run'), '--epochs', '1', '--hidden-channels',
                 '8', '--no-progress', '--protocol', 'paper')
    assert result.exit_code == 0, result.output
    assert 'paper protocol' in result.output.splitlines()[-3]


def test_bad_options():
    result = run('fit', '--epoch', '3')
    assert result.exit_code == 2
    assert "No such option '--epoch'" in result.output
    assert "'--epochs'" in result.output  # suggested
    assert 'Traceback' not in result.output

    result = run('fit', '--protocol', 'best')
    assert result.exit_code == 2
    assert "'best' is not one of 'clean', 'paper'" in result.output

    result = run('fit', '--valid-fraction', '1.5')
    assert result.exit_code == 2
    assert "Invalid 'valid_fraction': 1.5 (expected in (0, 1))" in (
        result.output)

    result = run('fit', '--batch-size', 'ten')
    assert result.exit_code == 2
    assert "'ten' is not a valid integer" in result.output


def test_malformed_csv_is_reported(tmp_path):
    raw = tmp_path / 'data' / 'raw'
    raw.mkdir(parents=True)
    (raw / 'train-item-views.csv').write_text(
        'session_id;user_id;item_id;timeframe;eventdate\n'
        '1;NA;81766;526309;2016-05-09\n'
        '1;NA;31331;soon;2016-05-09\n')
    result = run('fit', '--root', str(tmp_path / 'data'), '--no-progress')
    assert result.exit_code == 1
    assert 'train-item-views.csv' in result.output
    assert 'line 3' in result.output or 'lines 3' in result.output
    assert 'Traceback' not in result.output
    assert isinstance(result.exception, SystemExit)


def test_stats(tmp_path):
    import json

    result = run('stats', '--root', str(tmp_path), '--json')
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out['train']['samples'] == 1205
    assert out['train']['sessions'] == 469
    assert out['test']['samples'] == 99
    assert out['train']['items'] == 309

    result = run('stats', '--root', str(tmp_path))
    assert result.exit_code == 0
    assert 'train      1,205       469' in result.output


def test_stats_missing_files(tmp_path, monkeypatch):
    monkeypatch.delenv('PYG_SRGNN_DATA', raising=False)
    result = run('stats', '--dataset', 'diginetica', '--root', str(tmp_path))
    assert result.exit_code == 1
    assert 'needs the SR-GNN files all_train_seq.txt and test.txt' in (
        result.output)
    assert 'Traceback' not in result.output
