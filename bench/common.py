"""Shared helpers of the bench scripts: machine description, JSON output."""
import functools
import json
import os
import platform
import resource
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

import pyg_srgnn

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / 'results'


def use_shared_data() -> None:
    r"""Points the datasets at the shared data folder next to the repository
    unless :obj:`PYG_SRGNN_DATA` says otherwise."""
    os.environ.setdefault('PYG_SRGNN_DATA',
                          str(BENCH_DIR.parent.parent / 'shared' / 'data'))


def machine() -> Dict[str, Any]:
    cpu = platform.processor()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f
                       if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    return {
        'cpu': cpu,
        'cores': os.cpu_count(),
        # The widest vector instructions torch's kernels use here (AVX2,
        # AVX512): machines of the same name differ in it, and speed with it.
        'cpu_capability': torch.backends.cpu.get_cpu_capability(),
        'torch_threads': torch.get_num_threads(),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'pyg_srgnn': pyg_srgnn.__version__,
        'commit': git_commit(),
    }


def peak_rss_mb() -> float:
    r"""The peak resident memory of this process so far, in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def git_commit() -> Optional[str]:
    r"""The commit of the code being run, with :obj:`+` if the working tree
    differs from it outside :obj:`bench/results` (result files that earlier
    runs wrote do not change the code); :obj:`None` outside a git
    checkout."""
    try:
        run = functools.partial(subprocess.run, cwd=BENCH_DIR.parent,
                                capture_output=True, text=True, check=True)
        commit = run(['git', 'rev-parse', '--short', 'HEAD']).stdout.strip()
        dirty = run(['git', 'status', '--porcelain', '--untracked-files=no',
                     '--', '.', ':(exclude)bench/results'])
        return commit + ('+' if dirty.stdout.strip() else '')
    except (OSError, subprocess.CalledProcessError):
        return None


def averaged_runs(runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    r"""The runs of a search candidate that its mean counts: the finished
    ones where it has any (a run still going reports its epochs so far, a
    partial budget), else all of them."""
    return [r for r in runs if r['finished']] or runs


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + '\n')


def chosen_models(models: str, known) -> list:
    r"""The comma-separated :obj:`models` of a bench's :obj:`--models`,
    refusing names not in :obj:`known` in one line."""
    import click
    names = models.split(',')
    unknown = [name for name in names if name not in known]
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)} (expected "
                                 f"some of {', '.join(known)})",
                                 param_hint='--models')
    return names
