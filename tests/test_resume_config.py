import csv
import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from pyg_srgnn.checkpoint import load_checkpoint, save_checkpoint
from pyg_srgnn.cli import main
from pyg_srgnn.config import (
    FitConfig,
    preset_names,
    read_config_file,
    read_preset,
)
from pyg_srgnn.train import fit, load_run_config, resume

# Trains like `small` below in a child process that SIGKILLs itself at the
# training batch given.
KILLED_RUN = textwrap.dedent('''
    import json, os, signal, sys
    from pyg_srgnn.config import FitConfig
    import pyg_srgnn.train
    from pyg_srgnn.train import fit

    step, calls = pyg_srgnn.train.train_step, [0]

    def step_then_die(*args):
        calls[0] += 1
        if calls[0] == int(sys.argv[4]):
            os.kill(os.getpid(), signal.SIGKILL)
        return step(*args)

    pyg_srgnn.train.train_step = step_then_die
    fit(FitConfig.from_options(
            root=sys.argv[1], run_dir=sys.argv[2], hidden_channels=8,
            epochs=5, batch_size=100, progress=False, num_threads=1,
            **json.loads(sys.argv[3])),
        log=lambda msg: None)
''')


def small(tmp_path, run, options):
    # One thread in both processes: the same float summation order, so the
    # losses match to the last bit.
    return FitConfig.from_options(
        root=str(tmp_path / 'data'), run_dir=str(tmp_path / run),
        hidden_channels=8, epochs=5, batch_size=100, progress=False,
        num_threads=1, **options)


@pytest.mark.parametrize('options,kill_at,logged_epochs', [
    # 11 (clean) or 13 (paper) batches per epoch: killed in epoch 3.
    (dict(protocol='clean', refit=False, lr_schedule='step'), 30, [1, 2]),
    (dict(protocol='paper'), 30, [1, 2]),
    (dict(protocol='clean'), 30, [1, 2]),
    # 5 epochs of 11 batches, then the refit's epochs of 13 (all samples):
    # killed in the refit's second epoch.
    (dict(protocol='clean'), 73, [1, 2, 3, 4, 5, 6]),
    # Sampled softmax: its negatives drawn as the uninterrupted run drew.
    (dict(protocol='clean', loss='sampled', num_negatives=32), 30, [1, 2]),
    # ... and in the refit's first epoch (after 5 epochs of 11 batches).
    (dict(protocol='clean', loss='sampled', sampler='uniform',
          num_negatives=32), 58, [1, 2, 3, 4, 5]),
    # The cosine schedule, set at every batch: killed in the refit's second
    # epoch, its learning rates go on from where they were.
    (dict(protocol='clean', lr_schedule='cosine', lr_warmup=0.5), 73,
     [1, 2, 3, 4, 5, 6]),
    # Dropout draws from torch's global generator: NISER+ killed in epoch 3,
    # in the refit's first epoch (which draws from the seed again) and in its
    # second, SR-SAN in epoch 3.
    (dict(protocol='clean', norm_scale=16.0, embedding_dropout=0.3,
          positions=10), 30, [1, 2]),
    (dict(protocol='clean', norm_scale=16.0, embedding_dropout=0.3,
          positions=10), 58, [1, 2, 3, 4, 5]),
    (dict(protocol='clean', norm_scale=16.0, embedding_dropout=0.3,
          positions=10), 73, [1, 2, 3, 4, 5, 6]),
    (dict(protocol='paper', model='srsan', heads=2), 30, [1, 2]),
])
def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path, options,
                                                       kill_at,
                                                       logged_epochs):
    expected = fit(small(tmp_path, 'whole', options), log=lambda msg: None)

    killed = tmp_path / 'killed'
    proc = subprocess.run([sys.executable, '-c', KILLED_RUN,
                           str(tmp_path / 'data'), str(killed),
                           json.dumps(options), str(kill_at)],
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr  # it really was killed
    assert not (killed / 'metrics.json').exists()
    logged = [json.loads(line) for line in open(killed / 'log.jsonl')]
    assert [r['epoch'] for r in logged] == logged_epochs

    result = resume(str(killed), log=lambda msg: None)
    assert result == {**expected, 'run_dir': str(killed)}
    whole = [json.loads(line) for line in open(tmp_path / 'whole' /
                                               'log.jsonl')]
    resumed = [json.loads(line) for line in open(killed / 'log.jsonl')]
    for a, b in zip(whole, resumed):
        a.pop('train_seconds'), b.pop('train_seconds')
    assert resumed == whole


def test_resume_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a run directory'):
        resume(str(tmp_path))
    result = CliRunner().invoke(main, ['fit', '--resume', str(tmp_path)])
    assert result.exit_code == 2
    assert 'not a run directory' in result.output

    fit(small(tmp_path, 'run', {}), log=lambda msg: None)
    result = CliRunner().invoke(main, ['fit', '--resume',
                                       str(tmp_path / 'run'), '--lr', '0.1'])
    assert result.exit_code == 2
    assert '--resume continues a run with its saved options' in (
        result.output)
    # resume() itself keeps the rule: only the runtime section may change.
    with pytest.raises(ValueError, match=r'only the runtime options device, '
                       r'num_threads, .* may change \(got lr, seed\)'):
        resume(str(tmp_path / 'run'), lr=0.1, seed=1, num_threads=1)


@pytest.mark.parametrize('protocol,schedule', [('clean', 'step'),
                                               ('paper', 'official')])
def test_resume_a_run_saved_before_the_options_existed(tmp_path, protocol,
                                                       schedule):
    # A config.json from before the schedule, refit and validation split
    # options: the run resumes as it started (StepLR after each epoch under
    # the clean protocol, no refit), not with today's defaults.
    run = tmp_path / 'old'
    fit(small(tmp_path, 'old', dict(protocol=protocol, lr_schedule=schedule,
                                    refit=False)),
        log=lambda msg: None)
    # As such runs saved it: flat, with every model's options.
    saved = load_run_config(str(run)).options()
    saved.update(heads=2, ff_channels=384, dropout=0.1, faithful=False)
    for key in ('lr_schedule', 'refit', 'valid_split'):
        del saved[key]
    (run / 'config.json').write_text(json.dumps(saved))
    config = load_run_config(str(run))
    training = config.training
    assert (training.lr_schedule, training.refit, training.valid_split) == (
        schedule, False, 'latest')
    assert config.model.hidden_channels == 8
    # Nor did their last.pt hold torch's random state: with epochs left,
    # the resume says that dropout will draw other masks.
    last = load_checkpoint(str(run / 'last.pt'))
    assert len(last.pop('random_state')) == 1  # one process
    last['state']['epoch'] = 4
    save_checkpoint(str(run / 'last.pt'), last)
    messages = []
    result = resume(str(run), log=messages.append)
    assert 'refit_epochs' not in result
    assert any('has no saved random state' in msg for msg in messages)


def test_log_files(tmp_path):
    result = fit(small(tmp_path, 'run', {}), log=lambda msg: None)
    with open(tmp_path / 'run' / 'log.csv') as f:
        rows = list(csv.DictReader(f))
    # The 5 epochs on validation, then the refit's epochs (the default),
    # which have a loss but no validation metrics.
    refit = result['refit_epochs']
    assert [int(r['epoch']) for r in rows] == list(range(1, 6 + refit))
    assert {'loss', 'lr', 'valid/HR@20', 'valid/MRR@20'} <= set(rows[0])
    assert [r['refit_epoch'] for r in rows[5:]] == [
        str(epoch) for epoch in range(1, refit + 1)]
    assert all(r['valid/HR@20'] == '' for r in rows[5:])


def test_config_file_precedence(tmp_path):
    config = tmp_path / 'fit.toml'
    config.write_text('epochs = 2\nhidden-channels = 8\nseed = 3\n'
                      f'root = "{tmp_path / "data"}"\nprogress = false\n')
    result = CliRunner().invoke(main, [
        'fit', '--config', str(config), '--seed', '4', '--run-dir',
        str(tmp_path / 'run')
    ])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / 'run' / 'config.json').read_text())
    assert saved['training']['epochs'] == 2  # from the file
    assert saved['model'] == {**FitConfig.from_options().model.to_dict(),
                              'hidden_channels': 8}
    assert saved['training']['seed'] == 4  # the command line wins
    assert saved['training']['batch_size'] == 50  # the sample's default


def test_preset_precedence(tmp_path):
    # The preset under the config file under the command line.
    config = tmp_path / 'fit.toml'
    config.write_text('positions = 10\n')
    result = CliRunner().invoke(main, [
        'fit', '--preset', 'niser-plus', '--config', str(config),
        '--embedding-dropout', '0.2', '--epochs', '1', '--hidden-channels',
        '8', '--no-progress', '--root', str(tmp_path / 'data'), '--run-dir',
        str(tmp_path / 'run')
    ])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / 'run' / 'config.json').read_text())
    assert saved['model']['norm_scale'] == 16  # the preset
    assert saved['model']['positions'] == 10  # the file
    assert saved['model']['embedding_dropout'] == 0.2  # the command line

    result = CliRunner().invoke(main, ['fit', '--resume', str(
        tmp_path / 'run'), '--preset', 'niser'])
    assert result.exit_code == 2
    assert '--preset cannot be given with it' in result.output
    result = CliRunner().invoke(main, ['fit', '--preset', 'niser+'])
    assert result.exit_code == 2
    assert "'niser+' is not one of 'niser', 'niser-plus'," in result.output


@pytest.mark.parametrize('name', preset_names())
def test_presets_are_valid_srgnn_configs(name):
    config = FitConfig.from_options(**read_preset(name))
    assert config.model_name == 'srgnn' and config.model.norm_scale == 16
    with pytest.raises(ValueError, match="Unknown preset 'x'"):
        read_preset('x')


def test_config_key_k_like_the_option(tmp_path):
    path = tmp_path / 'fit.toml'
    path.write_text('k = [5, 20]\nbatch-size = 30\n')
    assert read_config_file(str(path)) == {'ks': [5, 20], 'batch_size': 30}


def test_yaml_config(tmp_path):
    pytest.importorskip('yaml')
    path = tmp_path / 'fit.yaml'
    path.write_text('epochs: 3\nks: [5, 20]\n')
    assert read_config_file(str(path)) == {'epochs': 3, 'ks': [5, 20]}


@pytest.mark.parametrize('text,match', [
    ('epoch = 3\n', r"unknown key\(s\) \['epoch'\]"),
    ('epochs = "ten"\n', "'epochs' must be an integer \\(got 'ten'\\)"),
    ('lr = true\n', "'lr' must be a number"),
    ('ks = [5, "x"]\n', "'ks' must be a list of integers"),
    ('epochs = \n', 'not valid TOML'),
])
def test_config_file_rejection(tmp_path, text, match):
    path = tmp_path / 'fit.toml'
    path.write_text(text)
    result = CliRunner().invoke(main, ['fit', '--config', str(path)])
    assert result.exit_code == 2
    assert 'fit.toml' in result.output
    assert len([line for line in result.output.splitlines()
                if line.startswith('Error')]) == 1
    with pytest.raises(ValueError, match=match):
        FitConfig.from_dict(read_config_file(str(path)), source=str(path))


def test_config_file_format(tmp_path):
    path = tmp_path / 'fit.ini'
    path.write_text('epochs=3')
    with pytest.raises(ValueError, match=r"unknown config format '\.ini'"):
        read_config_file(str(path))
    with pytest.raises(ValueError, match='cannot read the config file'):
        read_config_file(str(tmp_path / 'missing.toml'))


def test_tensorboard_when_installed(tmp_path):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import (
        EventAccumulator,
    )
    result = fit(small(tmp_path, 'run', {}), log=lambda msg: None)
    events = EventAccumulator(str(tmp_path / 'run' / 'tensorboard'))
    events.Reload()
    tags = events.Tags()['scalars']
    assert {'loss', 'lr', 'valid/HR@20'} <= set(tags)
    # The refit's epochs follow the 5 on validation.
    assert [e.step for e in events.Scalars('loss')] == list(
        range(1, 6 + result['refit_epochs']))
    assert [e.step for e in events.Scalars('valid/HR@20')] == [
        1, 2, 3, 4, 5]
