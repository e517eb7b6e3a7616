"""Shared helpers of the bench scripts: machine description, JSON output."""
import json
import os
import platform
from pathlib import Path
from typing import Any, Dict

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
        'torch_threads': torch.get_num_threads(),
        'python': platform.python_version(),
        'torch': torch.__version__,
        'pyg_srgnn': pyg_srgnn.__version__,
    }


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + '\n')
