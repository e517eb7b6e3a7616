import json
import subprocess
import sys

import pytest
import torch

from pyg_srgnn.distributed import ShardedBatchSampler, gather_shards, shard


@pytest.mark.parametrize('num_samples,batch_size,world', [
    (103, 10, 2), (100, 10, 3), (21, 10, 2), (11, 10, 2)])
def test_ranks_share_each_global_batch(num_samples, batch_size, world):
    epochs = []
    for rank in range(world):
        generator = torch.Generator().manual_seed(0)
        sampler = ShardedBatchSampler(num_samples, batch_size, generator,
                                      rank, world)
        epochs.append([list(sampler), list(sampler)])  # two epochs
        assert len(epochs[-1][0]) == len(sampler)
    for epoch in range(2):
        batches = [epochs[rank][epoch] for rank in range(world)]
        # Every rank takes as many steps; their shares are disjoint.
        assert len({len(b) for b in batches}) == 1
        seen = [i for rank_batches in batches for b in rank_batches
                for i in b]
        assert len(seen) == len(set(seen))
        # Only a last global batch smaller than the world is dropped.
        assert num_samples - len(seen) < world
        for step in range(len(batches[0])):
            sizes = [len(batches[rank][step]) for rank in range(world)]
            assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    # A new order each epoch.
    assert epochs[0][0] != epochs[0][1]


def test_one_process_holds_every_shard():
    assert torch.equal(shard(7), torch.arange(7))
    x = torch.arange(12).view(6, 2)
    assert torch.equal(gather_shards(x), x)


def run(*args):
    return subprocess.run([sys.executable, '-m', 'pyg_srgnn', *args],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('options', [
    [], ['--loss', 'sampled', '--num-negatives', '64']])
def test_two_processes_over_localhost(tmp_path, options):
    run_dir = tmp_path / 'run'
    proc = run('fit', '--nproc', '2', '--root', str(tmp_path / 'data'),
               '--run-dir', str(run_dir), '--epochs', '2',
               '--hidden-channels', '8', '--num-threads', '1',
               '--no-progress', *options)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Rank 0 alone reports and writes.
    assert proc.stdout.count('written to') == 1, proc.stdout
    assert '2 processes' in proc.stdout
    log = [json.loads(line) for line in open(run_dir / 'log.jsonl')]
    assert [r['epoch'] for r in log if 'valid' in r] == [1, 2]
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    # The evaluation split across the ranks gives what one process gives.
    proc = run('evaluate', '--checkpoint', str(run_dir / 'checkpoint.pt'))
    assert proc.returncode == 0, proc.stderr
    alone = json.loads(proc.stdout)
    for key, value in metrics['test'].items():
        assert alone[key] == value, key


def test_teardown_frees_the_wrappers_before_the_group(tmp_path, monkeypatch):
    # A DistributedDataParallel left to outlive the process group would
    # close it from its own destructor, holding the GIL that gloo's worker
    # threads may need (a deadlock): teardown frees it first.
    import weakref

    import torch.distributed as dist

    from pyg_srgnn import distributed
    from pyg_srgnn.nn import SRGNN
    dist.init_process_group('gloo', init_method=f"file://{tmp_path / 'pg'}",
                            rank=0, world_size=1)
    loss = distributed.data_parallel(SRGNN(20, 8), None,
                                     torch.device('cpu'))
    ddp = weakref.ref(loss.ddp)
    destroy = dist.destroy_process_group
    alive = []
    monkeypatch.setattr(dist, 'destroy_process_group', lambda: (
        alive.append(ddp() is not None), destroy()))
    distributed.teardown()
    assert alive == [False]
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match='process group of this loss is '
                       'closed'):
        loss(None, None)


# Trains in each of 2 ranks (under torchrun) and SIGKILLs them at the
# training batch given; torchrun then stops, as after a machine's failure.
KILLED_RANKS = '''
import os, signal, sys
import pyg_srgnn.train
from pyg_srgnn.config import FitConfig
from pyg_srgnn.train import fit

step, calls = pyg_srgnn.train.train_step, [0]

def step_then_die(*args):
    calls[0] += 1
    if calls[0] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)
    return step(*args)

pyg_srgnn.train.train_step = step_then_die
fit(FitConfig.from_options(root=sys.argv[1], run_dir=sys.argv[2],
                           hidden_channels=8, epochs=4, batch_size=100,
                           embedding_dropout=0.3, progress=False,
                           num_threads=1),
    log=lambda message: None)
'''


def test_two_processes_resume_where_they_were_killed(tmp_path):
    options = ['--root', str(tmp_path / 'data'), '--epochs', '4',
               '--batch-size', '100', '--hidden-channels', '8',
               # Each rank's dropout draws go on from its saved state.
               '--embedding-dropout', '0.3', '--num-threads', '1',
               '--no-progress']
    proc = run('fit', '--nproc', '2', '--run-dir', str(tmp_path / 'whole'),
               *options)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    script = tmp_path / 'killed_ranks.py'
    script.write_text(KILLED_RANKS)
    killed = tmp_path / 'killed'
    # 11 global batches an epoch: killed in the third epoch.
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone',
         '--nproc-per-node', '2', str(script), str(tmp_path / 'data'),
         str(killed), '25'], capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert not (killed / 'metrics.json').exists()
    logged = [json.loads(line) for line in open(killed / 'log.jsonl')]
    assert [r['epoch'] for r in logged] == [1, 2]

    proc = run('fit', '--nproc', '2', '--resume', str(killed))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    whole, resumed = (json.loads((tmp_path / name / 'metrics.json')
                                 .read_text()) for name in ('whole',
                                                            'killed'))
    assert resumed['test'] == whole['test']
    logs = [[json.loads(line) for line in open(tmp_path / name / 'log.jsonl')]
            for name in ('whole', 'killed')]
    assert len(logs[0]) == len(logs[1]) > 4  # the refit's epochs too
    for a, b in zip(*logs):
        a.pop('train_seconds'), b.pop('train_seconds')
        assert a == b
