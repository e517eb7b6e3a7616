"""Load benchmark of `pyg-srgnn serve`: a real HTTP client on 127.0.0.1
against a server process, bounded in requests and time.

    python -m bench.serve --checkpoint CKPT      # bench/results/serve.json
    python -m bench.serve --quick                # < 3 minutes, one JSON line

For micro-batching on and off, and concurrency 1, 8 and 64 (aiohttp clients
on keep-alive connections, each sending POST /recommend one after another, k
= 20, sessions of 1-5 random known items): requests per second, p50 / p99
latency end to end, errors (anything but a 200, or no answer), and the
server's resident memory before and after. The full run ends with a soak
(--soak-s, 300 by default) at concurrency 64 with batching, the server's
memory sampled every 10 s. --quick trains a small model on the shipped
sample unless --checkpoint is given, and measures concurrency 64 with
batching only.
"""
import asyncio
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List

import click
import numpy as np

from bench.common import BENCH_DIR, RESULTS_DIR, machine, write_json


def process_tree(pid: int) -> List[int]:
    r""":obj:`pid` and its descendants (a server's workers)."""
    pids = [pid]
    for task in Path(f'/proc/{pid}/task').glob('*'):
        children = (task / 'children').read_text().split()
        for child in children:
            pids.extend(process_tree(int(child)))
    return pids


def rss_mb(pid: int) -> float:
    r"""The resident memory of :obj:`pid` and its descendants."""
    total = 0
    for each in process_tree(pid):
        with open(f'/proc/{each}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    total += int(line.split()[1])
    return round(total / 1024, 1)


class Server:
    r"""`pyg-srgnn serve` in a process of its own, on a free port."""

    def __init__(self, checkpoint: str, threads: int, batching: bool,
                 workers: int = 1):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            self.port = s.getsockname()[1]
        command = [sys.executable, '-m', 'pyg_srgnn', 'serve',
                   '--checkpoint', checkpoint, '--port', str(self.port),
                   '--threads', str(threads), '--workers', str(workers)]
        if not batching:
            command.append('--no-batching')
        self.process = subprocess.Popen(command, cwd=BENCH_DIR.parent,
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self.url = f'http://127.0.0.1:{self.port}'

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise click.ClickException(
                    f'the server stopped: {self.process.stderr.read()}')
            try:
                with urllib.request.urlopen(f'{self.url}/health') as answer:
                    if answer.status == 200:
                        return
            except OSError:  # not listening yet
                time.sleep(0.2)
        raise click.ClickException('the server did not start in time')

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def load(url: str, sessions: List[List[str]], concurrency: int,
               max_requests: int, max_seconds: float) -> Dict[str, Any]:
    r"""Sends POST /recommend from :obj:`concurrency` clients until
    :obj:`max_requests` answers or :obj:`max_seconds`. The client is
    aiohttp: on these 2 cores, which client and server share, httpx's
    AsyncClient took 7.3 ms of CPU per request at concurrency 64, aiohttp
    0.25 ms."""
    import aiohttp
    latencies: List[float] = []
    errors = 0
    sent = 0
    deadline = time.perf_counter() + max_seconds

    async def client(worker: int, http: aiohttp.ClientSession) -> None:
        nonlocal errors, sent
        rng = random.Random(worker)
        while sent < max_requests and time.perf_counter() < deadline:
            sent += 1
            body = {'session': rng.choice(sessions), 'k': 20}
            start = time.perf_counter()
            try:
                async with http.post(f'{url}/recommend', json=body) as answer:
                    await answer.read()
                    ok = answer.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError):
                ok = False
            latencies.append(1000 * (time.perf_counter() - start))
            errors += not ok

    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency),
            timeout=aiohttp.ClientTimeout(total=30)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(w, http) for w in range(concurrency)))
        wall = time.perf_counter() - start
    return {'concurrency': concurrency, 'requests': len(latencies),
            'seconds': round(wall, 2),
            'rps': round(len(latencies) / wall, 1),
            'p50_ms': round(float(np.percentile(latencies, 50)), 2),
            'p99_ms': round(float(np.percentile(latencies, 99)), 2),
            'errors': errors}


def measure(checkpoint: str, sessions, threads: int, batching: bool,
            concurrencies, max_requests: int, max_seconds: float,
            soak_s: float = 0, workers: int = 1) -> Dict[str, Any]:
    server = Server(checkpoint, threads, batching, workers)
    try:
        server.wait_ready()
        # Warm-up, not measured.
        asyncio.run(load(server.url, sessions, 8, 200, 10))
        before = rss_mb(server.process.pid)
        runs = [asyncio.run(load(server.url, sessions, c, max_requests,
                                 max_seconds)) for c in concurrencies]
        out = {'batching': batching, 'workers': workers,
               'rss_before_mb': before,
               'runs': runs, 'rss_after_mb': rss_mb(server.process.pid)}
        if soak_s:
            samples = []
            start = time.time()
            while time.time() - start < soak_s:
                run = asyncio.run(load(server.url, sessions, 64, 10**9, 10))
                samples.append({'t_s': round(time.time() - start),
                                'rss_mb': rss_mb(server.process.pid),
                                'rps': run['rps'], 'p99_ms': run['p99_ms'],
                                'errors': run['errors']})
            out['soak'] = samples
        return out
    finally:
        server.stop()


def train_small(tmp: Path) -> str:
    from pyg_srgnn.config import FitConfig
    from pyg_srgnn.train import fit
    fit(FitConfig.from_options(root=str(tmp / 'data'),
                               run_dir=str(tmp / 'run'), epochs=3,
                               progress=False, num_threads=1),
        log=lambda message: None)
    return str(tmp / 'run' / 'checkpoint.pt')


@click.command()
@click.option('--checkpoint', default=None,
              help='The model to serve [--quick: one trained in the run].')
@click.option('--quick', is_flag=True)
@click.option('--threads', default=2, show_default=True,
              help="The server's torch threads.")
@click.option('--workers', default=1, show_default=True,
              help="The server's processes (pyg-srgnn serve --workers).")
@click.option('--max-requests', default=20000, show_default=True)
@click.option('--max-seconds', default=30.0, show_default=True)
@click.option('--soak-s', default=300.0, show_default=True)
@click.option('--out', 'out_path', default=None,
              help='Result file (default: bench/results/serve.json).')
def main(checkpoint, quick, threads, workers, max_requests, max_seconds,
         soak_s, out_path):
    import torch
    started_on = machine()
    with tempfile.TemporaryDirectory() as tmp:
        if checkpoint is None:
            if not quick:
                raise click.UsageError('--checkpoint is needed unless '
                                       '--quick')
            checkpoint = train_small(Path(tmp))
        labels = torch.load(checkpoint, weights_only=True)['item_labels']
        rng = random.Random(0)
        sessions = [[rng.choice(labels) for _ in range(rng.randint(1, 5))]
                    for _ in range(1000)]
        if quick:
            out = measure(checkpoint, sessions, threads, True, [64],
                          min(max_requests, 3000), min(max_seconds, 30),
                          workers=workers)
            run = out['runs'][0]
            print(json.dumps({**run, 'rss_before_mb': out['rss_before_mb'],
                              'rss_after_mb': out['rss_after_mb']}))
            return
        results = [measure(checkpoint, sessions, threads, batching,
                           [1, 8, 64], max_requests, max_seconds,
                           soak_s if batching else 0, workers)
                   for batching in (True, False)]
    write_json(Path(out_path) if out_path else RESULTS_DIR / 'serve.json', {
        'command': 'python -m bench.serve ' + ' '.join(sys.argv[1:]),
        'machine': started_on, 'checkpoint': checkpoint,
        'max_requests': max_requests, 'max_seconds': max_seconds,
        'results': results})
    print(json.dumps(results, indent=2))


if __name__ == '__main__':
    main()
