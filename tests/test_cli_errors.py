r"""Every command given wrong values or wrong files: one clear line naming
what was wrong (and where), a non-zero exit, never a traceback."""
import shutil

import pytest
from click.testing import CliRunner

from pyg_srgnn.cli import main

# (command line, a fragment of the one-line message, exit code). `{name}` is
# one of the paths the `paths` fixture prepares.
CASES = [
    # fit: options
    ('fit --device foo', "Invalid 'device': 'foo' (expected a torch device",
     2),
    ('fit --device cuda:7 --run-dir {new_dir}',
     "Device 'cuda:7' is not available on this machine", 1),
    ('fit --num-threads 0', "Invalid 'num_threads': 0 (expected at least 1)",
     2),
    ('fit --num-threads -2', "Invalid 'num_threads': -2", 2),
    ('fit --lr inf', "Invalid 'lr': inf (expected positive and finite)", 2),
    ('fit --lr nan', "Invalid 'lr': nan", 2),
    ('fit --weight-decay -1', "Invalid 'weight_decay': -1.0", 2),
    ('fit --epochs 0', "Invalid 'epochs': 0 (expected at least 1)", 2),
    ('fit --batch-size 0', "Invalid 'batch_size': 0 (expected at least 1)",
     2),
    ('fit --batch-size ten', "'ten' is not a valid integer", 2),
    ('fit --valid-fraction 1.5', "Invalid 'valid_fraction': 1.5", 2),
    ('fit -k 0', '0 is not in the range x>=1', 2),
    ('fit --monitor HR@5', "Invalid 'monitor': 'HR@5'", 2),
    ('fit --protocol best', "'best' is not one of 'clean', 'paper'", 2),
    ('fit --dataset nope', "'nope' is not one of", 2),
    ('fit --run-dir {file}/run', "Cannot create the run directory", 1),
    ('fit --model gru4rec', "'gru4rec' is not one of 'srgnn', 'srsan'", 2),
    ('fit --lr-schedule linear', "'linear' is not one of 'step', "
     "'official', 'cosine'", 2),
    ('fit --lr-warmup 1', "Invalid 'lr_warmup': 1.0 (expected 0 unless "
     "lr_schedule is 'cosine')", 2),
    ('fit --valid-split oldest', "'oldest' is not one of 'latest', "
     "'random'", 2),
    ('fit --refit --protocol paper', "Invalid 'refit': True (expected false "
     "under the paper protocol", 2),
    ('fit --norm-scale 0', "Invalid 'norm_scale': 0.0 (expected positive "
     "and finite, or null)", 2),
    ('fit --embedding-dropout 1', "Invalid 'embedding_dropout': 1.0 "
     "(expected in [0, 1))", 2),
    ('fit --positions -1', "Invalid 'positions': -1 (expected at least 0)",
     2),
    ('fit --model srsan --norm-scale 16', "'norm_scale' is an option of "
     "srgnn, not of srsan (got 16.0)", 2),
    ('fit --heads 4', "'heads' is an option of srsan, not of srgnn (got 4)",
     2),
    ('fit --loss hinge', "'hinge' is not one of 'full', 'sampled'", 2),
    ('fit --loss sampled --num-negatives 0', "Invalid 'num_negatives': 0 "
     "(expected at least 1)", 2),
    ('fit --loss sampled --sampler zipf', "'zipf' is not one of "
     "'uniform', 'popularity', 'in-batch'", 2),
    ('fit --model vsknn --loss sampled', "Invalid 'loss': 'sampled' "
     "(expected 'full' for vsknn, which trains no epochs)", 2),
    ('fit --model pop --neighbors 5', "'neighbors' is an option of "
     "itemknn, sknn, vsknn, stan, not of pop (got 5)", 2),
    ('fit --model sknn --similarity vec', "Invalid 'similarity': 'vec' "
     "(expected one of cosine, jaccard)", 2),
    ('fit --model stan --lambda-inh 0', "Invalid 'lambda_inh': 0.0 "
     "(expected positive and finite)", 2),
    ('evaluate --checkpoint {run}/checkpoint.pt --hybrid-short 3 '
     '--short-checkpoint {file}', "is not a pyg-srgnn checkpoint", 1),
    ('fit --model srsan --heads 5', "Invalid 'heads': 5 (expected at least 1 "
     "and a divisor of hidden_channels (96))", 2),
    ('fit --model srsan --dropout 1', "Invalid 'dropout': 1.0 (expected in "
     "[0, 1))", 2),
    # fit: files
    ('fit --config {missing}.toml', 'cannot read the config file (No such '
     'file or directory)', 2),
    ('fit --config {latin1}.toml', 'line 2 is not UTF-8 text (byte 0xe9 at '
     'column 12)', 2),
    ('fit --config {binary}.yaml', 'a binary file, not text', 2),
    ('fit --config {bad_key}.toml', "unknown key(s) ['epoch']", 2),
    ('fit --config {bad_value}.toml', "'epochs' must be an integer (got "
     "'many')", 2),
    ('fit --config {file}.ini', "unknown config format '.ini'", 2),
    ('fit --resume {missing}', 'is not a run directory (no config.json)', 2),
    ('fit --resume {truncated_run}', 'last.pt\' is not a pyg-srgnn '
     'checkpoint, or it is damaged or truncated', 1),
    ('fit --resume {broken_config_run}', 'config.json: not valid JSON '
     '(Expecting value: line 1 column 12 (char 11)); the run cannot be '
     'resumed', 2),
    ('fit --resume {run} --epochs 3', '--resume continues a run with its '
     'saved options', 2),
    ('fit --dataset custom', "The 'custom' dataset needs --root", 1),
    ('fit --dataset custom --root {empty_dir}', 'holds no options.json', 1),
    ('fit --dataset custom --root {bad_options}', 'options.json: not valid '
     'JSON', 1),
    ('fit --dataset diginetica --root {empty_dir}', 'Diginetica needs the '
     'SR-GNN files all_train_seq.txt and test.txt', 1),
    # stats
    ('stats --dataset custom', "The 'custom' dataset needs --root", 1),
    ('stats --dataset custom --root {empty_dir}', 'holds no options.json', 1),
    # preprocess
    ('preprocess {missing}.csv --root {new_dir}', 'does not exist', 2),
    ('preprocess {latin1}.csv --root {new_dir} --session-col 0 --item-col 1 '
     '--no-header', 'is not UTF-8 text', 1),
    ('preprocess {empty}.csv --root {new_dir} --session-col 0 --item-col 1 '
     '--no-header', 'empty.csv', 1),
    ('preprocess {file}.csv --root {new_dir}',
     'A csv click log needs --session-col and --item-col', 2),
    ('preprocess {file}.csv {file}.ini --root {new_dir} --format diginetica',
     "Format 'diginetica' takes 1 file(s)", 1),
    ('preprocess {file}.csv --root {new_dir} --test-days 0',
     '0 is not in the range x>=1', 2),
    ('preprocess {clicks}.csv --root {file}/data --session-col 0 '
     '--item-col 1 --no-header', 'Not a directory', 1),
    ('preprocess {clicks}.csv --root {new_dir} --session-col 0 --item-col 1 '
     '--no-header --sep ";;"', "The separator must be one character other "
     "than a quote or a line break (got ';;')", 1),
    ('preprocess {clicks}.csv --root {new_dir} --session-col 0 --item-col 0 '
     '--no-header', 'The session, item and time columns must differ (got '
     '[0, 0])', 1),
    ('preprocess {clicks}.csv --root {new_dir} --session-col 0 --item-col 1 '
     '--no-header', 'cannot be split by date; name its time column '
     '(--time-col)', 1),
    ('fit --seed 99999999999999999999', "Invalid 'seed': "
     "99999999999999999999 (expected an integer in [0, 2**63))", 2),
    # recommend
    ('recommend --checkpoint {missing}.pt --session 1', 'No checkpoint at',
     1),
    ('recommend --checkpoint {truncated_run}/last.pt --session 1',
     'is not a pyg-srgnn checkpoint, or it is damaged or truncated', 1),
    ('recommend --checkpoint {binary}.yaml --session 1',
     'is not a pyg-srgnn checkpoint', 1),
    ('recommend --checkpoint {run}/checkpoint.pt --file {latin1}.toml',
     'latin1.toml: line 2 is not UTF-8 text', 1),
    ('recommend --checkpoint {run}/checkpoint.pt --file {binary}.yaml',
     'binary.yaml: a binary file, not text (a NUL byte on line 1)', 1),
    ('recommend --checkpoint {run}/checkpoint.pt --file {empty}.csv',
     'holds no session', 2),
    ('recommend --checkpoint {run}/checkpoint.pt --file {missing}.txt',
     "'--file': '{missing}.txt': No such file or directory", 2),
    ('recommend --checkpoint {run}/checkpoint.pt', 'Give --session ITEMS or '
     '--file FILE', 2),
    ('recommend --checkpoint {run}/checkpoint.pt --session 9617 -k 0',
     '0 is not in the range x>=1', 2),
    ('recommend --checkpoint {run}/checkpoint.pt --session 9617 -k 100000',
     "'k' must be between 1 and the number of items 309 (got 100000)", 1),
    ('recommend --checkpoint {run}/checkpoint.pt --session nope --strict',
     "--session: unknown item id(s) 'nope'", 1),
    ('recommend --checkpoint {run}/checkpoint.pt --session nope',
     '1 of 1 session(s) got no recommendation (--session)', 1),
    # evaluate
    ('evaluate --checkpoint {missing}.pt', 'No checkpoint at', 1),
    ('serve --checkpoint {missing}.pt', 'No checkpoint at', 1),
    ('fit --nproc 0', '0 is not in the range x>=1', 2),
    ('serve --checkpoint {run}/checkpoint.pt --workers 0',
     '0 is not in the range x>=1', 2),
    ('fit --preset nisr', "'nisr' is not one of 'niser', 'niser-plus', "
     "'niser-plus-drop0.3'", 2),
    ('evaluate --checkpoint {run}/checkpoint.pt --hybrid-short 0 '
     '--short-checkpoint {run}/checkpoint.pt', '0 is not in the range x>=1',
     2),
    ('serve --checkpoint {run}/checkpoint.pt --port 0', "0 is not in the "
     "range 1<=x<=65535", 2),
    ('evaluate --checkpoint {run}/checkpoint.pt --batch-size 0',
     '0 is not in the range x>=1', 2),
    ('evaluate --checkpoint {run}/checkpoint.pt --split valid',
     "'valid' is not one of 'train', 'test'", 2),
    ('evaluate --checkpoint {run}/checkpoint.pt --dataset diginetica '
     '--root {empty_dir}', 'Diginetica needs the SR-GNN files', 1),
    # explain
    ('explain --checkpoint {run}/checkpoint.pt --session ""',
     'The session has no item the model knows', 1),
    ('explain --checkpoint {run}/checkpoint.pt --session \'9617 "x\'',
     '--session: cannot read the item ids at column 6', 1),
    ('explain --checkpoint {truncated_run}/last.pt --session 9617',
     'damaged or truncated', 1),
    ('explain --checkpoint {run}/checkpoint.pt --session 9617 --png '
     '{missing}/x.png', 'No such file or directory', 1),
    # plot
    ('plot {missing}', 'is not a run directory (no log.jsonl)', 1),
    ('plot {broken_log_run}', 'log.jsonl: line 1 is not a record of an '
     'epoch', 1),
    ('plot {run} --out {missing}/x.png', 'No such file or directory', 1),
]


@pytest.fixture(scope='module')
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp('cli-errors')
    runner = CliRunner()
    run = root / 'run'
    result = runner.invoke(main, [
        'fit', '--root', str(root / 'data'), '--run-dir', str(run),
        '--epochs', '1', '--hidden-channels', '8', '--no-progress'])
    assert result.exit_code == 0, result.output

    (root / 'file.csv').write_text('a,b\n')
    (root / 'file.ini').write_text('x\n')
    (root / 'file').write_text('not a directory\n')
    (root / 'clicks.csv').write_text(''.join(
        f'{s},{i}\n' for s in range(30) for i in (s % 7, s % 5)))
    (root / 'empty.csv').write_bytes(b'')
    (root / 'latin1.toml').write_bytes('epochs = 3\nroot = "caf\xe9"\n'
                                       .encode('latin1'))
    shutil.copy(root / 'latin1.toml', root / 'latin1.csv')
    (root / 'binary.yaml').write_bytes(b'\x00\x01\x02binary')
    (root / 'bad_key.toml').write_text('epoch = 3\n')
    (root / 'bad_value.toml').write_text('epochs = "many"\n')
    (root / 'empty_dir').mkdir()
    (root / 'bad_options').mkdir()
    (root / 'bad_options' / 'options.json').write_text('{"format": ')

    truncated = root / 'truncated_run'
    shutil.copytree(run, truncated)
    data = (run / 'last.pt').read_bytes()
    (truncated / 'last.pt').write_bytes(data[:len(data) // 3])
    broken_config = root / 'broken_config_run'
    shutil.copytree(run, broken_config)
    (broken_config / 'config.json').write_text('{"epochs": ')
    broken_log = root / 'broken_log_run'
    shutil.copytree(run, broken_log)
    (broken_log / 'log.jsonl').write_bytes(b'\xff\xfe not json\n')

    names = ('run', 'file', 'clicks', 'empty', 'latin1', 'binary', 'bad_key',
             'bad_value', 'empty_dir', 'bad_options', 'truncated_run',
             'broken_config_run', 'broken_log_run')
    out = {name: str(root / name) for name in names}
    out.update(missing=str(root / 'missing'), new_dir=str(root / 'new'))
    return out


@pytest.mark.parametrize('command,message,exit_code', CASES,
                         ids=[case[0] for case in CASES])
def test_bad_input_gets_one_clear_line(paths, monkeypatch, command, message,
                                       exit_code):
    import shlex

    # Data sets that need files must not find the shared copies.
    monkeypatch.delenv('PYG_SRGNN_DATA', raising=False)
    args = [arg.format(**paths) for arg in shlex.split(command)]
    result = CliRunner().invoke(main, args)
    # An exception that escaped the command would be a traceback for a user.
    assert isinstance(result.exception, SystemExit), (
        f'{command}: {result.exc_info}')
    assert result.exit_code == exit_code, result.output
    assert 'Traceback' not in result.output
    errors = [line for line in result.output.splitlines()
              if line.startswith('Error:')]
    assert len(errors) == 1, result.output
    assert message.format(**paths) in errors[0], result.output


def test_out_of_memory_is_one_line(monkeypatch, tmp_path):
    import pyg_srgnn.train

    def allocate(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. "
                           "DefaultCPUAllocator: can't allocate memory: you "
                           "tried to allocate 124000000000 bytes.")

    monkeypatch.setattr(pyg_srgnn.train, 'fit', allocate)
    result = CliRunner().invoke(main, ['fit', '--run-dir', str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith('Error: Out of memory ([enforce fail')
    assert result.output.strip().endswith('try smaller sizes, e.g. '
                                          '--batch-size or --hidden-channels')

    # Any other error is a bug, not bad input: it is not hidden.
    def fail(*args, **kwargs):
        raise RuntimeError('a bug')

    monkeypatch.setattr(pyg_srgnn.train, 'fit', fail)
    result = CliRunner().invoke(main, ['fit', '--run-dir', str(tmp_path)])
    assert isinstance(result.exception, RuntimeError)
