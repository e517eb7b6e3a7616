"""Speed benchmark on Diginetica shapes (batch 100, d 100, 43,097 items, one
propagation step, full softmax), everything measured side by side in one
process after warm-up, medians over interleaved rounds, each round a run of
as many steps as our loader gathers batches at once (16), so that every
round of ours pays one whole gather:

- ours: whole training steps, drawing their batches from a shuffled
  SessionLoader as training does (graph building included), the session
  embedding running as the fused kernel (pyg_srgnn.nn.fused) as in
  `pyg-srgnn fit`;
- modules: the same steps with the session embedding running as the
  PyTorch modules (SRGNNConv, SessionReadout): the fused kernel's gain;
- floor: only the unavoidable work, i.e. the scoring matmul, cross-entropy
  forward and backward and one fused Adam step over as many parameters;
- dense: the official per-batch pipeline (dense numpy adjacency per batch,
  bench/dense_official.py) with the official optimizer (default Adam);
- pipeline: the time ours spends drawing its batches from the loader
  (gathering the graphs and collating them), timed inside its steps;
- ours_per_batch: the same steps with a loader that gathers every batch on
  its own (gather_batches=1): what gathering 16 batches at once saves;
- gnn: the session embedding alone (item lookup, propagation, readout),
  forward and backward, on stored batches: what our step adds to the floor
  besides the pipeline;
- gnn_gemms: the matrix products of that forward and backward alone, on the
  same shapes: the part of it no implementation of the model can avoid;
- gemm_step: the floor's step plus only that unavoidable part, inside the
  step as ours has it (drawing a batch, the matrix products on its shapes
  before the scores and after their backward): how close to the floor any
  implementation could come on this machine;
- evaluation: ranking all test samples with top-20, ours vs matmul + top-k,
  batch by batch in turn;
- latency: one session scored and its top 20 taken, p50 / p99.

The whole process keeps freed memory, as `pyg-srgnn fit` does (see
pyg_srgnn.allocator), unless --default-malloc leaves glibc's malloc as it is.
With --no-fused-kernel, ours, gnn, evaluation and latency run the modules
(as they do where the kernel cannot be built; the file records which ran).

    python -m bench.speed          # full run, writes bench/results/speed.json
    python -m bench.speed --quick  # < 60 s, prints one JSON line
    python -m bench.speed --default-malloc  # speed-default-malloc.json
    python -m bench.speed --out FILE  # the result to FILE
    python -m bench.speed --model srsan  # SR-SAN's step against the floor
                                         # on its shapes: speed-srsan.json
"""
import itertools
import json
import resource
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import click
import numpy as np
import torch
import torch.nn.functional as F

from bench.common import (
    RESULTS_DIR,
    machine,
    use_shared_data,
    write_json,
)
from bench.dense_official import dense_batch, dense_forward, split_sessions
from pyg_srgnn.allocator import keep_freed_memory
from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.loader import GATHER_BATCHES
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.models import MODELS, model_config
from pyg_srgnn.nn import SRGNN, fused
from pyg_srgnn.train import train_step


def interleaved(
    fns: Dict[str, Callable[[], object]],
    repeats: int,
    warmup: int,
    steps: int = 1,
    faults: Optional[Dict[str, List[float]]] = None,
) -> Dict[str, List[float]]:
    r"""Runs the functions in turn, :obj:`repeats` rounds after
    :obj:`warmup` rounds, each function :obj:`steps` times per round, so
    that a slow phase of a shared machine hits them all alike. Returns the
    mean time of a call in every round, in milliseconds. If given,
    :obj:`faults` receives per function the mean number of page faults
    (minor: memory the process touches for the first time or again after
    returning it) of a call in every round, counted outside the timing."""
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for round_ in range(warmup + repeats):
        for name, fn in fns.items():
            faults_before = minor_page_faults()
            start = time.perf_counter()
            for _ in range(steps):
                fn()
            end = time.perf_counter()
            if round_ >= warmup:
                times[name].append(1000 * (end - start) / steps)
                if faults is not None:
                    faults.setdefault(name, []).append(
                        (minor_page_faults() - faults_before) / steps)
    return times


def minor_page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def endless(loader: SessionLoader) -> Iterator:
    r"""The loader's batches, epoch after epoch."""
    while True:
        yield from loader


def floor_tensors(model: SRGNN, batch_size: int):
    r"""The floor's tensors: the scores are taken against a table of one row
    per item, and one fused Adam step runs on the same shapes as ours: that
    table, the reserved row 0 and a copy of every other parameter, the
    latter with a constant zero gradient (Adam skips a tensor without one).
    Returns the table, a session batch and the optimizer."""
    table = torch.nn.Parameter(model.embedding.weight.detach()[1:].clone())
    others = [torch.nn.Parameter(torch.zeros(1, model.hidden_channels))]
    others += [
        torch.nn.Parameter(torch.zeros_like(p))
        for name, p in model.named_parameters() if name != 'embedding.weight'
    ]
    for p in others:
        p.grad = torch.zeros_like(p)
    optimizer = torch.optim.Adam([table] + others, lr=1e-3,
                                 weight_decay=1e-5, fused=True)
    session = torch.randn(batch_size, model.hidden_channels,
                          requires_grad=True)
    return table, session, optimizer


def embed(model: SRGNN, batch) -> torch.Tensor:
    r"""The session embedding of a batch, as :meth:`SRGNN.forward` takes it
    (the item lookup with a sparse gradient)."""
    return model.session_embedding(batch.x, batch.edge_index,
                                   batch.alias_index, batch.last_index,
                                   batch.batch, sparse_grad=True)


def train_benchmarks(
    train_set,
    num_items: int,
    batch_size: int,
    seed: int,
    fused: bool = True,
) -> Tuple[Dict[str, Callable[[], object]], List[float]]:
    r"""Returns the training-step functions to time, and the list to which
    ours appends the milliseconds it spends drawing each batch. With
    :obj:`fused`, ours and gnn run the fused kernel where it can be built."""
    torch.manual_seed(seed)

    def shuffled(**kwargs) -> SessionLoader:
        return SessionLoader(train_set, batch_size=batch_size, shuffle=True,
                             generator=torch.Generator().manual_seed(seed),
                             **kwargs)

    loader = shuffled()
    batches = endless(loader)
    # The same steps with every batch gathered on its own.
    single_batches = endless(shuffled(gather_batches=1))
    gen = np.random.default_rng(seed)
    num_samples = len(loader.index)

    def next_index():
        return gen.integers(0, num_samples, batch_size).tolist()

    model = SRGNN(num_items, fused=fused)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3,
                                 weight_decay=1e-5, fused=True)
    # The time ours spends drawing its batch, inside its steps (the caches
    # as a training step leaves them), one entry per step.
    pipeline_ms: List[float] = []

    def ours():
        start = time.perf_counter()
        batch = next(batches)
        pipeline_ms.append(1000 * (time.perf_counter() - start))
        train_step(model, optimizer, batch)

    def ours_per_batch():
        train_step(model, optimizer, next(single_batches))

    modules_model = SRGNN(num_items)
    modules_model.load_state_dict(model.state_dict())
    modules_optimizer = torch.optim.Adam(modules_model.parameters(), lr=1e-3,
                                         weight_decay=1e-5, fused=True)
    modules_batches = endless(shuffled())

    def modules():
        train_step(modules_model, modules_optimizer, next(modules_batches))

    table, session, floor_optimizer = floor_tensors(model, batch_size)

    def floor_scores_backward():
        target = torch.from_numpy(gen.integers(0, num_items, batch_size))
        table.grad = None
        loss = F.cross_entropy(session @ table.t(), target)
        loss.backward()

    def floor():
        floor_scores_backward()
        floor_optimizer.step()

    dense_model = SRGNN(num_items)
    dense_optimizer = torch.optim.Adam(dense_model.parameters(), lr=1e-3,
                                       weight_decay=1e-5)
    sequences = loader.sequences

    def dense():
        index = next_index()
        clicks, ptr = sequences.select(np.asarray(index))
        items, A_in, A_out, alias, mask, y = dense_batch(
            split_sessions(clicks, ptr), loader.y[index])
        dense_optimizer.zero_grad()
        scores = dense_forward(dense_model, items, A_in, A_out, alias, mask)
        loss = F.cross_entropy(scores, y - 1)
        loss.backward()
        dense_optimizer.step()

    gnn_model = SRGNN(num_items, fused=fused)
    stored = [loader.collate_fn(next_index()) for _ in range(64)]
    gnn_batches = itertools.cycle(stored)

    def gnn():
        batch = next(gnn_batches)
        embed(gnn_model, batch).sum().backward()
        gnn_model.zero_grad()

    shapes = [gnn_gemm_shapes(batch.x.numel(), batch.alias_index.numel(),
                              batch.num_graphs, model.hidden_channels)
              for batch in stored]
    # Room for the largest operand of any batch: a batch holds at most as
    # many nodes and clicks as its samples' clicks, and no map is wider
    # than 3 * hidden_channels.
    most_clicks = int(np.sort(sequences.lengths)[-batch_size:].sum())
    flat = torch.randn(3, most_clicks * 3 * model.hidden_channels)
    gemm_shapes = itertools.cycle(shapes)  # the same batches as `gnn`

    def gemm_views(batch_shapes):
        for m, k, n in batch_shapes:
            yield (flat[0, :m * k].view(m, k), flat[1, :n * k].view(n, k),
                   flat[2, :m * n].view(m, n))

    def gnn_gemms():
        for x, weight, grad in gemm_views(next(gemm_shapes)):
            x @ weight.t()  # forward
            grad @ weight  # gradient of the input
            grad.t() @ x  # gradient of the weight

    # The floor's step plus only what no implementation of the model can
    # avoid: drawing the batch from a shuffled loader and the session
    # embedding's matrix products on its shapes, the forward ones before
    # the scores and the backward ones after, as in our step.
    bound_batches = endless(shuffled())

    def gemm_step():
        batch = next(bound_batches)
        views = list(gemm_views(gnn_gemm_shapes(
            batch.x.numel(), batch.alias_index.numel(), batch.num_graphs,
            model.hidden_channels)))
        for x, weight, _ in views:
            x @ weight.t()
        floor_scores_backward()
        for x, weight, grad in views:
            grad @ weight
            grad.t() @ x
        floor_optimizer.step()

    check_dense_parity(dense_model, loader, next_index())
    fns = {'ours': ours, 'floor': floor, 'dense': dense, 'gnn': gnn,
           'gnn_gemms': gnn_gemms, 'ours_per_batch': ours_per_batch,
           'gemm_step': gemm_step, 'modules': modules}
    return fns, pipeline_ms


def ours_and_floor(times: Dict[str, List[float]]) -> Dict[str, object]:
    r"""The medians of ours and the floor, their ratio, and the quartiles
    of ours over the floor of the same round, which ran right after it (how
    much the ratio moves as the machine's speed does)."""
    ours, floor = np.median(times['ours']), np.median(times['floor'])
    return {
        'ours_ms': round(float(ours), 2),
        'floor_ms': round(float(floor), 2),
        'ratio_to_floor': round(float(ours / floor), 3),
        'paired_ratio_p25_p50_p75': [
            round(float(q), 3) for q in np.percentile(
                np.array(times['ours']) / np.array(times['floor']),
                [25, 50, 75])
        ],
    }


def model_benchmarks(train_set, model, batch_size: int,
                     seed: int) -> Dict[str, Callable[[], object]]:
    r"""Ours and the floor for another model of the registry (e.g.
    SR-SAN): its training steps, drawing shuffled batches from a
    SessionLoader as `pyg-srgnn fit` does, and the floor on its shapes (its
    item table and parameter count)."""
    torch.manual_seed(seed)
    loader = SessionLoader(train_set, batch_size=batch_size, shuffle=True,
                           generator=torch.Generator().manual_seed(seed))
    batches = endless(loader)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3,
                                 weight_decay=1e-5, fused=True)
    gen = np.random.default_rng(seed)
    table, session, floor_optimizer = floor_tensors(model, batch_size)

    def ours():
        train_step(model, optimizer, next(batches))

    def floor():
        target = torch.from_numpy(gen.integers(0, model.num_items,
                                               batch_size))
        table.grad = None
        F.cross_entropy(session @ table.t(), target).backward()
        floor_optimizer.step()

    return {'ours': ours, 'floor': floor}


def model_speed(model_name: str, train_set, batch_size: int, seed: int,
                rounds: int, warmup: int) -> Dict[str, object]:
    r"""The training step of :obj:`model_name` (its registered defaults)
    against the floor on its own shapes, side by side."""
    model = model_config(model_name).build(train_set.num_items)
    fns = model_benchmarks(train_set, model, batch_size, seed)
    times = interleaved(fns, repeats=rounds, warmup=warmup,
                        steps=GATHER_BATCHES)
    return {
        'model': model_name,
        **ours_and_floor(times),
        'hidden_channels': model.hidden_channels,
        'parameters': sum(p.numel() for p in model.parameters()),
        'raw_ms': {name: [round(x, 3) for x in t]
                   for name, t in times.items()},
    }


def gnn_gemm_shapes(num_nodes: int, num_clicks: int, num_sessions: int,
                    d: int) -> List[Tuple[int, int, int]]:
    r"""The :obj:`(rows, in, out)` of every linear map of the session
    embedding (one propagation step, hybrid readout) on a batch of these
    sizes; each costs three matrix products in a training step."""
    return [
        (num_nodes, d, 2 * d),  # both edge directions' linear maps
        (num_nodes, 2 * d, 3 * d),  # GRU, input gates
        (num_nodes, d, 3 * d),  # GRU, hidden gates
        (num_clicks, d, d),  # readout, every click (W_2)
        (num_sessions, d, d),  # readout, last click (W_1)
        (num_clicks, d, 1),  # readout, attention weights (q)
        (num_sessions, 2 * d, d),  # readout, hybrid (W_3)
    ]


def check_dense_parity(model: SRGNN, loader: SessionLoader, index) -> None:
    r"""The dense pipeline must compute the same function as ours, else the
    comparison means nothing."""
    batch = loader.collate_fn(index)
    clicks, ptr = loader.sequences.select(np.asarray(index))
    items, A_in, A_out, alias, mask, _ = dense_batch(
        split_sessions(clicks, ptr), loader.y[index])
    with torch.no_grad():
        ours = model.forward_batch(batch)
        dense = dense_forward(model, items, A_in, A_out, alias, mask)
    if not torch.allclose(ours, dense, atol=1e-4):
        raise AssertionError('dense and message-passing scores differ')


def evaluation_pass(test_set, model: SRGNN, batch_size: int,
                    k: int) -> Tuple[float, float]:
    r"""Ranks every test sample once with our model (drawing the batches
    from the loader included) and once with the floor of matmul + top-k
    alone, batch by batch in turn, so that the machine's drift hits both
    alike. Returns both totals in seconds."""
    loader = SessionLoader(test_set, batch_size=batch_size)
    sessions = torch.randn(batch_size, model.hidden_channels)
    table = model.embedding.weight.detach()[1:]
    model.eval()
    ours = floor = 0.
    batches = iter(loader)
    with torch.no_grad():
        for start in range(0, len(loader.index), batch_size):
            size = min(batch_size, len(loader.index) - start)
            tic = time.perf_counter()
            batch = next(batches)
            model.forward_batch(batch).topk(k, dim=1)
            mid = time.perf_counter()
            (sessions[:size] @ table.t()).topk(k, dim=1)
            ours += mid - tic
            floor += time.perf_counter() - mid
    return ours, floor


def session_latency(model: SRGNN, train_set, repeats: int, k: int):
    clicks, ptr, _, _ = train_set.sample_tensors()
    gen = np.random.default_rng(1)
    picks = gen.integers(0, ptr.numel() - 1, repeats + 10)
    sessions = [clicks[ptr[i]:ptr[i + 1]].tolist() for i in picks]
    times = []
    for i, session in enumerate(sessions):
        start = time.perf_counter()
        model.recommend([session], k=k)
        if i >= 10:
            times.append(1000 * (time.perf_counter() - start))
    return times


@click.command()
@click.option('--quick', is_flag=True,
              help='Fewer repetitions, training only, one JSON line.')
@click.option('--dataset', default='diginetica', show_default=True)
@click.option('--root', default=None, help='Data set directory.')
@click.option('--threads', default=2, show_default=True)
@click.option('--repeats', default=50, show_default=True)
@click.option('--batch-size', default=100, show_default=True)
@click.option('--seed', default=0, show_default=True)
@click.option('--default-malloc', is_flag=True,
              help="Leave glibc's malloc as it is instead of keeping freed "
              'memory as pyg-srgnn fit does; writes '
              'speed-default-malloc.json.')
@click.option('--no-fused-kernel', 'no_fused', is_flag=True,
              help='Run the session embedding as the PyTorch modules in '
              'ours, gnn, evaluation and latency.')
@click.option('--model', 'model_name', type=click.Choice(
    [name for name, cls in MODELS.items() if cls.neural]), default='srgnn',
    show_default=True, help='Another model: its training step against the '
    'floor on its shapes only; writes speed-MODEL.json.')
@click.option('--out', 'out_path', default=None,
              help='Result file of a full run (default: '
              'bench/results/speed.json, or speed-default-malloc.json with '
              '--default-malloc).')
def main(quick, dataset, root, threads, repeats, batch_size, seed,
         default_malloc, no_fused, model_name, out_path):
    # Off glibc nothing can be kept; the file records what was in effect.
    keep_freed = not default_malloc and keep_freed_memory()
    use_shared_data()
    torch.set_num_threads(threads)
    # Before the run: the commit of the code that runs, not of a later
    # checkout.
    started_on = machine()
    train_set = load_dataset(dataset, root, 'train')
    if model_name != 'srgnn':
        out = model_speed(model_name, train_set, batch_size, seed,
                          rounds=8 if quick else repeats,
                          warmup=2 if quick else 5)
        out['setup'] = {'dataset': dataset, 'batch_size': batch_size,
                        'num_items': train_set.num_items,
                        'repeats': repeats, 'steps_per_round': GATHER_BATCHES,
                        'threads': threads, 'keep_freed_memory': keep_freed}
        out['machine'] = started_on
        if quick:
            print(json.dumps({k: v for k, v in out.items()
                              if k != 'raw_ms'}))
            return
        write_json(Path(out_path) if out_path else
                   RESULTS_DIR / f'speed-{model_name}.json', out)
        print(json.dumps({k: v for k, v in out.items() if k != 'raw_ms'},
                         indent=2))
        return
    num_items = train_set.num_items
    # Built (or loaded) before anything is timed; None where it cannot be.
    fused_kernel = not no_fused and fused.load_kernel() is not None
    fns, pipeline_ms = train_benchmarks(train_set, num_items, batch_size,
                                        seed, fused_kernel)
    # A round of ours pays exactly one gather of the loader.
    steps = GATHER_BATCHES
    rounds = 8 if quick else repeats
    faults: Dict[str, List[float]] = {}
    times = interleaved(fns, repeats=rounds, warmup=2 if quick else 5,
                        steps=steps, faults=faults)
    # The pipeline inside ours, per round like the rest.
    times['pipeline'] = np.reshape(pipeline_ms[-rounds * steps:],
                                   (rounds, steps)).mean(axis=1).tolist()
    med = {name: float(np.median(t)) for name, t in times.items()}
    out = {
        **ours_and_floor(times),
        'dense_ms': round(med['dense'], 2),
        'pipeline_ms': round(med['pipeline'], 3),
        'fused_kernel': fused_kernel,
        'modules_ms': round(med['modules'], 2),
        'modules_ratio_to_floor': round(med['modules'] / med['floor'], 3),
        'fused_speedup': round(med['modules'] / med['ours'], 3),
        'per_batch_gather_ms': round(med['ours_per_batch'], 2),
        'per_batch_gather_ratio': round(
            med['ours_per_batch'] / med['floor'], 3),
        'dense_ratio_to_floor': round(med['dense'] / med['floor'], 3),
        'speedup_over_dense': round(med['dense'] / med['ours'], 3),
        'pipeline_share': round(med['pipeline'] / med['ours'], 4),
        'extra_ms': round(med['ours'] - med['floor'], 2),
        'gnn_ms': round(med['gnn'], 2),
        'gnn_gemms_ms': round(med['gnn_gemms'], 2),
        # The ratio of a step that added only the GNN's matrix products to
        # the floor: no data loading and no other operation.
        'gemm_bound_ratio': round(
            (med['floor'] + med['gnn_gemms']) / med['floor'], 3),
        'gemm_step_ms': round(med['gemm_step'], 2),
        'gemm_step_ratio': round(med['gemm_step'] / med['floor'], 3),
        # What re-allocating large tensors costs each step: with the default
        # malloc, freed memory returned to the system faults back in. A
        # mean over the rounds: the faults come in bursts.
        'page_faults_per_step': {
            name: round(float(np.mean(faults[name])), 1)
            for name in ('ours', 'modules', 'floor', 'gemm_step')
        },
    }
    if quick:
        print(json.dumps(out))
        return

    test_set = load_dataset(dataset, root, 'test')
    model = SRGNN(num_items, fused=fused_kernel)
    passes = [evaluation_pass(test_set, model, 500, 20) for _ in range(4)]
    eval_ours, eval_floor = np.median(passes[1:], axis=0)  # after warm-up
    latency = session_latency(model, train_set, repeats=200, k=20)
    out.update({
        'eval_ours_s': round(float(eval_ours), 3),
        'eval_floor_s': round(float(eval_floor), 3),
        'eval_ratio_to_floor': round(float(eval_ours / eval_floor), 3),
        'eval_samples': len(test_set),
        'latency_p50_ms': round(float(np.percentile(latency, 50)), 3),
        'latency_p99_ms': round(float(np.percentile(latency, 99)), 3),
        'setup': {'dataset': dataset, 'batch_size': batch_size,
                  'hidden_channels': 100, 'num_items': num_items,
                  'repeats': repeats, 'steps_per_round': steps,
                  'threads': threads, 'keep_freed_memory': keep_freed,
                  'fused_kernel': fused_kernel},
        'machine': started_on,
        'raw_ms': {name: [round(x, 3) for x in t]
                   for name, t in times.items()},
    })
    name = 'speed-default-malloc.json' if default_malloc else 'speed.json'
    write_json(Path(out_path) if out_path else RESULTS_DIR / name, out)
    print(json.dumps({k: v for k, v in out.items() if k != 'raw_ms'},
                     indent=2))


if __name__ == '__main__':
    main()
