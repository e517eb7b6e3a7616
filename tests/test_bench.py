import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from bench import baselines, speed
from bench.dense_official import dense_batch, dense_forward
from bench.search import CANDIDATES, candidate_config
from pyg_srgnn.config import FitConfig, preset_names, read_preset
from pyg_srgnn.data import session_graph_batch
from pyg_srgnn.nn import SRGNN, fused


def test_dense_official_pipeline_scores_like_ours():
    torch.manual_seed(0)
    model = SRGNN(num_items=12, hidden_channels=8, num_layers=2)
    sessions = [[1, 2, 3, 2, 4], [5, 5, 6], [7], [1, 2, 1, 2], [12, 3]]
    items, A_in, A_out, alias, mask, _ = dense_batch(sessions, [1] * 5)
    clicks = torch.tensor([i for s in sessions for i in s])
    ptr = torch.tensor([0, 5, 8, 9, 13, 15])
    with torch.no_grad():
        ours = model.forward_batch(session_graph_batch(clicks, ptr))
        dense = dense_forward(model, items, A_in, A_out, alias, mask)
    assert torch.allclose(ours, dense, atol=1e-5)


def test_speed_quick_runs(tmp_path):
    threads = torch.get_num_threads()
    result = CliRunner().invoke(speed.main, [
        '--quick', '--dataset', 'diginetica-sample', '--root',
        str(tmp_path), '--threads', '1'
    ])
    torch.set_num_threads(threads)  # the bench sets it for the process
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    for key in ('ours_ms', 'floor_ms', 'dense_ms', 'ratio_to_floor',
                'gnn_ms', 'gnn_gemms_ms', 'gemm_step_ms', 'modules_ms',
                'modules_ratio_to_floor', 'fused_speedup'):
        assert out[key] > 0
    # Fused wherever the kernel builds (see tests/nn/test_fused.py).
    assert out['fused_kernel'] == (fused.load_kernel() is not None)
    assert out['gemm_bound_ratio'] > 1
    assert out['gemm_step_ratio'] > 0
    assert set(out['page_faults_per_step']) == {'ours', 'modules', 'floor',
                                                'gemm_step'}
    assert all(count >= 0 for count in out['page_faults_per_step'].values())


def test_speed_of_another_model_quick_runs(tmp_path):
    threads = torch.get_num_threads()
    result = CliRunner().invoke(speed.main, [
        '--quick', '--model', 'srsan', '--dataset', 'diginetica-sample',
        '--root', str(tmp_path), '--threads', '1', '--repeats', '2'])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out['model'] == 'srsan' and out['hidden_channels'] == 96
    assert out['ours_ms'] > 0 and out['floor_ms'] > 0
    assert out['ratio_to_floor'] == pytest.approx(
        out['ours_ms'] / out['floor_ms'], rel=0.01)
    result = CliRunner().invoke(speed.main, ['--model', 'pop'])
    assert result.exit_code == 2  # baselines have no training step


def test_baselines_quick_runs(tmp_path):
    threads = torch.get_num_threads()
    result = CliRunner().invoke(baselines.main, [
        '--quick', '--root', str(tmp_path), '--threads', '1'
    ])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert list(out) == list(baselines.MODELS)
    for name in ('item_knn', 'sknn', 'vsknn', 'stan'):
        assert out[name]['HR@20'] > out['pop']['HR@20']
    assert all(out[name]['score_s'] >= 0 for name in out)
    result = CliRunner().invoke(baselines.main, ['--models', 'pop,gru4rec'])
    assert result.exit_code != 0 and 'unknown gru4rec' in result.output


def test_baseline_search_quick_chooses_on_validation(tmp_path,
                                                     monkeypatch):
    from bench import baseline_search

    # The search must not read the test split.
    from pyg_srgnn.data import registry
    load = registry.load_dataset

    def train_only(name, root=None, split='train'):
        assert split == 'train'
        return load(name, root, split)

    monkeypatch.setattr(baseline_search, 'load_dataset', train_only)
    threads = torch.get_num_threads()
    result = CliRunner().invoke(baseline_search.main, [
        '--quick', '--root', str(tmp_path), '--threads', '1',
        '--models', 'itemknn,sknn'])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert list(out) == ['itemknn', 'sknn']
    grid = baseline_search.GRIDS['sknn']
    assert set(out['sknn']['winner']) == set(grid)
    assert all(out['sknn']['winner'][key] in grid[key] for key in grid)
    assert 0 < out['sknn']['valid_HR@20'] <= 100
    result = CliRunner().invoke(baseline_search.main, ['--models', 'pop'])
    assert result.exit_code != 0 and 'unknown pop' in result.output


def test_baseline_search_done_only_fits_the_winners(tmp_path, monkeypatch):
    from bench import baseline_search
    monkeypatch.setattr(baseline_search, 'RESULTS_DIR', tmp_path)
    runs = [{'options': options} for options in baseline_search.settings(
        baseline_search.GRIDS['sknn'])]
    (tmp_path / 'baseline-search-diginetica.json').write_text(json.dumps(
        {'models': {'sknn': {'runs': runs, 'winner': {'neighbors': 200}}}}))
    fitted = []
    monkeypatch.setattr(baseline_search, 'run', lambda config, command:
                        fitted.append((config.model_name,
                                       config.model.to_dict())))
    monkeypatch.setattr(baseline_search, 'load_dataset', None)  # not read
    result = CliRunner().invoke(baseline_search.main, [
        '--models', 'sknn', '--fit-winners'])
    assert result.exit_code == 0, result.output
    assert 'the search is not run again' in result.output
    assert [name for name, _ in fitted] == ['pop', 'spop', 'sknn']
    assert fitted[-1][1]['neighbors'] == 200


def test_baseline_search_adds_the_models_a_result_file_lacks(
        tmp_path, monkeypatch):
    from bench import baseline_search
    monkeypatch.setattr(baseline_search, 'RESULTS_DIR', tmp_path)
    path = tmp_path / 'baseline-search-diginetica-sample.json'
    runs = [{'options': options, 'valid_HR@20': 1.0, 'valid_MRR@20': 1.0}
            for options in baseline_search.settings(
                baseline_search.GRIDS['sknn'])]
    sknn = {'grid': {}, 'runs': runs, 'winner': {'neighbors': 200},
            'command': 'earlier'}
    path.write_text(json.dumps({'command': 'python -m bench.baseline_search',
                                'peak_rss_mb': 10 ** 6,
                                'models': {'sknn': sknn}}))
    searched = []

    def search(name, grid, *args):
        searched.append(name)
        return {'grid': grid, 'winner': {'neighbors': 100},
                'runs': [{'options': options}
                         for options in baseline_search.settings(grid)]}

    monkeypatch.setattr(baseline_search, 'search', search)
    result = CliRunner().invoke(baseline_search.main, [
        '--dataset', 'diginetica-sample', '--models', 'sknn,stan',
        '--threads', '1'])
    assert result.exit_code == 0, result.output
    assert result.output.endswith('exists: searching stan\n')
    assert searched == ['stan']
    out = json.loads(path.read_text())
    # Kept as it was, its command now in the list all models have.
    sknn['commands'] = [sknn.pop('command')]
    assert out['models']['sknn'] == sknn
    assert out['models']['stan']['winner'] == {'neighbors': 100}
    assert len(out['models']['stan']['commands']) == 1
    assert out['models']['stan']['commands'][0].startswith(
        'python -m bench.baseline_search')
    assert out['commands'][0] == 'python -m bench.baseline_search'
    assert out['peak_rss_mb'] == 10 ** 6
    # Nothing left to search: the file stays.
    result = CliRunner().invoke(baseline_search.main, [
        '--dataset', 'diginetica-sample', '--models', 'stan'])
    assert 'has every model and setting asked for' in result.output
    assert searched == ['stan'] and json.loads(path.read_text()) == out


def test_baseline_search_widened_grid_runs_only_the_new_settings(
        tmp_path, monkeypatch):
    from bench import baseline_search
    monkeypatch.setattr(baseline_search, 'RESULTS_DIR', tmp_path)
    monkeypatch.setattr(baseline_search, 'GRIDS', {'itemknn': {
        'neighbors': (50, 100), 'alpha': (0.5, )}})
    path = tmp_path / 'baseline-search-diginetica-sample.json'
    first = {'options': {'neighbors': 50, 'alpha': 0.5}, 'valid_HR@20': 99.0,
             'valid_MRR@20': 1.0, 'fit_s': 0.1, 'seconds': 0.2}
    path.write_text(json.dumps({
        'commands': ['first'], 'peak_rss_mb': 1,
        'models': {'itemknn': {'grid': {'neighbors': [50], 'alpha': [0.5]},
                               'runs': [first], 'winner': first['options'],
                               'command': 'first'}}}))
    threads = torch.get_num_threads()
    result = CliRunner().invoke(baseline_search.main, [
        '--dataset', 'diginetica-sample', '--root', str(tmp_path),
        '--models', 'itemknn', '--threads', '1'])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    assert 'searching itemknn (1 new settings)' in result.output
    # Only the added setting ran; the recorded one kept its (made-up)
    # numbers and, with them, wins.
    assert "{'neighbors': 100, 'alpha': 0.5}: HR@20" in result.output
    assert "{'neighbors': 50" not in result.output
    out = json.loads(path.read_text())['models']['itemknn']
    assert [r['options']['neighbors'] for r in out['runs']] == [50, 100]
    assert out['runs'][0] == first and out['winner'] == first['options']
    assert out['grid'] == {'neighbors': [50, 100], 'alpha': [0.5]}
    assert out['commands'][0] == 'first' and len(out['commands']) == 2
    assert not baseline_search.progress_file('diginetica-sample').exists()


def test_baseline_search_settings_skip_more_neighbours_than_samples():
    from bench.baseline_search import settings
    grid = {'neighbors': (100, 1000), 'sample_size': (0, 500, 1000)}
    assert settings(grid) == [
        {'neighbors': 100, 'sample_size': 0},
        {'neighbors': 100, 'sample_size': 500},
        {'neighbors': 100, 'sample_size': 1000},
        {'neighbors': 1000, 'sample_size': 0},
        {'neighbors': 1000, 'sample_size': 1000}]
    assert len(settings({'neighbors': (1, 2), 'alpha': (0.5, 1.0)})) == 4


def test_baseline_search_goes_on_where_it_stopped(tmp_path):
    from bench import baseline_search
    from pyg_srgnn.config import TrainingConfig
    from pyg_srgnn.data import SessionLoader
    from pyg_srgnn.data.registry import load_dataset
    from pyg_srgnn.protocol import get_protocol

    train_set = load_dataset('diginetica-sample', str(tmp_path), 'train')
    train_index, valid_index = get_protocol('clean').split(
        TrainingConfig(), train_set.sample_tensors()[3])
    valid = SessionLoader(train_set, valid_index, batch_size=500)
    grid = {'neighbors': (50, 100), 'alpha': (0.5, )}
    # A search killed after its first setting: that line, and one cut short.
    first = {'options': {'neighbors': 50, 'alpha': 0.5}, 'valid_HR@20': 99.0,
             'valid_MRR@20': 1.0, 'fit_s': 0.1, 'seconds': 0.2}
    progress = tmp_path / 'search.partial.jsonl'
    key = baseline_search.setting_key('itemknn', first['options'])
    progress.write_text(json.dumps({'key': key, **first}) + '\n{"key": "ite')
    done = baseline_search.read_progress(progress)
    assert list(done) == [key]
    recorded = []
    result = baseline_search.search('itemknn', grid, train_set, train_index,
                                    valid, lambda message: None, done,
                                    recorded.append)
    # Only the second setting ran; the first kept its (made-up) numbers.
    assert [r['options'] for r in recorded] == [{'neighbors': 100,
                                                 'alpha': 0.5}]
    assert recorded[0]['key'] == baseline_search.setting_key(
        'itemknn', {'neighbors': 100, 'alpha': 0.5})
    assert result['winner'] == first['options']
    assert len(result['runs']) == 2


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
                    reason='bench.phases sets glibc malloc options')
def test_phases_runs(tmp_path):
    # In a child process, as it changes malloc's settings for good.
    out = tmp_path / 'phases.json'
    subprocess.run(
        [sys.executable, '-m', 'bench.phases', '--dataset',
         'diginetica-sample', '--root', str(tmp_path / 'data'), '--rounds',
         '1', '--threads', '1', '--out', str(out)],
        capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1])
    result = json.loads(out.read_text())
    assert result['ours_ms']['total'] > result['ours_ms']['embedding'] > 0
    assert result['floor_ms']['total'] > 0
    assert set(result['extra_ms']) == {
        'batch', 'embedding_forward', 'backward', 'step',
        'scores_loss_zero_grad'}


def test_gnn_gemm_shapes_are_the_models_linear_maps():
    # Every weight matrix of the session embedding, with the rows it maps in
    # a batch: the benchmark's GEMM bound must cover exactly these.
    model = SRGNN(num_items=30, hidden_channels=8)
    sessions = [[1, 2, 3, 2], [4, 5], [6]]
    clicks = torch.tensor([i for s in sessions for i in s])
    batch = session_graph_batch(clicks, torch.tensor([0, 4, 6, 7]))
    rows = {}

    def record(name):
        def hook(module, args):
            rows.setdefault(name, []).append(args[0].size(0))
        return hook

    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.GRUCell)):
            module.register_forward_pre_hook(record(name))
    model.forward_batch(batch)
    d = 8
    shapes = sorted(speed.gnn_gemm_shapes(num_nodes=6, num_clicks=7,
                                          num_sessions=3, d=d))
    # SRGNNConv applies lin_in and lin_out as one [2d, d] product (its
    # hooks do not fire); the GRU cell holds the input and hidden products.
    assert 'conv.lin_in' not in rows
    assert rows == {'conv.rnn': [6], 'readout.lin_last': [3],
                    'readout.lin_click': [7], 'readout.att': [7],
                    'readout.lin_hybrid': [3]}
    expected = sorted([
        (6, d, 2 * d), (6, 2 * d, 3 * d), (6, d, 3 * d), (7, d, d),
        (3, d, d), (7, d, 1), (3, 2 * d, d),
    ])
    assert shapes == expected
    # One (in, out) per weight matrix, lin_in and lin_out stacked.
    weights = [(p.size(1), p.size(0)) for name, p in model.named_parameters()
               if p.dim() == 2 and name != 'embedding.weight'
               and not name.startswith('conv.lin_')]
    assert sorted((in_, out) for _, in_, out in expected) == sorted(
        weights + [(d, 2 * d)])


def test_collect_tables():
    from bench.collect import accuracy_table, speed_table

    runs = {'diginetica|paper': [
        {'result': {'test': {'HR@20': 0.51, 'MRR@20': 0.17},
                    'best_epoch': {'HR@20': 4, 'MRR@20': 5}},
         'seed': 0, 'epochs': '10'},
        {'result': {'test': {'HR@20': 0.53, 'MRR@20': 0.19},
                    'best_epoch': {'HR@20': 3, 'MRR@20': 3}},
         'seed': 1, 'epochs': '10'},
    ], 'diginetica|clean': [
        {'result': {'test': {'HR@20': 0.5, 'MRR@20': 0.175},
                    'best_epoch': 6},
         'seed': 0, 'epochs': '10'},
    ]}
    table = accuracy_table(runs)
    assert '| diginetica | paper | 0, 1 | 10, 10 | 4/5, 3/3 | 52.00 ± 1.41 ' \
           '| 18.00 ± 1.41 | 50.73 / 17.59 | 51.63 / 17.83 |' in table
    # The published numbers are paper-protocol numbers: not beside clean.
    assert '| diginetica | clean | 0 | 10 | 6 | 50.00 | 17.50 | - | - |' \
        in table

    speed = {
        'ours_ms': 44.0, 'floor_ms': 40.0, 'dense_ms': 88.0,
        'ratio_to_floor': 1.1, 'dense_ratio_to_floor': 2.2,
        'speedup_over_dense': 2.0, 'pipeline_ms': 1.0,
        'pipeline_share': 0.0227, 'eval_samples': 60858, 'eval_ours_s': 11.0,
        'eval_floor_s': 10.0, 'eval_ratio_to_floor': 1.1,
        'latency_p50_ms': 3.0, 'latency_p99_ms': 4.0,
        'paired_ratio_p25_p50_p75': [1.05, 1.1, 1.2],
        'setup': {'threads': 2, 'repeats': 50},
        'machine': {'cpu': 'CPU', 'cpu_capability': 'AVX512',
                    'torch': '2.13.0'},
    }
    table = speed_table(speed)
    assert '| 44.0 ms | 1.10x |' in table
    assert 'quartiles 1.05x / 1.10x / 1.20x over the 50 rounds' in table
    assert 'Our step is 2.00x faster than the dense pipeline' in table
    assert 'Machine: CPU (AVX512), 2 threads, torch 2.13.0.' in table
    assert 'session embedding alone' not in table  # older files lack it

    speed.update(gnn_ms=3.5, gnn_gemms_ms=1.8, extra_ms=4.0,
                 gemm_bound_ratio=1.046)
    table = speed_table(speed)
    assert '| its matrix products alone, same shapes | 1.80 ms | - |' in table
    assert 'Ours minus the floor: 4.00 ms.' in table
    assert 'would take 1.05x the floor' in table
    assert 'only the unavoidable' not in table  # older files lack it
    assert 'PyTorch modules' not in table  # files before the fused kernel
    assert 'Our step over the floor: 1.100x.' in table

    speed.update(gemm_step_ms=42.0, gemm_step_ratio=1.05)
    table = speed_table(speed)
    assert ('| training step, floor + drawing the batch + the GNN\'s matrix '
            'products (only the unavoidable) | 42.0 ms | 1.05x |') in table

    speed.update(modules_ms=46.0, modules_ratio_to_floor=1.15,
                 fused_speedup=1.045, setup={'threads': 2, 'repeats': 50,
                                             'fused_kernel': True})
    table = speed_table(speed)
    assert ('| training step, ours (data + graphs included; fused kernel, '
            'as fit) | 44.0 ms | 1.10x |') in table
    assert ('| training step, ours with the PyTorch modules | 46.0 ms | '
            '1.15x |') in table
    assert ('Our step over the floor: 1.100x; with the PyTorch modules '
            '1.150x in the same run, so the fused kernel makes the step '
            '1.045x faster.') in table


def test_accuracy_does_not_run_a_finished_run_again(tmp_path, monkeypatch):
    import bench.accuracy
    from pyg_srgnn.config import FitConfig

    monkeypatch.chdir(tmp_path)  # run() moves to the repository root
    monkeypatch.setattr(bench.accuracy, 'BENCH_DIR', tmp_path / 'bench')
    monkeypatch.setattr(bench.accuracy, 'RESULTS_DIR',
                        tmp_path / 'bench' / 'results')
    config = FitConfig.from_options(root=str(tmp_path / 'data'), epochs=1,
                                    hidden_channels=8, progress=False,
                                    num_threads=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first = bench.accuracy.run(config, 'test')
    finally:
        torch.set_num_threads(threads)
    run_json = bench.accuracy.run_dir_of(config) / 'run.json'
    # The threads the run used, not those the process started with.
    assert json.loads(run_json.read_text())['machine']['torch_threads'] == 1

    def fit(*args, **kwargs):
        raise AssertionError('a finished run trained again')
    monkeypatch.setattr(bench.accuracy, 'fit', fit)
    monkeypatch.setattr(bench.accuracy, 'resume', fit)
    assert bench.accuracy.run(config, 'test')['test'] == first['test']


def test_accuracy_refit_starts_from_the_finished_run_without_refit(
        tmp_path, monkeypatch, capsys):
    import bench.accuracy
    import pyg_srgnn.train
    from pyg_srgnn.checkpoint import load_checkpoint, save_checkpoint
    from pyg_srgnn.config import FitConfig
    from pyg_srgnn.train import fit

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench.accuracy, 'BENCH_DIR', tmp_path / 'bench')
    monkeypatch.setattr(bench.accuracy, 'RESULTS_DIR',
                        tmp_path / 'bench' / 'results')
    # A candidate as bench.search runs it: no refit, dropout drawing.
    plain = FitConfig.from_options(
        root=str(tmp_path / 'data'), protocol='clean', refit=False, epochs=3,
        hidden_channels=8, embedding_dropout=0.2, num_threads=1,
        progress=False)
    bench.accuracy.run(plain, 'search')
    source = bench.accuracy.run_dir_of(plain)
    # As runs saved it before torch's random state was: the refit draws
    # from the seed again, so it does not matter.
    last = load_checkpoint(str(source / 'last.pt'))
    del last['random_state']
    save_checkpoint(str(source / 'last.pt'), last)
    # Other epochs: not the refit run's first phase.
    assert bench.accuracy.validation_run_of(
        plain.replace(refit=True, epochs=4)) is None

    refit = plain.replace(refit=True)
    whole = fit(refit.replace(run_dir=str(tmp_path / 'whole')),
                log=lambda msg: None)
    trained = []
    run_epoch = pyg_srgnn.train.run_epoch
    monkeypatch.setattr(pyg_srgnn.train, 'run_epoch', lambda *args: (
        trained.append(args[6]) or run_epoch(*args)))
    capsys.readouterr()
    result = bench.accuracy.run(refit, 'refit')
    out = capsys.readouterr().out
    run_dir = bench.accuracy.run_dir_of(refit)
    assert result == {**whole, 'run_dir': str(run_dir.relative_to(tmp_path))}
    assert trained == [f'refit epoch {i}'
                       for i in range(1, whole['refit_epochs'] + 1)]
    assert 'no saved random state' not in out
    assert f'are those of {source.relative_to(tmp_path)}' in out
    saved = json.loads((run_dir / 'run.json').read_text())
    assert saved['validation_from'] == str(source.relative_to(tmp_path))
    assert json.loads((run_dir / 'config.json').read_text())[
        'training']['refit'] is True
    logs = [[json.loads(line) for line in open(path / 'log.jsonl')]
            for path in (tmp_path / 'whole', run_dir)]
    for a, b in zip(*logs):
        a.pop('train_seconds'), b.pop('train_seconds')
    assert logs[0] == logs[1]
    # Killed in the refit and resumed by a later call: still named.
    (run_dir / 'run.json').unlink()
    (run_dir / 'metrics.json').unlink()
    bench.accuracy.run(refit, 'refit')
    saved = json.loads((run_dir / 'run.json').read_text())
    assert saved['validation_from'] == str(source.relative_to(tmp_path))
    # A refit run that trained its first phase itself is not taken for a
    # copy of the candidate's run finished later, even if resumed after.
    other = refit.replace(seed=1)
    other_dir = bench.accuracy.run_dir_of(other)
    bench.accuracy.run(other, 'refit')
    bench.accuracy.run(other.replace(refit=False), 'search')
    (other_dir / 'run.json').unlink()
    (other_dir / 'metrics.json').unlink()
    bench.accuracy.run(other, 'refit')
    assert 'validation_from' not in json.loads(
        (other_dir / 'run.json').read_text())


def test_accuracy_run_names_say_the_variant():
    from bench.accuracy import variant
    from pyg_srgnn.config import FitConfig

    def name(**options):
        return variant(FitConfig.from_options(dataset='diginetica', **options))

    assert name(protocol='paper') == ''
    # Names are relative to the clean protocol as first defined (StepLR
    # stepped after each epoch, no refit), so that the committed runs keep
    # theirs: today's defaults are a variant.
    assert name(protocol='clean') == '-official-refit'
    assert name(protocol='clean', lr_schedule='step', refit=False) == ''
    # The paper protocol's own schedule is no variant.
    assert name(protocol='paper', lr_schedule='official') == ''
    assert name(protocol='clean', lr_schedule='step', refit=False,
                valid_split='random') == '-random'
    assert name(protocol='clean', norm_scale=16.0, embedding_dropout=0.1,
                positions=50) == '-official-refit-nis16-drop0.1-pos50'
    # SR-SAN's own d of 96 is no variant of SR-SAN.
    assert name(protocol='paper', model='srsan') == '-srsan'
    assert name(protocol='clean', model='srsan', faithful=True) == (
        '-srsan-faithful-official-refit')
    assert name(protocol='clean', model='vsknn', neighbors=200,
                weighting='quadratic', idf_weighting=5.0) == (
        '-vsknn-official-refit-n200-wquadratic-idf5')


def test_collect_refit_runs():
    from bench.collect import accuracy_table

    refit = {'result': {'test': {'HR@20': 0.52, 'MRR@20': 0.18},
                        'test_before_refit': {'HR@20': 0.5},
                        'best_epoch': 3},
             'seed': 0, 'epochs': '6'}
    table = accuracy_table({'diginetica|clean-official-refit': [refit]})
    assert ('| diginetica | clean-official-refit | 0 | 6 | 3 (refit; chosen '
            'model HR@20 50.00) | 52.00 | 18.00 | - | - |') in table


def test_collect_published_numbers_beside_paper_protocol_runs():
    from bench.collect import accuracy_table

    run = {'result': {'test': {'HR@20': 0.71, 'MRR@20': 0.31},
                      'best_epoch': {'HR@20': 4, 'MRR@20': 5}},
           'seed': 0, 'epochs': '10'}
    table = accuracy_table({'yoochoose1_64|paper-nis16-drop0.1-pos50': [run],
                            'yoochoose1_64|paper-srsan': [run],
                            'diginetica|paper-srsan': [run],
                            'diginetica|clean-srsan': [run]})
    rows = {line.split(' | ')[0] + line.split(' | ')[1]: line
            for line in table.splitlines()[2:]}
    assert '| - / 31.61 | - |' in rows[
        '| yoochoose1_64paper-nis16-drop0.1-pos50']
    assert '| 71.74 / 31.58 (quoted, unverified) | - |' in rows[
        '| yoochoose1_64paper-srsan']
    assert rows['| digineticapaper-srsan'].endswith('| - | - |')
    assert rows['| digineticaclean-srsan'].endswith('| - | - |')


def test_collect_variants_table():
    from bench.collect import variants_table

    def run(seed, hr, mrr):
        return {'result': {'test': {'HR@20': hr, 'MRR@20': mrr}},
                'seed': seed, 'epochs': '6'}

    runs = {'diginetica|clean-official-refit': [run(0, 0.5175, 0.1785),
                                                run(1, 0.5163, 0.1780)],
            'diginetica|clean-official-refit-sampled': [run(0, 0.51, 0.18)],
            'diginetica|clean-official-refit-ddp2': [run(2, 0.51, 0.18)]}
    table = variants_table(runs)
    assert ('| diginetica | sampled softmax (K 8,192 by popularity, logQ, '
            'lazy Adam) | 0 | 51.00 | 18.00 | 51.75 / 17.85 | -0.75 | '
            '+0.15 | 51.69 ± 0.08 (51.63-51.75) / 17.82 ± 0.04 '
            '(17.80-17.85) (2 seeds) |') in table
    assert 'DDP' not in table  # no default run of seed 2
    assert variants_table({}) == ''


def test_collect_search_table():
    from bench.collect import search_table

    run = {'seed': 0, 'epochs': 6, 'best_epoch': 5, 'finished': True,
           'HR@20': 51.39, 'MRR@20': 17.82}
    result = {'protocol': 'clean', 'budget': {'epochs': 6}, 'rule': 'by HR',
              'candidates': {'a': {'norm_scale': 16.0}, 'b': {}, 'c': {}},
              'ranking': [
                  {'candidate': 'a', 'options': {'norm_scale': 16.0},
                   'runs': [run, {**run, 'seed': 1, 'epochs': 3,
                                  'finished': False, 'HR@20': 51.41}]},
                  {'candidate': 'b', 'options': {}, 'runs': [run]}],
              'winner': 'a'}
    table = search_table(result)
    # Seed 1 of a is still going (3 of 6 epochs): listed, but its best so far
    # stays out of the mean while seed 0 has finished.
    assert ('| 1 | a | `norm_scale` 16.0 | 0, 1 | 6, 3+ | 5, 5 | '
            '51.39 | 17.82 |') in table
    assert "| 2 | b | the paper's | 0 | 6 | 5 | 51.39 | 17.82 |" in table
    assert 'Winner: **a**. Not run yet: c.' in table
    table = search_table({**result, 'winner': 'b', 'contenders': ['a']})
    assert ('Winner: **b**. Above it on fewer seeds, to run on more: a. '
            'Not run yet: c.') in table


def test_machine_names_the_commit():
    from bench.common import machine

    commit = machine()['commit']
    # A git checkout gives a short hash (with + for local changes); an
    # unpacked archive, as in CI, gives None.
    assert commit is None or commit.rstrip('+').isalnum()


@pytest.mark.parametrize('name', preset_names())
def test_presets_are_their_search_candidates(name):
    # A shipped preset is the candidate of bench.search of the same name,
    # whose runs back its numbers.
    options = FitConfig.from_options(**read_preset(name))
    candidate = FitConfig.from_options(model='srgnn', **CANDIDATES[name])
    assert options.model == candidate.model
    assert options.training == candidate.training


def test_collect_baseline_search_table():
    from bench.collect import baseline_search_table

    def run(neighbors, alpha, hr, mrr=10.0):
        return {'options': {'neighbors': neighbors, 'alpha': alpha},
                'valid_HR@20': hr, 'valid_MRR@20': mrr, 'seconds': 2.0}

    # neighbours: the winner's 500 is the grid's greatest, and 200 (alpha as
    # the winner's) scores less; alpha: 0.5 lies inside its grid. Sorted as
    # bench.baseline_search writes them, best first.
    searched = {'grid': {'neighbors': [200, 500], 'alpha': [0.25, 0.5, 1.0]},
                'winner': {'neighbors': 500, 'alpha': 0.5},
                'runs': [run(500, 0.5, 40.0), run(200, 0.5, 39.0),
                         run(500, 1.0, 38.0, 12.0)]}
    result = {'rule': 'rule', 'protocol': 'protocol', 'train_samples': 1000,
              'valid_samples': 100, 'peak_rss_mb': 12.0,
              'models': {'itemknn': searched}}
    row = baseline_search_table(result).splitlines()[2]
    assert row == ('| itemknn | `neighbors` 200 / 500, `alpha` 0.25 / 0.5 / '
                   '1.0 | 3 | `neighbors` 500, `alpha` 0.5 | `neighbors` '
                   '(+1.00) | 40.00 | 10.00 | 2.0 |')
    # A value that changes nothing (200 scores as 500) is no edge.
    searched['runs'][1] = run(200, 0.5, 40.0)
    assert '| 3 | `neighbors` 500, `alpha` 0.5 | - |' in baseline_search_table(
        result)


def test_collect_memory_of_whole_runs(tmp_path, monkeypatch):
    import bench.collect as collect

    def write_run(name, **run):
        path = tmp_path / 'accuracy' / name
        path.mkdir(parents=True)
        (path / 'run.json').write_text(json.dumps(
            {'wall_seconds_last_invocation': 3000.4,
             'result': {'epochs_run': 10}, **run}))

    monkeypatch.setattr(collect, 'RESULTS_DIR', tmp_path)
    assert collect.full_run_memory() == ''
    write_run('diginetica-paper-seed1', resumed=False, peak_rss_mb=1234.5)
    # A resumed run's peak covers its last part only; older runs lack it.
    write_run('diginetica-paper-seed2', resumed=True, peak_rss_mb=900.0)
    write_run('diginetica-paper-seed0', resumed=False)
    table = collect.full_run_memory()
    assert '| diginetica-paper-seed1 | 10 | 3,000 | 1,234 MB |' in table
    assert 'seed2' not in table and 'seed0' not in table


def test_collect_speed_runs_table(tmp_path, monkeypatch):
    import bench.collect as collect

    def write(path, keep_freed, **extra):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            'ours_ms': 29.0, 'floor_ms': 25.0, 'ratio_to_floor': 1.16,
            'paired_ratio_p25_p50_p75': [1.151, 1.16, 1.172],
            'setup': ({'keep_freed_memory': True, 'fused_kernel': True}
                      if keep_freed else {}),
            'machine': {'commit': 'abc1234'}, **extra}))

    monkeypatch.setattr(collect, 'RESULTS_DIR', tmp_path)
    write(tmp_path / 'speed-default-malloc.json', False)
    write(tmp_path / 'speed.json', True, gemm_step_ratio=1.094,
          page_faults_per_step={'ours': 0.0, 'floor': 1523.4},
          modules_ratio_to_floor=1.182)
    write(tmp_path / 'speed-runs' / 'run1.json', False)
    lines = collect.speed_runs_table().splitlines()
    assert lines[2].startswith('| speed.json | abc1234 | yes | fused kernel |')
    assert lines[2].endswith('| 1.182x | 1.09x | 0 / 1,523 |')
    assert lines[3] == ('| speed-default-malloc.json | abc1234 | no | modules '
                        '| 29.0 ms | 25.0 ms | 1.160x | 1.15x / 1.16x / 1.17x '
                        '| - | - | - |')
    assert lines[4].startswith('| speed-runs/run1.json |')
    assert len(lines) == 5


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
                    reason='the kept case sets glibc malloc options')
def test_allocator_runs(tmp_path):
    from bench import allocator

    out = tmp_path / 'allocator.json'
    result = CliRunner().invoke(allocator.main, [
        '--dataset', 'diginetica-sample', '--root', str(tmp_path / 'data'),
        '--threads', '1', '--rounds', '1', '--warmup', '2', '--steps', '3',
        '--out', str(out)
    ])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert set(saved['runs']) == {'default', 'keep_freed'}
    for name in ('default', 'keep_freed'):
        median = saved['median'][name]
        assert median['ms_per_step'] > 0 and median['peak_rss_mb'] > 0
        assert median['page_faults_per_step'] >= 0
    assert saved['speedup'] > 0
    assert saved['command'].startswith('python -m bench.allocator')


def test_collect_allocator_table():
    from bench.collect import allocator_table

    allocator = {
        'median': {
            'default': {'ms_per_step': 33.41, 'page_faults_per_step': 4811.2,
                        'peak_rss_mb': 712.3},
            'keep_freed': {'ms_per_step': 29.02, 'page_faults_per_step': 0.1,
                           'peak_rss_mb': 701.0},
        },
        'speedup': 1.151,
        'setup': {'rounds': 4, 'steps': 300, 'warmup': 50},
    }
    table = allocator_table(allocator)
    assert "| glibc's default | 33.41 | 4,811 | 712 MB |" in table
    assert '| freed memory kept (fit) | 29.02 | 0 | 701 MB |' in table
    assert 'makes a step 1.15x faster' in table


def test_collect_result_tables():
    from bench.collect import (
        baselines_table,
        big_log_table,
        ddp_table,
        hybrid_table,
        serve_table,
    )

    def metrics(hr, mrr):
        return {'HR@20': hr, 'MRR@20': mrr, 'HR@20 short': hr + 0.01,
                'MRR@20 short': mrr + 0.01, 'HR@20 long': hr - 0.01,
                'MRR@20 long': mrr - 0.01}
    table = hybrid_table({'max_short': 3, 'knn_alone': metrics(0.5, 0.18),
                          'knn_run': 'd-clean-vsknn-n500-seed0',
                          'runs': [{'srgnn_alone': metrics(0.52, 0.18),
                                    'hybrid': metrics(0.53, 0.19)},
                                   {'srgnn_alone': metrics(0.50, 0.18),
                                    'hybrid': metrics(0.51, 0.19)}]})
    assert '| V-SKNN alone | 1 | 50.00 | 18.00 | 51.00 |' in table
    assert ('| SR-GNN, sessions of <= 3 clicks by V-SKNN | 2 | 52.00 ± 1.41 '
            '| 19.00 ± 0.00 |') in table
    assert table.endswith('V-SKNN: `d-clean-vsknn-n500-seed0`, the validation '
                          "search's winner when this ran.")

    run = {'concurrency': 64, 'requests': 20000, 'rps': 1496.6,
           'p50_ms': 42.3, 'p99_ms': 57.9, 'errors': 0}
    table = serve_table({'results': [{
        'batching': True, 'workers': 1, 'rss_before_mb': 382.1,
        'rss_after_mb': 409.4, 'runs': [run],
        'soak': [{'t_s': 10, 'rss_mb': 409.5, 'rps': 1484.7,
                  'p99_ms': 62.2, 'errors': 0},
                 {'t_s': 20, 'rss_mb': 410.4, 'rps': 1324.9,
                  'p99_ms': 68.7, 'errors': 1}]}]})
    assert ('| on | 1 | 64 | 20,000 | 1,497 | 42.3 ms | 57.9 ms | 0 | 382 / '
            '409 MB |') in table
    assert ('20 s in 2 windows of 10 s: 1 errors, rps 1,325-1,485, p99 '
            '62.2-68.7 ms, server RSS 409.5-410.4 MB') in table

    side = {'one_process_two_threads': {'step_ms': 34.7,
                                        'samples_per_s': 2879},
            'two_processes_one_thread': {'step_ms': 55.2,
                                         'samples_per_s': 1810,
                                         'no_sync_step_ms': 34.5,
                                         'allreduce_share': 0.368},
            'two_over_one_throughput': 0.629}
    table = ddp_table({'full': side, 'sampled': side,
                       'setup': {'global_batch_size': 100}})
    assert ('| 2 processes x 1 thread (DDP, gloo) | full | 55.2 ms | 1,810 | '
            '36.8 % |') in table
    assert 'full softmax 0.629x, sampled 0.629x' in table
    # When it pays: 20.7 ms of all-reduce against half of 34.7 ms.
    assert 'the all-reduce (20.7 ms for' in table
    assert 'half a step\'s compute (17.4 ms here)' in table
    assert 'global batches above about 119 at this' in table

    table = baselines_table({'results': {'pop': {
        'model': 'POP(num_items=9)', 'fit_s': 0.002, 'score_s': 5.2,
        'batch_ms_p50': 39.9, 'batch_ms_max': 260.0, 'HR@20': 7.31,
        'MRR@20': 1.69, 'NDCG@20': 2.92}}, 'peak_rss_mb': 1132.0,
        'setup': {'threads': 1}})
    assert ('| `POP(num_items=9)` | 0.002 s | 5.2 s | 39.9 / 260.0 ms | 7.31 '
            '| 1.69 | 2.92 |') in table

    run = {'wall_s': 19.0, 'cpu_s': 21.3, 'peak_rss_mb': 2433.5}
    table = big_log_table({'rows': 33003944, 'log_mb': 1420.7,
                           'same_splits': True, 'arrow': run,
                           'row_reader': run})
    assert '33,003,944 clicks' in table and 'the same splits: yes' in table
    assert '| pyarrow, streaming (default) | 19.0 s | 21.3 s | 2,434 MB |' in (
        table)


def test_search_summary_ranks_on_validation_only(tmp_path, monkeypatch):
    import bench.accuracy
    import bench.search

    monkeypatch.setattr(bench.accuracy, 'RESULTS_DIR', tmp_path)
    monkeypatch.setattr(bench.search, 'RESULTS_DIR', tmp_path)

    def write_log(name, valid_hr, test_hr=None):
        run_dir = tmp_path / 'accuracy' / name
        run_dir.mkdir(parents=True)
        records = [{'epoch': e + 1, 'loss': 1.0,
                    'valid': {'HR@20': hr, 'MRR@20': hr / 3}}
                   for e, hr in enumerate(valid_hr)]
        (run_dir / 'log.jsonl').write_text(
            ''.join(json.dumps(r) + '\n' for r in records))
        if test_hr is not None:  # a finished run's test, never used
            (run_dir / 'metrics.json').write_text(json.dumps(
                {'test': {'HR@20': test_hr}}))

    write_log('diginetica-clean-official-refit-seed0', [0.40, 0.50, 0.49],
              test_hr=0.99)
    write_log('diginetica-clean-official-nis16-seed0', [0.45, 0.52])
    write_log('diginetica-clean-official-nis16-seed1', [0.51, 0.50])
    # A run just started, no epoch finished: not counted yet.
    write_log('diginetica-clean-official-nis16-seed2', [])
    result = CliRunner().invoke(bench.search.main, ['summary'])
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / 'search-diginetica.json').read_text())
    assert out['winner'] == 'niser'
    niser, srgnn = out['ranking']
    assert niser['valid_HR@20'] == pytest.approx(51.5)
    assert [r['best_epoch'] for r in niser['runs']] == [2, 1]
    assert srgnn['candidate'] == 'srgnn' and srgnn['valid_HR@20'] == 50.0
    assert srgnn['runs'][0]['finished']
    # Once a candidate has 3 finished seeds, a mean over fewer does not
    # beat it: the one above it is a contender.
    for seed in (1, 2):
        write_log(f'diginetica-clean-official-refit-seed{seed}',
                  [0.40, 0.50], test_hr=0.99)
    result = CliRunner().invoke(bench.search.main, ['summary'])
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / 'search-diginetica.json').read_text())
    assert [r['candidate'] for r in out['ranking']] == ['niser', 'srgnn']
    assert out['winner'] == 'srgnn' and out['contenders'] == ['niser']
    # A fourth seed one epoch in: listed, but out of the mean of the three
    # finished ones.
    write_log('diginetica-clean-official-refit-seed3', [0.10])
    result = CliRunner().invoke(bench.search.main, ['summary'])
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / 'search-diginetica.json').read_text())
    srgnn = out['ranking'][1]
    assert [r['seed'] for r in srgnn['runs']] == [0, 1, 2, 3]
    assert srgnn['valid_HR@20'] == 50.0 and out['winner'] == 'srgnn'
    # A run whose refit has begun has finished choosing on validation.
    write_log('diginetica-clean-official-refit-nis16-seed2', [0.53])
    with open(tmp_path / 'accuracy' / 'diginetica-clean-official-refit-'
              'nis16-seed2' / 'log.jsonl', 'a') as f:
        f.write(json.dumps({'epoch': 2, 'refit_epoch': 1, 'loss': 1.0}) +
                '\n')
    result = CliRunner().invoke(bench.search.main, ['summary'])
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / 'search-diginetica.json').read_text())
    niser = out['ranking'][0]
    assert [r['finished'] for r in niser['runs']] == [False, False, True]
    assert niser['valid_HR@20'] == 53.0


def test_compare_table_reads_each_models_runs(tmp_path, monkeypatch):
    import bench.accuracy
    import bench.compare

    monkeypatch.setattr(bench.accuracy, 'RESULTS_DIR', tmp_path)
    monkeypatch.setattr(bench.compare, 'RESULTS_DIR', tmp_path)

    def write_run(name, test, extras=None):
        run_dir = tmp_path / 'accuracy' / name
        run_dir.mkdir(parents=True)
        (run_dir / 'metrics.json').write_text(json.dumps({'test': test}))
        if extras is not None:
            (run_dir / 'test-extras.json').write_text(json.dumps(
                {'test': extras}))

    # SR-GNN's default runs, one completed by `evaluate`; the V-SKNN run
    # with the options its validation search chose, beside one with
    # session-rec's defaults, which the table must not take.
    write_run('diginetica-clean-official-refit-seed0',
              {'HR@20': 0.50, 'MRR@20': 0.17},
              extras={'HR@20': 0.1, 'Coverage@20': 0.4})
    write_run('diginetica-clean-official-refit-seed1',
              {'HR@20': 0.52, 'MRR@20': 0.18, 'Coverage@20': 0.5})
    write_run('diginetica-clean-vsknn-official-refit-n200-seed0',
              {'HR@20': 0.49, 'MRR@20': 0.16})
    write_run('diginetica-clean-vsknn-official-refit-seed0',
              {'HR@20': 0.99, 'MRR@20': 0.99})
    (tmp_path / 'baseline-search-diginetica.json').write_text(json.dumps(
        {'models': {'vsknn': {'winner': {'neighbors': 200}}}}))
    result = bench.compare.comparison()
    rows = {row['model']: row for row in result['diginetica']}
    assert set(rows) == {'SR-GNN', 'V-SKNN'}
    # A run's own metrics win over the extras computed later.
    assert rows['SR-GNN']['test']['HR@20'] == [0.50, 0.52]
    assert rows['SR-GNN']['test']['Coverage@20'] == [0.4, 0.5]
    assert rows['V-SKNN']['options'] == {'model': 'vsknn', 'neighbors': 200}
    assert rows['V-SKNN']['test']['HR@20'] == [0.49]
    table = bench.compare.comparison_table(result)
    assert '| diginetica | SR-GNN | 2 | 51.00 ± 1.41 | 17.50 ± 0.71 |' in (
        table)
    assert '| diginetica | V-SKNN | 1 | 49.00 | 16.00 | - |' in table


def test_scale_quick_runs():
    from bench import scale

    threads = torch.get_num_threads()
    result = CliRunner().invoke(scale.main, [
        '--quick', '--items', '50000', '--num-negatives', '512',
        '--threads', '1'])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    for key in ('sampled_ms', 'digi_full_ms', 'full_ms', 'eval_s',
                'latency_p50_ms', 'peak_rss_mb'):
        assert out[key] > 0, key
    assert out['eval_samples'] == 1000
    assert out['sampled_over_digi_full'] == pytest.approx(
        out['sampled_ms'] / out['digi_full_ms'], rel=0.05)


def test_big_log_quick_makes_the_same_splits(shared_data):
    pytest.importorskip('pyarrow')
    from bench import big_log

    result = CliRunner().invoke(big_log.main, ['--rows', '150000',
                                               '--quick'])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out['rows'] == 150000
    assert out['same_splits'] is True
    assert out['arrow_wall_s'] > 0 and out['row_reader_wall_s'] > 0


def test_serve_bench_quick_runs():
    pytest.importorskip('fastapi')
    pytest.importorskip('aiohttp')
    from bench import serve

    result = CliRunner().invoke(serve.main, ['--quick', '--max-requests',
                                             '300', '--threads', '1'])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert out['concurrency'] == 64 and out['requests'] == 300
    assert out['errors'] == 0
    assert out['rps'] > 0 and out['p99_ms'] >= out['p50_ms'] > 0
    assert out['rss_after_mb'] > 0


def test_ddp_quick_runs():
    # 1 process x 2 threads, then 2 x 1 over gloo on localhost, both
    # losses, on the shipped sample.
    from bench import ddp

    threads = torch.get_num_threads()
    result = CliRunner().invoke(ddp.main, ['--quick', '--dataset',
                                           'diginetica-sample'])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    for loss in ('full', 'sampled'):
        two = out[loss]['two_processes_one_thread']
        assert out[loss]['one_process_two_threads']['step_ms'] > 0
        assert two['step_ms'] > 0 and len(two['ranks']) == 2
        assert -1 < two['allreduce_share'] < 1
        assert out[loss]['two_over_one_throughput'] > 0


@pytest.mark.parametrize('name', list(CANDIDATES))
def test_accuracy_command_gives_each_search_candidates_refit(name,
                                                             monkeypatch):
    # Every candidate bench.search runs can be refit by a bench.accuracy
    # command, whose run then starts from the candidate's run.
    import bench.accuracy

    args = ['--protocol', 'clean', '--dataset', 'yoochoose1_64', '--seed',
            '1', '--epochs', '6', '--threads', '1']
    for key, value in CANDIDATES[name].items():
        flag = '--' + key.replace('_', '-')
        args += [flag] if value is True else [flag, str(value)]
    got = {}
    monkeypatch.setattr(bench.accuracy, 'run',
                        lambda config, command: got.update(config=config))
    bench.accuracy.main(args, standalone_mode=False)
    wanted = candidate_config(name, 'yoochoose1_64', 1, 6, 1)
    assert got['config'].replace(refit=False).to_dict() == wanted.to_dict()
    assert got['config'].training.refit


def test_accuracy_refuses_a_wrong_option_value_in_one_line():
    import bench.accuracy

    result = CliRunner().invoke(bench.accuracy.main,
                                ['--hidden-channels', '0', '--epochs', '1'])
    assert result.exit_code == 2
    assert "Invalid 'hidden_channels': 0 (expected at least 1)" in (
        result.output)
    assert 'Traceback' not in result.output
