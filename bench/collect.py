"""Collects the result files under bench/results/ into the tables of
bench/README.md (between its `<!-- results -->` markers), so that every
number there comes from a file a bench script wrote.

    python -m bench.collect
"""
import json
import re
from statistics import mean, median, stdev
from typing import Dict, List, Optional

from bench.common import BENCH_DIR, RESULTS_DIR, averaged_runs
from bench.compare import comparison, comparison_table
from pyg_srgnn.config import FitConfig

# What each model's paper published, HR@20 / MRR@20 (%), by data set and
# the run's name after the data set: only for runs of the paper protocol,
# which is how those numbers were made (the best test epoch); None where
# the paper gives no number.
PUBLISHED = {
    # SR-GNN paper, Table 2 ("P@20" = HR@20).
    'paper': {'diginetica': (50.73, 17.59), 'yoochoose1_64': (70.57, 30.94)},
    # NISER+ (Gupta et al., 2019), with epochs picked on the test split;
    # on YOOCHOOSE 1/64 its MRR@20 only (the HR@20 was not verified).
    'paper-nis16-drop0.1-pos50': {'diginetica': (53.39, 18.72),
                                  'yoochoose1_64': (None, 31.61)},
    # SR-SAN (Fang, 2021): its paper's table could not be read here; the
    # YOOCHOOSE 1/64 pair is as a third party quotes it ("best result, from
    # paper", github.com/enivek/tcss556, README), marked unverified.
    'paper-srsan': {'yoochoose1_64': (71.74, 31.58)},
}
UNVERIFIED = {('paper-srsan', 'yoochoose1_64')}
OFFICIAL_HERE = {  # the official code on these machines, reference §9
    'diginetica': (51.63, 17.83),
}
# The official PyTorch code's training step and the floor, in ms, measured
# on these machines in a separate run (reference §9).
OFFICIAL_STEP_MS = (86, 39)


def load_runs() -> Dict[str, List[dict]]:
    r"""Finished runs (run.json) and runs still going or cut off by the end
    of a session (only log.jsonl: the best test values so far under the
    paper protocol, the last validation epoch under the clean one)."""
    runs: Dict[str, List[dict]] = {}
    for path in sorted((RESULTS_DIR / 'accuracy').glob('*/config.json')):
        config = FitConfig.from_dict(json.loads(path.read_text()), str(path))
        dataset, seed = config.data.dataset, config.training.seed
        finished = path.parent / 'run.json'
        if finished.is_file():
            result = json.loads(finished.read_text())['result']
            run = {'result': result, 'seed': seed,
                   'epochs': str(result['epochs_run'])}
        elif config.training.protocol == 'paper':
            records = [json.loads(line) for line in
                       (path.parent / 'log.jsonl').read_text().splitlines()]
            if not records:
                continue
            best, best_epoch = {}, {}
            for key in ('HR@20', 'MRR@20'):
                record = max(records, key=lambda r: r['test'][key])
                best[key], best_epoch[key] = record['test'][key], \
                    record['epoch']
            run = {'result': {'test': best, 'best_epoch': best_epoch},
                   'seed': seed,
                   'epochs': f'{len(records)} so far (unfinished)'}
        else:
            continue  # the clean protocol reports test only at the end
        # The protocol with its variant: the run directory's name between
        # the data set and the seed (e.g. clean-official-refit).
        variant = path.parent.name[len(dataset) + 1:].rsplit('-seed', 1)[0]
        key = f"{dataset}|{variant}"
        runs.setdefault(key, []).append(run)
    return runs


def fmt(values: List[float]) -> str:
    values = [100 * v for v in values]
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{mean(values):.2f} ± {stdev(values):.2f}'


def best_epochs(result: dict) -> str:
    r"""The epoch behind a run's numbers: under the paper protocol the
    epochs of the best HR@20 and MRR@20 (they may differ), under the clean
    one the epoch chosen on the validation split."""
    best = result.get('best_epoch')
    if isinstance(best, dict):
        return f"{best['HR@20']}/{best['MRR@20']}"
    return str(best)


def accuracy_table(runs: Dict[str, List[dict]]) -> str:
    lines = [
        '| data set | protocol | seeds | epochs run | best epochs | HR@20 | '
        'MRR@20 | published HR@20 / MRR@20 | official code here |',
        '|---|---|---|---|---|---|---|---|---|',
    ]
    for key, group in sorted(runs.items()):
        dataset, protocol = key.split('|')
        hr = [r['result']['test']['HR@20'] for r in group]
        mrr = [r['result']['test']['MRR@20'] for r in group]
        epochs = ', '.join(r['epochs'] for r in group)
        best = ', '.join(best_epochs(r['result']) for r in group)
        # The published numbers were made under the paper protocol only;
        # a refit run also reports the model it refit, tested for comparison.
        if all('test_before_refit' in r['result'] for r in group):
            before = [r['result']['test_before_refit']['HR@20']
                      for r in group]
            best += f' (refit; chosen model HR@20 {fmt(before)})'

        published = PUBLISHED.get(protocol, {}).get(dataset)
        paper = '-' if published is None else ' / '.join(
            '-' if value is None else f'{value:.2f}' for value in published)
        if (protocol, dataset) in UNVERIFIED:
            paper += ' (quoted, unverified)'
        official = ('{} / {}'.format(*OFFICIAL_HERE[dataset])
                    if dataset in OFFICIAL_HERE and protocol == 'paper' else
                    '-')
        seeds = ', '.join(str(r['seed']) for r in group)
        lines.append(f'| {dataset} | {protocol} | {seeds} | {epochs} | '
                     f'{best} | {fmt(hr)} | {fmt(mrr)} | {paper} | '
                     f'{official} |')
    return '\n'.join(lines)


# Training options that should cost no accuracy, each against the default
# run (clean protocol, full softmax, one process) of the same seeds.
VARIANTS = (
    ('sampled softmax (K 8,192 by popularity, logQ, lazy Adam)',
     'clean-official-refit-sampled'),
    ('2 processes x 1 thread (DDP, gloo), the same global batch',
     'clean-official-refit-ddp2'),
)


def variants_table(runs: Dict[str, List[dict]]) -> str:
    r"""Each run of :data:`VARIANTS` beside the default run of its seed:
    test HR@20 / MRR@20, the differences, and the default runs of every
    seed (what seeds alone change)."""
    lines = ['| data set | training | seed | HR@20 | MRR@20 | the default '
             'run of the seed | HR@20 difference | MRR@20 difference | '
             'the default runs, every seed |',
             '|---|---|---|---|---|---|---|---|---|']
    for key, group in sorted(runs.items()):
        dataset, protocol = key.split('|')
        label = dict((name, text) for text, name in VARIANTS).get(protocol)
        default = {r['seed']: r['result']['test'] for r in runs.get(
            f'{dataset}|clean-official-refit', [])}
        if not (label and default):
            continue
        seeds = ' / '.join(
            f"{fmt([t[k] for t in default.values()])} "
            f"({fmt([min(t[k] for t in default.values())])}-"
            f"{fmt([max(t[k] for t in default.values())])})"
            for k in ('HR@20', 'MRR@20')) + f' ({len(default)} seeds)'
        for run in group:
            test, seed = run['result']['test'], run['seed']
            if seed not in default:
                continue
            diff = [100 * (test[k] - default[seed][k])
                    for k in ('HR@20', 'MRR@20')]
            lines.append(
                f"| {dataset} | {label} | {seed} | {fmt([test['HR@20']])} | "
                f"{fmt([test['MRR@20']])} | "
                f"{fmt([default[seed]['HR@20']])} / "
                f"{fmt([default[seed]['MRR@20']])} | {diff[0]:+.2f} | "
                f"{diff[1]:+.2f} | {seeds} |")
    return '\n'.join(lines) if len(lines) > 2 else ''


def speed_table(speed: dict) -> str:
    fused = speed.get('setup', {}).get('fused_kernel')
    rows = [
        ('training step, ours (data + graphs included' +
         ('; fused kernel, as fit)' if fused else ')'),
         f"{speed['ours_ms']:.1f} ms", f"{speed['ratio_to_floor']:.2f}x"),
    ]
    if 'modules_ms' in speed:  # files from before the fused kernel lack it
        rows.append(('training step, ours with the PyTorch modules',
                     f"{speed['modules_ms']:.1f} ms",
                     f"{speed['modules_ratio_to_floor']:.2f}x"))
    if 'per_batch_gather_ms' in speed:  # files before gathered batches
        rows.append(('training step, ours gathering each batch on its own',
                     f"{speed['per_batch_gather_ms']:.1f} ms",
                     f"{speed['per_batch_gather_ratio']:.2f}x"))
    if 'gemm_step_ms' in speed:  # files from before this row lack it
        rows.append(('training step, floor + drawing the batch + the GNN\'s '
                     'matrix products (only the unavoidable)',
                     f"{speed['gemm_step_ms']:.1f} ms",
                     f"{speed['gemm_step_ratio']:.2f}x"))
    rows += [
        ('training step, floor (matmul + CE + fused Adam, one row per item)',
         f"{speed['floor_ms']:.1f} ms", '1.00x'),
        ('training step, dense official-style pipeline',
         f"{speed['dense_ms']:.1f} ms",
         f"{speed['dense_ratio_to_floor']:.2f}x"),
        ('training step, official PyTorch code (reference §9, separate run)',
         f'about {OFFICIAL_STEP_MS[0]} ms',
         f'{OFFICIAL_STEP_MS[0] / OFFICIAL_STEP_MS[1]:.1f}x (floor there: '
         f'{OFFICIAL_STEP_MS[1]} ms)'),
        ('drawing the batch from the loader, inside our step (share)',
         f"{speed['pipeline_ms']:.2f} ms",
         f"{100 * speed['pipeline_share']:.1f} %"),
    ]
    if 'gnn_ms' in speed:  # files from before this decomposition lack it
        rows += [
            ('session embedding alone (lookup, GNN, readout; forward + '
             'backward)', f"{speed['gnn_ms']:.2f} ms", '-'),
            ('its matrix products alone, same shapes',
             f"{speed['gnn_gemms_ms']:.2f} ms", '-'),
        ]
    rows += [
        (f"evaluation, {speed['eval_samples']:,} test samples, top 20",
         f"{speed['eval_ours_s']:.2f} s",
         f"{speed['eval_ratio_to_floor']:.2f}x"),
        ('evaluation floor (matmul + top-k)',
         f"{speed['eval_floor_s']:.2f} s", '1.00x'),
        ('one-session recommendation, p50 / p99',
         f"{speed['latency_p50_ms']:.2f} / {speed['latency_p99_ms']:.2f} ms",
         '-'),
    ]
    lines = ['| measurement | time | vs floor |', '|---|---|---|']
    lines += [f'| {a} | {b} | {c} |' for a, b, c in rows]
    lines.append(f"\nOur step over the floor: "
                 f"{speed['ratio_to_floor']:.3f}x" + (
                     f"; with the PyTorch modules "
                     f"{speed['modules_ratio_to_floor']:.3f}x in the same "
                     f"run, so the fused kernel makes the step "
                     f"{speed['fused_speedup']:.3f}x faster"
                     if 'modules_ms' in speed else '') + '.')
    paired = speed.get('paired_ratio_p25_p50_p75')
    if paired:
        lines.append(f"\nOur step over the floor measured in the same round: "
                     f"quartiles {paired[0]:.2f}x / {paired[1]:.2f}x / "
                     f"{paired[2]:.2f}x over the {speed['setup']['repeats']} "
                     f"rounds" + (
                         f" of {speed['setup']['steps_per_round']} steps"
                         if 'steps_per_round' in speed['setup'] else '') +
                     ".")
    if 'gnn_ms' in speed:
        lines.append(f"\nOurs minus the floor: {speed['extra_ms']:.2f} ms. "
                     f"A step that added only the GNN's matrix products to "
                     f"the floor would take {speed['gemm_bound_ratio']:.2f}x "
                     f"the floor.")
    cap = speed['machine'].get('cpu_capability')
    lines.append(f"\nOur step is {speed['speedup_over_dense']:.2f}x faster "
                 f"than the dense pipeline. Machine: "
                 f"{speed['machine']['cpu']}"
                 f"{' (' + cap + ')' if cap else ''}, "
                 f"{speed['setup']['threads']} threads, torch "
                 f"{speed['machine']['torch']}.")
    return '\n'.join(lines)


def speed_runs_table() -> str:
    r"""One line per full run of bench.speed: the committed files and those
    under :obj:`bench/results/speed-runs/`, freed memory kept or not."""
    paths = [RESULTS_DIR / 'speed.json',
             RESULTS_DIR / 'speed-default-malloc.json']
    paths += sorted((RESULTS_DIR / 'speed-runs').glob('*.json'))
    lines = ['| file | commit | freed memory kept | session embedding | '
             'ours | floor | ratio | paired quartiles | modules, same run | '
             'floor + GEMMs in step | page faults per step, ours / floor |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for path in paths:
        if not path.is_file():
            continue
        run = json.loads(path.read_text())
        paired = ' / '.join(f'{q:.2f}x'
                            for q in run['paired_ratio_p25_p50_p75'])
        bound = (f"{run['gemm_step_ratio']:.2f}x"
                 if 'gemm_step_ratio' in run else '-')
        faults = run.get('page_faults_per_step')
        faults = (f"{faults['ours']:,.0f} / {faults['floor']:,.0f}"
                  if faults else '-')
        kept = 'yes' if run['setup'].get('keep_freed_memory') else 'no'
        embedding = ('fused kernel' if run['setup'].get('fused_kernel')
                     else 'modules')
        modules = (f"{run['modules_ratio_to_floor']:.3f}x"
                   if 'modules_ratio_to_floor' in run else '-')
        lines.append(f"| {path.relative_to(RESULTS_DIR)} | "
                     f"{run['machine']['commit']} | {kept} | {embedding} | "
                     f"{run['ours_ms']:.1f} ms | {run['floor_ms']:.1f} ms | "
                     f"{run['ratio_to_floor']:.3f}x | {paired} | {modules} | "
                     f"{bound} | {faults} |")
    return '\n'.join(lines)


def allocator_table(allocator: dict) -> str:
    setup = allocator['setup']
    lines = ['| malloc | ms per step | page faults per step | peak RSS |',
             '|---|---|---|---|']
    for name, label in (('default', "glibc's default"),
                        ('keep_freed', 'freed memory kept (fit)')):
        median = allocator['median'][name]
        lines.append(f"| {label} | {median['ms_per_step']:.2f} | "
                     f"{median['page_faults_per_step']:,.0f} | "
                     f"{median['peak_rss_mb']:,.0f} MB |")
    lines.append(f"\nMedians of {setup['rounds']} fresh processes per case, "
                 f"each timing {setup['steps']} training steps after "
                 f"{setup['warmup']}; keeping freed memory makes a step "
                 f"{allocator['speedup']:.2f}x faster.")
    return '\n'.join(lines)


def memory_table(memory: dict) -> str:
    lines = ['| case | samples | seconds | peak RSS |', '|---|---|---|---|']
    for name in ('load', 'train', 'synthetic'):
        case = memory[name]
        lines.append(f"| {name} | {case['samples']:,} | {case['seconds']} | "
                     f"{case['peak_rss_mb']:,.0f} MB |")
    return '\n'.join(lines)


def full_run_memory() -> str:
    r"""The peak resident memory of whole accuracy runs, from the run.json
    of runs that recorded it and were not resumed (a resumed run's peak
    covers its last part only)."""
    lines = []
    for path in sorted((RESULTS_DIR / 'accuracy').glob('*/run.json')):
        run = json.loads(path.read_text())
        if 'peak_rss_mb' in run and not run['resumed']:
            lines.append(f"| {path.parent.name} | "
                         f"{run['result']['epochs_run']} | "
                         f"{run['wall_seconds_last_invocation']:,.0f} | "
                         f"{run['peak_rss_mb']:,.0f} MB |")
    if not lines:
        return ''
    return ('| run | epochs | seconds | peak RSS |\n|---|---|---|---|\n' +
            '\n'.join(lines))


def sample_defaults_table(result: dict) -> str:
    def setting(s: dict) -> str:
        return (f"{s['batch_size']} | {s['lr']:g} | {s['lr_step']} | "
                f"{s['weight_decay']:g} | {s['hidden_channels']}")

    def spread(m: dict) -> str:
        return (f"{m['mean']:.2f} ± {m['sd']:.2f} "
                f"({m['min']:.2f}-{m['max']:.2f})")

    lines = ['| settings | batch | lr | StepLR step | L2 | d | valid HR@20 '
             '| valid MRR@20 |', '|---|---|---|---|---|---|---|---|']
    for rank, row in enumerate(result['search'][:5], 1):
        lines.append(f"| search #{rank} | {setting(row['settings'])} | "
                     f"{spread(row['valid']['HR@20'])} | "
                     f"{row['valid']['MRR@20']['mean']:.2f} |")
    lines.append(f"\nSearch: {len(result['search'])} settings × seeds "
                 f"{result['search_seeds'][0]}-{result['search_seeds'][-1]}, "
                 f"ranked by {result['rule']}.\n")
    seeds = result['final_seeds']
    lines += [f'| seeds {seeds[0]}-{seeds[-1]} | test HR@20 | test MRR@20 '
              f'| valid HR@20 |', '|---|---|---|---|']
    for name, label in (('chosen', 'chosen (fit on the sample)'),
                        ('paper', "paper's settings")):
        final = result['final'][name]
        lines.append(f"| {label} | {spread(final['test']['HR@20'])} | "
                     f"{spread(final['test']['MRR@20'])} | "
                     f"{final['valid']['HR@20']['mean']:.2f} |")
    pop = result['pop']
    lines.append(f"| POP | {pop['test']['HR@20']:.2f} | "
                 f"{pop['test']['MRR@20']:.2f} | {pop['valid']['HR@20']:.2f} "
                 f"|")
    return '\n'.join(lines)


def model_speed_table(result: dict) -> str:
    r"""`bench.speed --model M`: another model's step against its floor."""
    p25, p50, p75 = result['paired_ratio_p25_p50_p75']
    return '\n'.join([
        '| measurement | time | vs floor |', '|---|---|---|',
        f"| training step, {result['model']} (d "
        f"{result['hidden_channels']}, batch "
        f"{result['setup']['batch_size']}) | {result['ours_ms']} ms | "
        f"{result['ratio_to_floor']}x |",
        f"| floor (matmul + CE + fused Adam, same shapes) | "
        f"{result['floor_ms']} ms | 1.00x |", '',
        f"Paired per round: quartiles {p25}x / {p50}x / {p75}x over "
        f"{result['setup']['repeats']} rounds of "
        f"{result['setup']['steps_per_round']} steps."])


def ddp_table(result: dict) -> str:
    r"""`bench.ddp`: 2 processes x 1 thread against 1 process x 2."""
    lines = ['| Diginetica, global batch 100 | loss | step | samples/s | '
             'all-reduce share |', '|---|---|---|---|---|']
    for loss in ('full', 'sampled'):
        one = result[loss]['one_process_two_threads']
        two = result[loss]['two_processes_one_thread']
        lines += [
            f"| 1 process x 2 threads | {loss} | {one['step_ms']} ms | "
            f"{one['samples_per_s']:,} | - |",
            f"| 2 processes x 1 thread (DDP, gloo) | {loss} | "
            f"{two['step_ms']} ms | {two['samples_per_s']:,} | "
            f"{100 * two['allreduce_share']:.1f} % |",
            f"| the same, all-reduce skipped (`no_sync`) | {loss} | "
            f"{two['no_sync_step_ms']} ms | - | - |"]
    lines += ['', 'Throughput of 2 x 1 over 1 x 2: full softmax '
              f"{result['full']['two_over_one_throughput']}x, sampled "
              f"{result['sampled']['two_over_one_throughput']}x."]
    # When it pays, from the same numbers: what a step's all-reduce costs
    # against the compute a second rank with cores of its own would take
    # over (half of the one-process step).
    full = result['full']
    batch = result['setup']['global_batch_size']
    one_ms = full['one_process_two_threads']['step_ms']
    two = full['two_processes_one_thread']
    reduce_ms = two['step_ms'] - two['no_sync_step_ms']
    lines += ['', f"When DDP pays: on one machine the two processes share "
              f"its cores, so a rank's step without the all-reduce "
              f"({two['no_sync_step_ms']} ms) costs what the one-process "
              f"step does ({one_ms} ms) and the all-reduce "
              f"({reduce_ms:.1f} ms for the item table's dense gradient, "
              f"full softmax) only adds. With ranks on machines or GPUs of "
              f"their own, a second rank takes over half a step's compute "
              f"({one_ms / 2:.1f} ms here) for one all-reduce: it pays once "
              f"that half outgrows the all-reduce. Estimated from these "
              f"numbers, with compute growing in proportion to the batch "
              f"and the gradient not growing at all: global batches above "
              f"about {batch * 2 * reduce_ms / one_ms:.0f} at this "
              f"all-reduce speed, or a faster interconnect (NCCL)."]
    return '\n'.join(lines)


def baselines_table(result: dict) -> str:
    r"""`bench.baselines`: session-rec's baselines, times and accuracy."""
    lines = ['| model | fit | scoring all test samples | batch of 500, p50 '
             '/ slowest | HR@20 | MRR@20 | NDCG@20 |',
             '|---|---|---|---|---|---|---|']
    for run in result['results'].values():
        lines.append(f"| `{run['model']}` | {run['fit_s']} s | "
                     f"{run['score_s']} s | {run['batch_ms_p50']} / "
                     f"{run['batch_ms_max']} ms | {run['HR@20']:.2f} | "
                     f"{run['MRR@20']:.2f} | {run['NDCG@20']:.2f} |")
    lines += ['', f"Peak RSS {result['peak_rss_mb']:,.0f} MB; "
              f"{result['setup'].get('threads', '-')} thread(s)."]
    return '\n'.join(lines)


def big_log_table(result: dict) -> str:
    r"""`pyg-srgnn preprocess` of the tiled YOOCHOOSE log, both readers."""
    lines = [f"{result['rows']:,} clicks ({result['log_mb']:,} MB), "
             f"`--format yoochoose --fraction 4`, a fresh process each; "
             f"the same splits: {'yes' if result['same_splits'] else 'NO'}.",
             '', '| reader | wall | CPU | peak RSS |', '|---|---|---|---|']
    for name, key in (('pyarrow, streaming (default)', 'arrow'),
                      ('row reader (no pyarrow)', 'row_reader')):
        run = result[key]
        lines.append(f"| {name} | {run['wall_s']} s | {run['cpu_s']} s | "
                     f"{run['peak_rss_mb']:,.0f} MB |")
    return '\n'.join(lines)


def serve_table(result: dict) -> str:
    r"""`bench.serve`: throughput and latency, batching on and off."""
    lines = ['| batching | workers | concurrency | requests | rps | p50 | '
             'p99 | errors | server RSS before / after |',
             '|---|---|---|---|---|---|---|---|---|']
    for setting in result['results']:
        for run in setting['runs']:
            lines.append(
                f"| {'on' if setting['batching'] else 'off'} | "
                f"{setting.get('workers', 1)} | {run['concurrency']} | "
                f"{run['requests']:,} | {run['rps']:,.0f} | "
                f"{run['p50_ms']} ms | {run['p99_ms']} ms | {run['errors']} "
                f"| {setting['rss_before_mb']:,.0f} / "
                f"{setting['rss_after_mb']:,.0f} MB |")
    for setting in result['results']:
        soak = setting.get('soak')
        if soak:
            rss = [s['rss_mb'] for s in soak]
            half = soak[len(soak) // 2 - 1]  # whether it still grows
            lines += ['', f"Soak at concurrency 64 with batching, "
                      f"{soak[-1]['t_s']} s in {len(soak)} windows of 10 s: "
                      f"{sum(s['errors'] for s in soak)} errors, rps "
                      f"{min(s['rps'] for s in soak):,.0f}-"
                      f"{max(s['rps'] for s in soak):,.0f}, p99 "
                      f"{min(s['p99_ms'] for s in soak)}-"
                      f"{max(s['p99_ms'] for s in soak)} ms, server RSS "
                      f"{min(rss):,.1f}-{max(rss):,.1f} MB (first "
                      f"{rss[0]:,.1f}, at {half['t_s']} s "
                      f"{half['rss_mb']:,.1f}, last {rss[-1]:,.1f})."]
    return '\n'.join(lines)


def scale_table(result: dict) -> str:
    r"""`bench.scale`: a million items, full vs sampled softmax."""
    setup = result['setup']
    full = result['full_ms']
    return '\n'.join([
        f"{setup['items']:,} items, K = {setup['num_negatives']:,} "
        f"negatives by popularity, batch {setup['batch_size']}, d "
        f"{setup['hidden_channels']}, {setup['threads']} threads, medians of "
        f"{setup['rounds']} interleaved rounds; peak RSS "
        f"{result['peak_rss_mb']:,.0f} MB.", '',
        '| measurement | value |', '|---|---|',
        f"| training step, sampled softmax + lazy Adam | "
        f"{result['sampled_ms']} ms |",
        f"| training step, full softmax at Diginetica's shape | "
        f"{result['digi_full_ms']} ms |",
        f"| training step, full softmax at {setup['items']:,} items | "
        + (f"{full} ms |" if full is not None else 'not run |'),
        f"| sampled / Diginetica full | {result['sampled_over_digi_full']}x "
        f"|",
        f"| full / sampled at {setup['items']:,} items | "
        + (f"{result['full_over_sampled']}x |" if full is not None else
           '- |'),
        f"| full ranking, {result['eval_samples']:,} samples in item chunks "
        f"| {result['eval_s']} s ({result['eval_ms_per_sample']} ms a "
        f"sample) |",
        f"| one session's top 20, p50 / p99 | {result['latency_p50_ms']} / "
        f"{result['latency_p99_ms']} ms |"])


def hybrid_table(result: dict) -> str:
    r"""`bench.compare hybrid`: SR-GNN with V-SKNN on its short sessions."""
    keys = ('HR@20', 'MRR@20', 'HR@20 short', 'MRR@20 short', 'HR@20 long',
            'MRR@20 long')
    rows = [('V-SKNN alone', [result['knn_alone']]),
            ('SR-GNN alone', [r['srgnn_alone'] for r in result['runs']]),
            (f"SR-GNN, sessions of <= {result['max_short']} clicks by "
             f"V-SKNN", [r['hybrid'] for r in result['runs']])]
    lines = ['| model | runs | ' + ' | '.join(keys) + ' |',
             '|---|---|' + '---|' * len(keys)]
    for label, metrics in rows:
        cells = ' | '.join(fmt([m[key] for m in metrics])
                           for key in keys)
        lines.append(f'| {label} | {len(metrics)} | {cells} |')
    lines.append(f"\nV-SKNN: `{result['knn_run']}`, the validation search's "
                 f"winner when this ran.")
    return '\n'.join(lines)


def search_table(result: dict) -> str:
    r"""`bench.search summary`: the candidates by validation HR@20."""
    lines = ['| rank | candidate | options | seeds | epochs run | '
             'best epochs | valid HR@20 | valid MRR@20 |',
             '|---|---|---|---|---|---|---|---|']
    for rank, row in enumerate(result['ranking'], 1):
        options = ', '.join(f'`{key}` {value}'
                            for key, value in row['options'].items()) or (
            "the paper's")
        runs = row['runs']
        counted = averaged_runs(runs)
        epochs = ', '.join(str(r['epochs']) + ('' if r['finished'] else '+')
                           for r in runs)
        lines.append(
            f"| {rank} | {row['candidate']} | {options} | "
            f"{', '.join(str(r['seed']) for r in runs)} | {epochs} | "
            f"{', '.join(str(r['best_epoch']) for r in runs)} | "
            f"{fmt([r['HR@20'] / 100 for r in counted])} | "
            f"{fmt([r['MRR@20'] / 100 for r in counted])} |")
    unrun = sorted(set(result['candidates']) - {r['candidate']
                                                for r in result['ranking']})
    lines.append(f"\nBudget {result['budget']['epochs']} epochs; "
                 f"{result['rule']}; {result['protocol']}. Winner: "
                 f"**{result['winner']}**." + (
                     ' Above it on fewer seeds, to run on more: '
                     f"{', '.join(result['contenders'])}."
                     if result.get('contenders') else '') + (
                     f" Not run yet: {', '.join(unrun)}." if unrun
                     else '') +
                 " `+`: a run still going (its epochs so far), left out of "
                 "the mean while its candidate has a finished one.")
    return '\n'.join(lines)


def edge_gain(key: str, values: list, searched: dict) -> Optional[float]:
    r"""Where the winner's :obj:`key`, a number, is the grid's least or
    greatest: how much more validation HR@20 it gave than the nearest value
    run that differs in :obj:`key` alone (None inside the grid, where no
    such setting ran, or where that setting scored the same)."""
    winner, best = searched['winner'], searched['runs'][0]
    if isinstance(values[0], str) or winner[key] not in (min(values),
                                                          max(values)):
        return None
    others = [r for r in searched['runs'] if r['options'][key] != winner[key]
              and all(r['options'][k] == winner[k]
                      for k in winner if k != key)]
    if not others:
        return None
    nearest = min(others,
                  key=lambda r: abs(r['options'][key] - winner[key]))
    if (nearest['valid_HR@20'], nearest['valid_MRR@20']) == (
            best['valid_HR@20'], best['valid_MRR@20']):
        return None  # the option changes nothing here
    return best['valid_HR@20'] - nearest['valid_HR@20']


def baseline_search_table(result: dict) -> str:
    r"""`bench.baseline_search`: each baseline's grid and winner."""
    lines = ['| model | grid | settings run | winner | on the grid\'s edge '
             '(valid HR@20 over the next value) | '
             'valid HR@20 | valid MRR@20 | seconds a setting (median) |',
             '|---|---|---|---|---|---|---|---|']
    for model, searched in result['models'].items():
        grid, winner = searched['grid'], searched['winner']
        best = searched['runs'][0]
        gains = {key: edge_gain(key, grid[key], searched) for key in grid}
        edge = [f'`{key}` (+{gain:.2f})' for key, gain in gains.items()
                if gain is not None]
        seconds = median(r['seconds'] for r in searched['runs'])
        lines.append(
            f"| {model} | " + ', '.join(
                f"`{key}` {' / '.join(str(v) for v in values)}"
                for key, values in grid.items()) +
            f" | {len(searched['runs'])} | " + ', '.join(
                f'`{key}` {value}' for key, value in winner.items()) +
            f" | {', '.join(edge) or '-'} | "
            f"{best['valid_HR@20']:.2f} | {best['valid_MRR@20']:.2f} | "
            f"{seconds:.1f} |")
    lines.append(f"\n{result['rule']}; {result['protocol']}. Settings with "
                 f"more neighbours than candidate sessions are not run. "
                 f"{result['train_samples']:,} training and "
                 f"{result['valid_samples']:,} validation samples; peak RSS "
                 f"{result['peak_rss_mb']:,.0f} MB.")
    return '\n'.join(lines)


def main():
    sections = []
    runs = load_runs()
    if runs:
        sections.append('### Accuracy (test split, %)\n\n' +
                        accuracy_table(runs))
        variants = variants_table(runs)
        if variants:
            sections.append('### Sampled softmax and DDP against the '
                            'default training (test split, %)\n\n' +
                            variants)
    for title, name, render in (
            ('Speed, freed memory kept as fit does', 'speed', speed_table),
            ('Speed, default malloc', 'speed-default-malloc', speed_table),
            ('Memory', 'memory', memory_table),
            ('Allocator', 'allocator', allocator_table),
            ('Training settings of the shipped sample', 'sample-defaults',
             sample_defaults_table),
            ('Baselines on Diginetica, session-rec\'s defaults',
             'baselines-diginetica', baselines_table),
            ('Baselines on YOOCHOOSE 1/64, session-rec\'s defaults',
             'baselines-yoochoose1_64', baselines_table),
            ('SR-SAN speed', 'speed-srsan', model_speed_table),
            ('Data-parallel training', 'ddp', ddp_table),
            ('Preprocessing a 33M-click log', 'big-log', big_log_table),
            ('A million items', 'scale', scale_table),
            ('Serving', 'serve', serve_table)):
        path = RESULTS_DIR / f'{name}.json'
        if path.is_file():
            sections.append(f'### {title} (`bench/results/{name}.json`)\n\n' +
                            render(json.loads(path.read_text())))
        if name == 'speed-default-malloc' and path.is_file():
            sections.append('### Every full speed run\n\n' +
                            speed_runs_table())
    for path in sorted(RESULTS_DIR.glob('search-*.json')):
        sections.append(f'### The search beyond the paper, validation split '
                        f'only (`bench/results/{path.name}`, `python -m '
                        f'bench.search summary`)\n\n' +
                        search_table(json.loads(path.read_text())))
    for path in sorted(RESULTS_DIR.glob('baseline-search-*.json')):
        sections.append(f'### The baselines\' options, validation split only '
                        f'(`bench/results/{path.name}`, `python -m '
                        f'bench.baseline_search`)\n\n' +
                        baseline_search_table(json.loads(path.read_text())))
    compared = comparison()
    if compared:
        sections.append('### Every model side by side (`bench/results/'
                        'comparison.json`, `python -m bench.compare '
                        'table`)\n\n' + comparison_table(compared))
    for path in sorted(RESULTS_DIR.glob('hybrid-*.json')):
        sections.append(f'### Short sessions by V-SKNN, the rest by SR-GNN '
                        f'(`bench/results/{path.name}`, `python -m '
                        f'bench.compare hybrid`)\n\n' +
                        hybrid_table(json.loads(path.read_text())))
    full_runs = full_run_memory()
    if full_runs:
        sections.append('### Memory of whole accuracy runs (`run.json`, '
                        'evaluation included)\n\n' + full_runs)
    readme = BENCH_DIR / 'README.md'
    text = readme.read_text()
    body = '\n\n'.join(sections) if sections else '(no results yet)'
    text = re.sub(r'<!-- results -->.*<!-- /results -->',
                  lambda _: f'<!-- results -->\n{body}\n<!-- /results -->',
                  text, flags=re.S)
    readme.write_text(text)
    print(body)


if __name__ == '__main__':
    main()
