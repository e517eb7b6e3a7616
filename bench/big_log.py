"""Preprocessing a YOOCHOOSE-sized click log: wall time and peak memory.

    python -m bench.big_log      # 33M rows: bench/results/big-log.json
    python -m bench.big_log --rows 2000000 --quick  # one JSON line

The log is made here by tiling the shipped 100k-click YOOCHOOSE slice
(../shared/data/yoochoose_clicks_100k, written as yoochoose-clicks.dat:
session, ISO 8601 time, item, category) with shifted session ids, to
--rows rows (YOOCHOOSE has 33,003,944). Then `pyg-srgnn preprocess LOG
--format yoochoose --fraction 4` runs in a fresh process, with pyarrow's
CSV reader (the [arrow] extra) and with the row reader (pyarrow hidden),
each timed (wall) with its peak resident memory; both must write the same
splits.
"""
import csv
import datetime
import gzip
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import click
import numpy as np

from bench.common import (
    BENCH_DIR,
    RESULTS_DIR,
    machine,
    use_shared_data,
    write_json,
)

SLICE = 'yoochoose_clicks_100k'
YOOCHOOSE_ROWS = 33_003_944

# `pyg-srgnn preprocess` in a process that reports its own peak resident
# memory on exit; with pyarrow hidden, the row reader runs.
RUN = ("import atexit, resource, sys\n"
       "atexit.register(lambda: print('peak_rss_kb', resource.getrusage("
       "resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr))\n"
       "if sys.argv.pop(1) == 'rows':\n"
       "    sys.modules['pyarrow'] = None\n"
       "from pyg_srgnn.cli import main\n"
       "main(prog_name='pyg-srgnn')\n")


def slice_rows(data: Path) -> Tuple[List[str], np.ndarray]:
    r"""The slice's clicks as yoochoose-clicks.dat rows without the session
    id: ',time,item,0\n', with the session ids apart."""
    rows, sessions = [], []
    for name in ('train_full', 'test'):
        with gzip.open(data / SLICE / f'yoochoose-clicks-100k_{name}.txt.gz',
                       'rt') as f:
            for row in csv.DictReader(f, delimiter='\t'):
                moment = datetime.datetime.fromtimestamp(
                    float(row['Time']), datetime.timezone.utc)
                rows.append(f",{moment.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}"
                            f"Z,{row['ItemId']},0\n")
                sessions.append(int(row['SessionId']))
    return rows, np.array(sessions)


def write_log(path: Path, rows: List[str], sessions: np.ndarray,
              num_rows: int) -> int:
    r"""Tiles the slice into :obj:`path` up to :obj:`num_rows` rows, each
    tile's session ids shifted past the previous tile's."""
    shift = int(sessions.max()) + 1
    written = 0
    with open(path, 'w') as f:
        tile = 0
        while written < num_rows:
            count = min(len(rows), num_rows - written)
            ids = (sessions[:count] + tile * shift).astype(str)
            f.write(''.join(map(str.__add__, ids, rows[:count])))
            written += count
            tile += 1
    return written


def preprocess(log: Path, root: Path, arrow: bool) -> Dict[str, float]:
    r"""Runs `pyg-srgnn preprocess` on :obj:`log` in a fresh process."""
    command = [sys.executable, '-c', RUN, 'arrow' if arrow else 'rows',
               'preprocess', str(log), '--root', str(root), '--format',
               'yoochoose', '--fraction', '4', '--json']
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True,
                          cwd=BENCH_DIR.parent)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise click.ClickException(f'preprocess failed: {proc.stderr}')
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = int(proc.stderr.split('peak_rss_kb')[-1].split()[0])
    return {'wall_s': round(wall, 1),
            'cpu_s': round(after.ru_utime + after.ru_stime -
                           before.ru_utime - before.ru_stime, 1),
            'peak_rss_mb': round(peak_kb / 1024, 1),
            'statistics': json.loads(proc.stdout.strip().splitlines()[-1])}


def same_splits(a: Path, b: Path) -> bool:
    r"""Whether two preprocessed data set roots hold the same splits: the
    samples of both splits and the item ids, read as `fit` reads them."""
    import torch

    from pyg_srgnn.data.registry import load_dataset
    for split in ('train', 'test'):
        one = load_dataset('custom', str(a), split)
        other = load_dataset('custom', str(b), split)
        if list(one.item_labels) != list(other.item_labels) or not all(
                torch.equal(x, y) for x, y in zip(one.sample_tensors(),
                                                  other.sample_tensors())):
            return False
    return True


@click.command()
@click.option('--rows', default=YOOCHOOSE_ROWS, show_default=True)
@click.option('--quick', is_flag=True, help='Print one JSON line, write '
              'no result file.')
@click.option('--out', 'out_path', default=None,
              help='Result file (default: bench/results/big-log.json).')
def main(rows, quick, out_path):
    use_shared_data()
    import os
    data = Path(os.environ['PYG_SRGNN_DATA'])
    started_on = machine()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        clicks, sessions = slice_rows(data)
        log = tmp / 'yoochoose-clicks.dat'
        written = write_log(log, clicks, sessions, rows)
        made_s = time.perf_counter() - start
        row_reader = preprocess(log, tmp / 'rows', arrow=False)
        arrow = preprocess(log, tmp / 'arrow', arrow=True)
        same = same_splits(tmp / 'rows', tmp / 'arrow')
        size_mb = round(log.stat().st_size / 2**20, 1)
    out = {'rows': written, 'log_mb': size_mb, 'made_s': round(made_s, 1),
           'arrow': arrow, 'row_reader': row_reader, 'same_splits': same}
    if quick:
        print(json.dumps({'rows': written, 'arrow_wall_s': arrow['wall_s'],
                          'row_reader_wall_s': row_reader['wall_s'],
                          'same_splits': same}))
        return
    out.update({'command': 'python -m bench.big_log' + (
        f' --rows {rows}' if rows != YOOCHOOSE_ROWS else ''),
        'machine': started_on})
    write_json(Path(out_path) if out_path else RESULTS_DIR / 'big-log.json',
               out)
    print(json.dumps(out, indent=2))


if __name__ == '__main__':
    main()
