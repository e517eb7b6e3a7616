import json
import math

import pytest
import torch

from pyg_srgnn.baselines import POP
from pyg_srgnn.config import FitConfig
from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.popularity import (
    evaluate_popularity,
    item_popularity,
    popularity_rank,
)
from pyg_srgnn.train import cosine_lr, fit


def small_config(tmp_path, name, **kwargs):
    defaults = dict(root=str(tmp_path / 'data'), run_dir=str(tmp_path / name),
                    hidden_channels=16, epochs=4, lr_step=3, progress=False)
    defaults.update(kwargs)
    return FitConfig.from_options(**defaults)


def read_log(run_dir):
    with open(run_dir / 'log.jsonl') as f:
        return [json.loads(line) for line in f]


def test_clean_protocol_defaults():
    # The official schedule and refit, which bench/results/accuracy shows
    # recover the paper protocol's accuracy without choosing on the test
    # split.
    training = FitConfig().training
    assert (training.protocol, training.lr_schedule, training.refit) == (
        'clean', 'official', True)
    paper = FitConfig.from_options(protocol='paper').training
    assert (paper.lr_schedule, paper.refit) == ('official', False)


def test_fit_clean_protocol_is_reproducible(tmp_path):
    # Without refit and with StepLR stepped after each epoch: the model
    # chosen on validation is the one tested.
    options = dict(lr_schedule='step', refit=False)
    first = fit(small_config(tmp_path, 'a', **options), log=lambda msg: None)
    second = fit(small_config(tmp_path, 'b', **options),
                 log=lambda msg: None)
    assert first['test'] == second['test']
    assert first['protocol'] == 'clean'
    ranking = {f'{name}@{k}' for name in ('HR', 'MRR', 'NDCG')
               for k in (10, 20)}
    assert set(first['test']) == (
        ranking | {f'{key} {group}' for key in ranking
                   for group in ('short', 'long')}
        | {f'{name}@{k}' for name in ('Coverage', 'Popularity')
           for k in (10, 20)})
    assert 0 <= first['test']['MRR@20'] <= first['test']['HR@20'] <= 1
    assert 1 <= first['best_epoch'] <= 4

    run_dir = tmp_path / 'a'
    assert json.loads((run_dir / 'metrics.json').read_text()) == first
    assert json.loads((run_dir / 'config.json').read_text())['model'][
        'hidden_channels'] == 16
    log = read_log(run_dir)
    assert [r['epoch'] for r in log] == [1, 2, 3, 4]
    # Scheduler stepped after each epoch: three epochs at the first rate.
    assert [r['lr'] for r in log] == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4])
    assert all('valid' in r for r in log)
    assert log[-1]['loss'] < log[0]['loss']

    checkpoint = torch.load(run_dir / 'checkpoint.pt', weights_only=True)
    assert checkpoint['epoch'] == first['best_epoch']
    assert checkpoint['config']['training']['seed'] == 0
    assert checkpoint['config']['model']['name'] == 'srgnn'
    assert len(checkpoint['item_labels']) == 309

    other_seed = fit(small_config(tmp_path, 'c', seed=1, **options),
                     log=lambda msg: None)
    assert other_seed['test'] != first['test']


def test_fit_paper_protocol(tmp_path):
    result = fit(small_config(tmp_path, 'p', protocol='paper', epochs=3),
                 log=lambda msg: None)
    assert result['protocol'] == 'paper'
    log = read_log(tmp_path / 'p')
    # The official order: two epochs at 1e-3, then the first decay.
    assert [r['lr'] for r in log] == pytest.approx([1e-3, 1e-3, 1e-4])
    # Best test value of each metric over the epochs, with its epoch.
    for key in ('HR@20', 'MRR@20'):
        values = [r['test'][key] for r in log]
        assert result['test'][key] == max(values)
        epoch = result['best_epoch'][key]
        assert log[epoch - 1]['test'][key] == max(values)


def test_dataset_settings():
    # The shipped sample has its own batch size and StepLR step; any other
    # data set, or a value given explicitly, keeps the paper's.
    sample = FitConfig()
    assert (sample.training.batch_size, sample.training.lr_step) == (50, 10)
    paper = FitConfig.from_options(dataset='diginetica').training
    assert (paper.batch_size, paper.lr_step) == (100, 3)
    given = FitConfig.from_options(batch_size=100).training
    assert (given.batch_size, given.lr_step) == (100, 10)
    resolved = FitConfig.from_dict(FitConfig().to_dict())
    assert resolved == sample


def test_default_fit_beats_popularity(tmp_path):
    # What `pyg-srgnn fit` runs with no options: on the sample, the model
    # must clearly learn, far beyond recommending the most popular items.
    lines = []
    result = fit(FitConfig.from_options(root=str(tmp_path / 'data'),
                                        progress=False,
                                        run_dir=str(tmp_path / 'run')),
                 log=lines.append)
    assert result['test']['HR@20'] >= 3 * result['pop']['test']['HR@20']
    # The test split's beyond-accuracy metrics and its split by length:
    # the sample's 99 test samples, weighted by group, give the whole.
    test = result['test']
    assert 0 < test['Coverage@20'] <= 1 and 0 < test['Popularity@20'] <= 1
    _, ptr, _, _ = load_dataset('diginetica-sample', str(tmp_path / 'data'),
                                'test').sample_tensors()
    short = int((ptr.diff() <= 3).sum())  # prefixes of at most 3 clicks
    assert 0 < short < 99
    assert test['HR@20'] == pytest.approx(
        (short * test['HR@20 short'] + (99 - short) * test['HR@20 long'])
        / 99)
    assert result['test']['MRR@20'] >= 3 * result['pop']['test']['MRR@20']
    assert lines[1].startswith('settings: SR-GNN d = 100, 1 propagation '
                               'step(s); batch size 50, Adam lr 0.001')
    assert lines[2].startswith("diginetica-sample's own defaults")
    assert "batch size 50 (the paper's 100)" in lines[2]


def test_popularity_metrics():
    popularity = torch.tensor([0, 5, 9, 5, 0])  # items 1..4
    # POP's list: item 2, then 1 and 3 (tied, lower id first), then 4.
    assert popularity_rank(popularity).tolist() == [2, 1, 3, 4]
    out = evaluate_popularity(popularity, torch.tensor([2, 3, 4]), ks=[2])
    assert out['HR@2'] == pytest.approx(1 / 3)
    assert out['MRR@2'] == pytest.approx(1 / 3)
    assert item_popularity(torch.tensor([1, 2, 2]), 3).tolist() == [0, 1, 2,
                                                                    0]


def test_early_stopping(tmp_path):
    # With a learning rate of zero nothing ever improves after epoch 1.
    result = fit(small_config(tmp_path, 's', lr=1e-12, patience=2,
                              epochs=10), log=lambda msg: None)
    assert result['epochs_run'] == 3


def test_clean_protocol_with_the_official_schedule(tmp_path):
    fit(small_config(tmp_path, 'o', lr_schedule='official', refit=False),
        log=lambda msg: None)
    # Stepped before each epoch, as the paper loop: two epochs at 1e-3.
    assert [r['lr'] for r in read_log(tmp_path / 'o')] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4])


def test_cosine_lr():
    training = FitConfig.from_options(epochs=4, lr=1e-3, lr_schedule='cosine',
                                      lr_warmup=1.0).training
    # 10 batches an epoch: the first 10 warm up, the other 30 decay.
    lrs = [cosine_lr(training, epoch, i, 10) for epoch in range(1, 5)
           for i in range(10)]
    assert lrs[:10] == pytest.approx([1e-4 * (i + 1) for i in range(10)])
    assert lrs[10] == pytest.approx(1e-3)
    assert lrs[25] == pytest.approx(5e-4)  # half way through the decay
    assert all(a > b for a, b in zip(lrs[10:], lrs[11:]))
    assert 0 < lrs[-1] < 1e-5
    # Fractional warm-up shorter than a batch: no learning rate above lr.
    short = FitConfig.from_options(epochs=4, lr=1e-3, lr_schedule='cosine',
                                   lr_warmup=0.05).training
    assert cosine_lr(short, 1, 0, 10) == pytest.approx(1e-3)


def test_cosine_schedule_and_its_refit(tmp_path):
    lines = []
    result = fit(small_config(tmp_path, 'c', lr_schedule='cosine',
                              lr_warmup=0.5), log=lines.append)
    assert any('cosine decay to 0 over 4 epochs after 0.5 epoch(s) of '
               'linear warm-up' in line for line in lines)
    log = read_log(tmp_path / 'c')
    chosen = result['refit_epochs']
    search = [r['lr'] for r in log if 'refit_epoch' not in r]
    refit = [r['lr'] for r in log if 'refit_epoch' in r]
    # An epoch's first batch: warm-up, then the decay; the refit, on more
    # samples an epoch, follows the same curve epoch by epoch.
    decay = [1e-3 * 0.5 * (1 + math.cos(math.pi * (epoch - 1.5) / 3.5))
             for epoch in (2, 3, 4)]
    assert search[0] < 1e-3 / 2 and search[1:] == pytest.approx(decay)
    assert refit[0] < 1e-3 / 2
    assert refit[1:] == pytest.approx(decay[:chosen - 1])


def test_refit(tmp_path):
    lines = []
    result = fit(small_config(tmp_path, 'r', refit=True), log=lines.append)
    chosen = result['best_epoch']
    assert result['refit_epochs'] == chosen
    log = read_log(tmp_path / 'r')
    refit = [r for r in log if 'refit_epoch' in r]
    assert [r['refit_epoch'] for r in refit] == list(range(1, chosen + 1))
    assert [r['epoch'] for r in log] == list(range(1, 5 + chosen))
    assert all('valid' not in r for r in refit)
    # The chosen model is what the run without refit keeps and tests.
    plain = fit(small_config(tmp_path, 'p', refit=False),
                log=lambda msg: None)
    before = result['test_before_refit']  # the ranking metrics
    assert before == {key: plain['test'][key] for key in before}
    assert result['valid'] == plain['valid']
    # POP on validation counts the samples that trained before the refit,
    # which hold no validation sample.
    assert result['pop']['valid'] == plain['pop']['valid']
    assert result['test'] != plain['test']
    # The refit model is the one kept: it scores the test split as reported.
    from pyg_srgnn.checkpoint import load_checkpoint, model_from_checkpoint
    from pyg_srgnn.data.registry import load_dataset
    from pyg_srgnn.train import evaluate
    model, _ = model_from_checkpoint(load_checkpoint(
        str(tmp_path / 'r' / 'checkpoint.pt')))
    test_set = load_dataset('diginetica-sample', str(tmp_path / 'data'),
                            'test')
    again = evaluate(model, SessionLoader(test_set), (10, 20))
    assert again == pytest.approx({key: result['test'][key] for key in again})
    # POP counts the clicks of every training session, as the refit model
    # saw them: the `pop` model's numbers.
    train_set = load_dataset('diginetica-sample', str(tmp_path / 'data'))
    assert result['pop']['test'] == pytest.approx(evaluate(
        POP(309).fit(train_set), SessionLoader(test_set), (10, 20)))
    assert any(line.startswith('refit: ') for line in lines)
    with open(tmp_path / 'r' / 'log.csv') as f:
        assert 'refit_epoch' in f.readline()
    with pytest.raises(ValueError, match="'refit'"):
        FitConfig.from_options(protocol='paper', refit=True)


@pytest.mark.parametrize('kwargs,match', [
    (dict(protocol='best'), "'protocol': 'best'.*clean, paper"),
    (dict(valid_fraction=1.5), "'valid_fraction'"),
    (dict(monitor='HR@50'), "'monitor'.*K in"),
    (dict(batch_size=0), "'batch_size'"),
    (dict(norm_scale=0.0), "'norm_scale'"),
    (dict(embedding_dropout=1.0), "'embedding_dropout'"),
    (dict(positions=-1), "'positions'"),
    (dict(lr_schedule='linear'), "'lr_schedule'.*step, official, cosine"),
    (dict(lr_warmup=0.5), "'lr_warmup': 0.5.*0 unless lr_schedule is "
     "'cosine'"),
    (dict(lr_schedule='cosine', lr_warmup=30.0), r"'lr_warmup'.*\[0, 30\)"),
    (dict(valid_split='oldest'), "'valid_split'"),
    (dict(model='gru4rec'), "'model'.*srgnn, srsan"),
    (dict(model='srsan', norm_scale=16.0), "'norm_scale' is an option of "
     "srgnn, not of srsan"),
    (dict(heads=4), "'heads' is an option of srsan"),
    (dict(reverse_positions=True), "'reverse_positions'.*without "
     "--positions"),
    (dict(label_smoothing=1.0), "'label_smoothing': 1.0.*in \\[0, 1\\)"),
    (dict(loss='sampled', label_smoothing=0.1),
     "'label_smoothing'.*with loss 'sampled'"),
    (dict(model='pop', label_smoothing=0.1),
     "'label_smoothing'.*expected 0 for pop"),
    (dict(model='srsan', heads=5), "'heads'.*divisor of hidden_channels "
     r"\(96\)"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FitConfig.from_options(**kwargs)


def test_config_sections():
    config = FitConfig.from_options(model='srsan', hidden_channels=8,
                                    epochs=3, device='cpu')
    saved = config.to_dict()
    assert list(saved) == ['data', 'model', 'training', 'runtime']
    assert saved['model'] == {'name': 'srsan', 'hidden_channels': 8,
                              'num_layers': 1, 'heads': 2,
                              'ff_channels': 384, 'dropout': 0.1,
                              'faithful': False}
    assert saved['training']['epochs'] == 3
    assert 'device' in saved['runtime'] and 'epochs' not in saved['runtime']
    assert FitConfig.from_dict(saved) == config
    assert FitConfig.from_options(**config.options()) == config
    assert config.replace(epochs=4).training.epochs == 4


@pytest.mark.parametrize('values,match', [
    ({'training': {'epoch': 3}}, r"training: unknown key\(s\) \['epoch'\]"),
    ({'training': {'epochs': '3'}}, "training: 'epochs' must be an integer"),
    ({'training': {}, 'model': {'name': 'gru4rec'}}, "unknown model"),
    ({'training': {}, 'model': {'heads': 2}}, r"model: unknown key\(s\) "
     r"\['heads'\]"),
    ({'training': {}, 'extra': {}}, r"unknown section\(s\) \['extra'\]"),
    # The flat form of earlier run directories and checkpoints.
    ({'epoch': 3}, r"unknown key\(s\) \['epoch'\]"),
])
def test_config_from_dict_refuses_by_name(values, match):
    with pytest.raises(ValueError, match=match):
        FitConfig.from_dict(values)


def test_config_from_the_flat_form_of_earlier_runs():
    # Every model's options at their defaults, as FitConfig was flat.
    config = FitConfig.from_dict({'model': 'srgnn', 'epochs': 3,
                                  'hidden_channels': 8, 'heads': 2,
                                  'faithful': False})
    assert (config.model_name, config.model.hidden_channels,
            config.training.epochs) == ('srgnn', 8, 3)
    # Written before --lr-schedule and --refit: what those runs did.
    assert (config.training.lr_schedule, config.training.refit) == (
        'step', False)
    assert FitConfig.from_dict({'model': 'pop', 'hidden_channels': 100,
                                'hybrid': True}).model_name == 'pop'


@pytest.mark.parametrize('keep', [True, False])
def test_fit_keeps_freed_memory_unless_told(tmp_path, monkeypatch, keep):
    import pyg_srgnn.train

    calls = []
    monkeypatch.setattr(pyg_srgnn.train, 'keep_freed_memory',
                        lambda: calls.append(True) or True)
    fit(small_config(tmp_path, 'k', epochs=1, keep_freed_memory=keep),
        log=lambda msg: None)
    assert calls == ([True] if keep else [])


def test_fit_fused_kernel_trains_as_the_modules(tmp_path):
    lines = []
    fit(small_config(tmp_path, 'f', epochs=2), log=lines.append)
    fit(small_config(tmp_path, 'm', epochs=2, fused_kernel=False),
        log=lines.append)
    paths = [line for line in lines if line.startswith('Session embedding:')]
    assert len(paths) == 2
    assert paths[0].startswith(('Session embedding: the fused kernel (ready',
                                'Session embedding: the PyTorch modules '
                                '(same results, slower); the fused kernel '
                                'could not be built'))
    assert paths[1] == ('Session embedding: the PyTorch modules (the fused '
                        'kernel is off).')
    fused_log, modules_log = read_log(tmp_path / 'f'), read_log(tmp_path / 'm')
    for fused_epoch, modules_epoch in zip(fused_log, modules_log):
        assert fused_epoch['loss'] == pytest.approx(modules_epoch['loss'],
                                                    rel=1e-5)


def test_prepare_fused_kernel_turns_it_off_where_it_cannot_build(
        monkeypatch):
    from pyg_srgnn.nn import SRGNN, fused
    from pyg_srgnn.train import prepare_fused_kernel

    monkeypatch.setattr(fused, 'load_kernel', lambda: None)
    monkeypatch.setattr(fused, 'kernel_error', lambda: 'OSError: no g++')
    lines = []
    model = SRGNN(10, fused=True)
    prepare_fused_kernel(model, lines.append)
    assert lines[-1].startswith('Session embedding: the PyTorch modules')
    assert lines[-1].endswith('could not be built: OSError: no g++')
    assert not model.fused
    deeper = SRGNN(10, num_layers=2, fused=True)
    prepare_fused_kernel(deeper, lines.append)
    assert 'covers one propagation step' in lines[-1]
    assert not deeper.fused


def test_prepare_fused_kernel_says_when_it_compiles(monkeypatch):
    from pyg_srgnn.nn import SRGNN, fused
    from pyg_srgnn.train import prepare_fused_kernel

    monkeypatch.setattr(fused, 'load_kernel', lambda: object())
    for built, compiling in ((True, False), (False, True)):
        monkeypatch.setattr(fused, 'is_built', lambda built=built: built)
        lines = []
        prepare_fused_kernel(SRGNN(10, fused=True), lines.append)
        assert ('compiling' in lines[0]) == compiling
        assert lines[-1].startswith('Session embedding: the fused kernel')


def test_fused_build_failure_is_one_line():
    from pyg_srgnn.nn import fused

    # What torch.utils.cpp_extension raises when the compiler is missing.
    log = ("RuntimeError: Error building extension 'x': [1/2] /no/g++ -MMD "
           "-MF x.o.d -c x.cpp -o x.o\nFAILED: [code=127] x.o\n/no/g++ "
           "-MMD -MF x.o.d -c x.cpp -o x.o\n/bin/sh: 1: /no/g++: not found\n"
           "ninja: build stopped: subcommand failed.")
    assert fused.build_failure(log) == '/bin/sh: 1: /no/g++: not found'
    compile_error = ("RuntimeError: Error building extension 'x': [1/2] g++ "
                     "-c x.cpp\nx.cpp:3:10: fatal error: omp.h: No such file "
                     "or directory\ncompilation terminated.")
    assert fused.build_failure(compile_error) == (
        'x.cpp:3:10: fatal error: omp.h: No such file or directory')
    assert fused.build_failure('RuntimeError: Ninja is required to load C++ '
                               'extensions') == (
        'RuntimeError: Ninja is required to load C++ extensions')
