import json
import math
import os
import os.path as osp
import shutil
import time
import warnings
from dataclasses import asdict, fields
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pyg_srgnn import distributed
from pyg_srgnn.allocator import keep_freed_memory
from pyg_srgnn.checkpoint import (
    load_checkpoint,
    model_from_config,
    save_checkpoint,
)
from pyg_srgnn.config import (
    DATASET_SETTINGS,
    FitConfig,
    RuntimeConfig,
    TrainingConfig,
    dataset_settings,
)
from pyg_srgnn.data.loader import SessionLoader
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.loss import (
    FullSoftmaxLoss,
    SampledSoftmaxLoss,
    full_softmax_loss,
)
from pyg_srgnn.metrics import (
    ListMetrics,
    RankingMetrics,
    split_by_length,
    target_rank,
)
from pyg_srgnn.nn import SRGNN, SessionModel, fused
from pyg_srgnn.optim import LazyAdam
from pyg_srgnn.popularity import (
    evaluate_popularity,
    item_popularity,
    session_popularity,
)
from pyg_srgnn.protocol import get_protocol
from pyg_srgnn.run_log import RunLog
from pyg_srgnn.sampling import make_sampler
from pyg_srgnn.text_files import read_json_object

# A training loss that takes the model and a batch (the full softmax when
# none is given).
LossFn = Callable[[SessionModel, Any], Tensor]


def train_step(model: SessionModel, optimizer: torch.optim.Optimizer,
               batch, loss_fn: Optional[LossFn] = None) -> Tensor:
    r"""One optimizer step on :obj:`batch`; returns its loss: the full
    softmax over all items, or :obj:`loss_fn(model, batch)` (e.g.
    :class:`~pyg_srgnn.loss.SampledSoftmaxLoss`)."""
    optimizer.zero_grad()
    if loss_fn is None:
        loss = full_softmax_loss(model.forward_batch(batch), batch.y)
    else:
        loss = loss_fn(model, batch)
    loss.backward()
    optimizer.step()
    return loss


def train_epoch(model: SessionModel, loader: SessionLoader,
                optimizer: torch.optim.Optimizer,
                progress: Optional[tqdm] = None,
                loss_fn: Optional[LossFn] = None,
                batch_lr: Optional[Callable[[int], float]] = None) -> float:
    r"""One pass over :obj:`loader`; returns the mean training loss. With
    :obj:`batch_lr`, the learning rate of the :obj:`i`-th batch (from 0) is
    set to :obj:`batch_lr(i)` before its step."""
    model.train()
    device = model.device
    total_loss = num_samples = 0
    for i, batch in enumerate(loader):
        if batch_lr is not None:
            lr = batch_lr(i)
            for group in optimizer.param_groups:
                group['lr'] = lr
        batch = batch.to(device)
        loss = train_step(model, optimizer, batch, loss_fn)
        total_loss += float(loss.detach()) * batch.num_graphs
        num_samples += batch.num_graphs
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f'{total_loss / num_samples:.4f}')
    return total_loss / num_samples


# Catalogues larger than this are ranked in chunks of this many items.
ITEM_CHUNK = 65536


@torch.no_grad()
def chunked_rank(model: SessionModel, batch, k: int,
                 chunk: int = ITEM_CHUNK) -> Tuple[Tensor, Tensor]:
    r"""The rank of every target among all items and the top-:obj:`k`
    item columns, computed :obj:`chunk` items at a time with a running
    top-:obj:`k`, so that memory stays :obj:`[B, chunk]` at any catalogue
    size (neural models: session embeddings against rows of the table).

    A target's rank counts the other items scored strictly higher than it,
    as :func:`~pyg_srgnn.metrics.target_rank` does."""
    session = model.session_embedding_batch(batch)
    target = batch.y
    rows = torch.arange(target.numel(), device=target.device)
    target_score = model.item_logits(session, target)[rows, rows]
    rank = torch.ones_like(target)
    top_values = top_index = None
    for start in range(0, model.num_items, chunk):
        items = torch.arange(start + 1, min(start + chunk, model.num_items)
                             + 1, device=target.device)
        scores = model.item_logits(session, items)  # [B, C]
        ahead = (scores > target_score.view(-1, 1)) & (
            items.view(1, -1) != target.view(-1, 1))
        rank += ahead.sum(dim=1)
        values, index = scores.topk(min(k, items.numel()), dim=1)
        index = index + start
        if top_values is not None:
            values = torch.cat([top_values, values], dim=1)
            index = torch.cat([top_index, index], dim=1)
            values, order = values.topk(k, dim=1)
            index = index.gather(1, order)
        top_values, top_index = values, index
    # A NaN target score must never count as a hit.
    rank = rank.masked_fill(torch.isnan(target_score), model.num_items + 1)
    return rank, top_index


@torch.no_grad()
def evaluate(model: SessionModel, loader: SessionLoader, ks=(20, ),
             popularity: Optional[Tensor] = None,
             item_chunk: int = ITEM_CHUNK,
             gather: bool = False) -> Dict[str, float]:
    r"""Ranks every target among all items; returns HR/MRR/NDCG at each K.

    With :obj:`popularity` (the training count of every item,
    :obj:`[num_items + 1]`), also the lists' Coverage@K and Popularity@K
    (:class:`~pyg_srgnn.metrics.ListMetrics`) and HR/MRR/NDCG@K of the
    samples with short (at most 3 clicks) and longer prefixes, as
    :obj:`'HR@20 short'` and :obj:`'HR@20 long'`.

    A neural model over more than :obj:`item_chunk` items is ranked in
    chunks of that many items (:func:`chunked_rank`): the full ranking in
    bounded memory.

    With :obj:`gather`, :obj:`loader` holds this rank's shard
    (:func:`pyg_srgnn.distributed.shard`) of the samples: the ranks'
    results are gathered in sample order and every rank returns the metrics
    a single process computes, to the last bit.
    """
    model.eval()
    device = model.device
    lists = popularity is not None
    chunked = model.neural and model.num_items > item_chunk
    ranks, tops, lengths = [], [], []
    for batch in loader:
        batch = batch.to(device)
        if chunked:
            rank, top = chunked_rank(model, batch, max(ks), item_chunk)
        else:
            scores = model.forward_batch(batch)
            rank = target_rank(scores, batch.y - 1)
            top = scores.topk(max(ks), dim=1).indices if lists else None
        ranks.append(rank.cpu())
        if lists:
            tops.append(top.cpu())
            lengths.append(torch.bincount(batch.batch[batch.alias_index],
                                          minlength=batch.num_graphs).cpu())
    rank = torch.cat(ranks)
    if gather:
        rank = distributed.gather_shards(rank)
    metrics = RankingMetrics(ks)
    list_metrics = by_length = None
    if lists:
        top, length = torch.cat(tops), torch.cat(lengths)
        if gather:
            top = distributed.gather_shards(top)
            length = distributed.gather_shards(length)
        list_metrics = ListMetrics(ks, popularity)
        by_length = {name: RankingMetrics(ks) for name in ('short', 'long')}
    # Batch by batch as one process adds them up: the same sums.
    size = loader.batch_size or len(rank)
    for start in range(0, len(rank), size):
        part = slice(start, start + size)
        metrics.update(rank[part])
        if lists:
            list_metrics.update_lists(top[part])
            split_by_length(by_length, rank[part], length[part])
    out = metrics.compute()
    if lists:
        out.update(list_metrics.compute())
        for name, group in by_length.items():
            if group.count:
                out.update({f'{key} {name}': value
                            for key, value in group.compute().items()})
    return out


def _quiet(message: str) -> None:
    r"""The log of ranks other than 0: they report nothing."""


def default_run_dir(config: FitConfig) -> str:
    stamp = time.strftime('%Y%m%d-%H%M%S')
    return osp.join('runs', f'{config.data.dataset}-'
                    f'{config.training.protocol}-seed{config.training.seed}-'
                    f'{stamp}')


def make_run_dir(run_dir: str) -> None:
    try:
        os.makedirs(run_dir, exist_ok=True)
    except OSError as e:
        raise ValueError(f"Cannot create the run directory '{run_dir}' "
                         f"({e.strerror})") from None
    if not os.access(run_dir, os.W_OK):
        raise ValueError(f"Cannot write to the run directory '{run_dir}'")


def write_json(path: str, obj: Any) -> None:
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


def make_checkpoint(model, optimizer, scheduler, config: FitConfig,
                    epoch: int, metrics: Dict[str, float],
                    train_set) -> Dict[str, Any]:
    r"""The checkpoint dict of :obj:`model`; a baseline has no
    :obj:`optimizer` or :obj:`scheduler` (:obj:`None`)."""
    trained = {} if optimizer is None else {
        'optimizer': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
    }
    return {
        'model': model.state_dict(),
        **trained,
        'config': config.to_dict(),
        'epoch': epoch,
        'metrics': metrics,
        'item_labels': list(train_set.item_labels),
        # POP's counts over all training sessions: the popularity fallback
        # of `Recommender`.
        'item_popularity': session_popularity(train_set),
    }


def prepare_fused_kernel(model: SRGNN,
                         log: Callable[[str], None] = print) -> None:
    r"""Builds or loads the fused kernel (:mod:`pyg_srgnn.nn.fused`) for
    :obj:`model`, turns :obj:`model.fused` off if it cannot be built, and
    logs which path the training steps take."""
    if not model.fused:
        log('Session embedding: the PyTorch modules (the fused kernel is '
            'off).')
        return
    if not fused.covers(model):
        model.fused = False
        log('Session embedding: the PyTorch modules (the fused kernel '
            'covers one propagation step with the hybrid readout and no '
            'position embeddings).')
        return
    if not fused.is_built():
        log('Session embedding: compiling the fused kernel, once per '
            'machine (about 25 s) ...')
    start = time.perf_counter()
    if fused.load_kernel() is None:
        model.fused = False
        log(f'Session embedding: the PyTorch modules (same results, slower); '
            f'the fused kernel could not be built: {fused.kernel_error()}')
        return
    log(f'Session embedding: the fused kernel (ready in '
        f'{time.perf_counter() - start:.1f} s).')


def settings_lines(config: FitConfig) -> List[str]:
    r"""The training settings of a run, and where the data set has its own
    defaults (:data:`pyg_srgnn.config.DATASET_SETTINGS`), which."""
    if not config.model.neural:  # no training settings apply
        return [f"settings: {config.model.describe()}; statistics of the "
                f"training samples, no epochs"]
    training = config.training
    step = f'StepLR {training.lr_step} / {training.lr_gamma:g}'
    schedule = (', StepLR stepped before each epoch (official)'
                if training.lr_schedule == 'official' else '')
    if training.lr_schedule == 'cosine':
        warmup = (f' after {training.lr_warmup:g} epoch(s) of linear '
                  f'warm-up' if training.lr_warmup else '')
        step = f'cosine decay to 0 over {training.epochs} epochs{warmup}'
        schedule = ''
    if training.loss == 'sampled':
        negatives = ('the batch\'s other targets' if training.sampler ==
                     'in-batch' else f'{training.num_negatives:,} '
                     f'{training.sampler} negatives')
        schedule += (f', sampled softmax ({negatives}, logQ-corrected; '
                     f'lazy Adam on the item table)')
    if training.label_smoothing:
        schedule += f', label smoothing {training.label_smoothing:g}'
    lines = [f'settings: {config.model.describe()}; batch size '
             f'{training.batch_size}, Adam lr {training.lr:g}, L2 '
             f'{training.weight_decay:g}, {step}, up to {training.epochs} '
             f'epochs, patience {training.patience}{schedule}']
    own = DATASET_SETTINGS.get(config.data.dataset, {})
    if own:
        paper = dataset_settings('paper')
        names = {'batch_size': 'batch size', 'lr_step': 'StepLR step'}
        lines.append(
            f"{config.data.dataset}'s own defaults for its size, chosen with "
            f"SR-GNN on its validation split: " + ', '.join(
                f"{names.get(name, name)} {value} (the paper's "
                f"{paper[name]})" for name, value in own.items()))
    return lines


def torch_device(name: str) -> torch.device:
    r"""The device called :obj:`name`, checked to exist on this machine."""
    device = torch.device(name)
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise ValueError(f"Device '{name}' is not available on this machine "
                         f"({reason}); use --device cpu") from None
    return device


def cosine_lr(training: TrainingConfig, epoch: int, batch: int,
              num_batches: int) -> float:
    r"""The learning rate of :obj:`training`'s cosine schedule at batch
    :obj:`batch` (from 0) of epoch :obj:`epoch` (from 1), an epoch having
    :obj:`num_batches` batches: a linear warm-up over the first
    :obj:`training.lr_warmup` epochs, then half a cosine from
    :obj:`training.lr` down to 0 at the end of :obj:`training.epochs`. The
    schedule is counted in epochs, so a refit on more samples follows the
    same curve epoch by epoch as the run that chose its length."""
    step = (epoch - 1) * num_batches + batch
    warmup = training.lr_warmup * num_batches
    if step < warmup:
        return training.lr * min(1.0, (step + 1) / warmup)
    progress = (step - warmup) / (training.epochs * num_batches - warmup)
    return training.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def run_epoch(config: FitConfig, model: SessionModel, loader: SessionLoader,
              optimizer: torch.optim.Optimizer, scheduler, epoch: int,
              name: str, loss_fn: Optional[LossFn] = None
              ) -> Tuple[float, float, float]:
    r"""Trains epoch :obj:`epoch` (from 1) with the learning-rate schedule
    of :obj:`config`; returns the mean loss, the learning rate it trained
    at (the cosine schedule: at its first batch) and its seconds."""
    batch_lr = None
    if config.training.lr_schedule == 'cosine':
        def batch_lr(i: int) -> float:
            return cosine_lr(config.training, epoch, i, len(loader))
    elif config.training.lr_schedule == 'official':
        # The official loop steps the scheduler before training, so the
        # first decay comes after lr_step - 1 epochs.
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)
            scheduler.step()
    lr = optimizer.param_groups[0]['lr'] if batch_lr is None else batch_lr(0)
    start = time.perf_counter()
    with tqdm(total=len(loader), desc=name, leave=False, unit='batch',
              disable=not config.runtime.progress) as progress:
        loss = train_epoch(model, loader, optimizer, progress, loss_fn,
                           batch_lr)
    loss = distributed.mean_over_ranks(loss)
    seconds = time.perf_counter() - start
    if config.training.lr_schedule == 'step':
        scheduler.step()
    return loss, lr, seconds


def random_state(device: torch.device) -> Dict[str, Tensor]:
    r"""The state of torch's global generators, which dropout draws from:
    the CPU's and, on a GPU, :obj:`device`'s."""
    state = {'cpu': torch.get_rng_state()}
    if device.type == 'cuda':
        state['cuda'] = torch.cuda.get_rng_state(device)
    return state


def set_random_state(state: Dict[str, Tensor], device: torch.device) -> None:
    r"""Restores what :func:`random_state` saved (a GPU's state only on a
    GPU)."""
    torch.set_rng_state(state['cpu'])
    if device.type == 'cuda' and 'cuda' in state:
        torch.cuda.set_rng_state(state['cuda'], device)


def make_loss(config: FitConfig, train_set, index: Tensor,
              generator: torch.Generator) -> Optional[LossFn]:
    r"""The training loss of :obj:`config`: :obj:`None` for the plain
    full softmax, the full softmax with label smoothing, or sampled softmax
    with its sampler built from the training samples at :obj:`index`
    (their sessions' clicks and their targets), drawing with
    :obj:`generator`."""
    if config.training.loss == 'full':
        smoothing = config.training.label_smoothing
        return FullSoftmaxLoss(smoothing) if smoothing else None
    targets = train_set.sample_tensors()[2][index]
    sampler = make_sampler(
        config.training.sampler, train_set.num_items,
        config.training.num_negatives, session_popularity(train_set, index),
        item_popularity(targets, train_set.num_items), generator)
    return SampledSoftmaxLoss(sampler)


def new_training(config: FitConfig, num_items: int, device: torch.device,
                 log: Callable[[str], None]):
    r"""A freshly initialised model (seeded with
    :obj:`config.training.seed`), its optimizer and its scheduler."""
    torch.manual_seed(config.training.seed)
    model = model_from_config(config, num_items,
                              fused=config.runtime.fused_kernel).to(device)
    if device.type == 'cpu' and isinstance(model, SRGNN):
        prepare_fused_kernel(model, log)
    if config.training.loss == 'sampled':  # sparse item-table gradients
        optimizer = LazyAdam(model.parameters(), lr=config.training.lr,
                             weight_decay=config.training.weight_decay)
    else:
        optimizer = torch.optim.Adam(
            model.parameters(), lr=config.training.lr,
            weight_decay=config.training.weight_decay, fused=True)
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, config.training.lr_step, config.training.lr_gamma)
    return model, optimizer, scheduler


def fit_baseline(config: FitConfig, train_set, train_loader: SessionLoader,
                 select_loader: SessionLoader, test_loader: SessionLoader,
                 refit_loader: Optional[SessionLoader], select_name: str,
                 run_dir: str, device: torch.device,
                 log: Callable[[str], None]) -> Dict[str, Any]:
    r""":func:`fit` for a baseline: its statistics are gathered from the
    training samples and the selection split is ranked; with
    :obj:`refit_loader`, they are gathered again from all training samples
    (the model kept); then the test split is ranked. No epochs."""
    if distributed.is_main():
        write_json(osp.join(run_dir, 'config.json'), config.to_dict())
    model = model_from_config(config, train_set.num_items).to(device)
    result: Dict[str, Any] = {'protocol': config.training.protocol,
                              'best_epoch': None}
    kept_loader = train_loader
    for loader in (train_loader, refit_loader):
        if loader is None:
            continue
        start = time.perf_counter()
        model.fit(train_set, loader.index)
        seconds = time.perf_counter() - start
        log(f'{config.model.title}: statistics of {len(loader.index):,} '
            f'training samples gathered in {seconds:.1f} s')
        if loader is train_loader:
            metrics = evaluate(model, select_loader, config.training.ks,
                               gather=distributed.world_size() > 1)
            if select_name == 'valid':
                result['valid'] = metrics
        result['fit_seconds'] = round(seconds, 3)
        kept_loader = loader
    if distributed.is_main():
        save_checkpoint(osp.join(run_dir, 'checkpoint.pt'), make_checkpoint(
            model, None, None, config, 0, metrics, train_set))
    return finish(result, model, config, train_set, train_loader,
                  kept_loader, select_loader,
                  test_loader, select_name, epochs_run=0, run_dir=run_dir)


def finish(result: Dict[str, Any], model: SessionModel, config: FitConfig,
           train_set, train_loader: SessionLoader, kept_loader: SessionLoader,
           select_loader: SessionLoader, test_loader: SessionLoader,
           select_name: str, epochs_run: int, run_dir: str) -> Dict[str, Any]:
    r"""Completes a run's :obj:`result` and writes :obj:`metrics.json`: the
    test split of the model kept, with the beyond-accuracy metrics (unless
    the protocol reports best values over epochs), and POP beside it
    (:func:`~pyg_srgnn.popularity.session_popularity`): on the test split,
    counted on the training sessions the model kept trained on
    (:obj:`kept_loader`, all of them after a refit); on the validation
    split, counted on those the chosen epoch trained on
    (:obj:`train_loader`), which hold no validation session."""
    popularity = session_popularity(train_set, kept_loader.index)
    if 'test' not in result:  # tested once, the lists' metrics too
        result['test'] = evaluate(model, test_loader, config.training.ks,
                                  popularity,
                                  gather=distributed.world_size() > 1)
    ks = config.training.ks
    # The targets of every rank's shard of the splits.
    test_y = distributed.gather_shards(test_loader.y)
    select_y = distributed.gather_shards(select_loader.y)
    result['pop'] = {'test': evaluate_popularity(popularity, test_y, ks)}
    if select_name != 'test':
        result['pop'][select_name] = evaluate_popularity(
            session_popularity(train_set, train_loader.index),
            select_y, ks)
    result.update(epochs_run=epochs_run, num_items=model.num_items,
                  run_dir=run_dir)
    if distributed.is_main():
        write_json(osp.join(run_dir, 'metrics.json'), result)
    return result


def fit(config: FitConfig, log: Callable[[str], None] = print,
        resume: bool = False) -> Dict[str, Any]:
    r"""Trains SR-GNN as :obj:`config` says and returns the final metrics.

    Writes to :obj:`config.runtime.run_dir`: :obj:`config.json`, one record per
    epoch in :obj:`log.jsonl` and :obj:`log.csv`, the state after the last
    finished epoch in :obj:`last.pt`, the model to use in
    :obj:`checkpoint.pt` and the result in :obj:`metrics.json`.

    With :obj:`config.training.refit` (clean protocol), the number of epochs
    chosen on the validation split is then trained again, by a new model on all
    training samples; that model is the one tested and kept, and the result
    also holds the test metrics of the model chosen before the refit.

    With :obj:`resume`, continues the run in :obj:`config.runtime.run_dir`
    from its :obj:`last.pt` (see :func:`resume`); with the same seed it ends
    where an
    uninterrupted run ends.

    Unless :obj:`config.runtime.keep_freed_memory` is :obj:`False`, glibc's
    :obj:`malloc` keeps the memory the process frees from then on (see
    :func:`pyg_srgnn.allocator.keep_freed_memory`).
    """
    device = distributed.setup(torch_device(config.runtime.device))
    world = distributed.world_size()
    if not distributed.is_main():  # rank 0 writes and reports
        log = _quiet
        config.runtime.progress = False
    run_dir = distributed.broadcast(config.runtime.run_dir
                                    or default_run_dir(config))
    if not resume and distributed.is_main():
        make_run_dir(run_dir)
    distributed.barrier()
    if config.runtime.num_threads is not None:
        torch.set_num_threads(config.runtime.num_threads)
    if config.runtime.keep_freed_memory:
        keep_freed_memory()

    # Rank 0 preprocesses the data set where it is not yet; the others then
    # load what it wrote.
    if not distributed.is_main():
        distributed.barrier()
    train_set = load_dataset(config.data.dataset, config.data.root, 'train')
    test_set = load_dataset(config.data.dataset, config.data.root, 'test')
    if distributed.is_main():
        distributed.barrier()
    num_items = train_set.num_items

    protocol = get_protocol(config.training.protocol)
    select_name = protocol.select_name
    train_index, select_index = protocol.split(config.training,
                                               train_set.sample_tensors()[3])

    generator = torch.Generator().manual_seed(config.training.seed)

    def training_loader(index: Optional[Tensor]) -> SessionLoader:
        # Several processes: each trains on its share of every global batch.
        if world == 1:
            return SessionLoader(train_set, index, config.data.edge_weight,
                                 batch_size=config.training.batch_size,
                                 shuffle=True, generator=generator)
        size = train_set.sample_tensors()[2].numel() if index is None else (
            index.numel())
        return SessionLoader(train_set, index, config.data.edge_weight,
                             generator=generator,
                             batch_sampler=distributed.ShardedBatchSampler(
                                 size, config.training.batch_size, generator,
                                 distributed.rank(), world))

    def evaluation_loader(dataset, index: Optional[Tensor]) -> SessionLoader:
        # Several processes: each ranks its contiguous share.
        if world > 1:
            if index is None:
                index = torch.arange(dataset.sample_tensors()[2].numel())
            index = index[distributed.shard(index.numel())]
        return SessionLoader(dataset, index, config.data.edge_weight,
                             batch_size=config.runtime.eval_batch_size)

    train_loader = training_loader(train_index)
    test_loader = evaluation_loader(test_set, None)
    select_loader = test_loader
    if select_index is not None:
        select_loader = evaluation_loader(train_set, select_index)
    # With refit, the model kept trains on every training sample.
    refit_loader = None
    if config.training.refit:
        refit_loader = training_loader(None)

    # Sampled softmax draws its negatives with a generator of its own,
    # saved with the run's state so that a resumed run draws the same.
    sampler_generator = torch.Generator().manual_seed(config.training.seed)
    loss_fn = make_loss(config, train_set, train_loader.index,
                        sampler_generator)
    refit_loss_fn = None if refit_loader is None else make_loss(
        config, train_set, refit_loader.index, sampler_generator)

    refit = (', then refit on all training samples'
             if config.training.refit else '')
    num_select = (select_index if select_index is not None else
                  test_set.sample_tensors()[2]).numel()
    processes = f'; {world} processes' if world > 1 else ''
    log(f'{config.data.dataset}: {len(train_loader.index):,} training '
        f'samples, {num_select:,} {select_name} samples, {num_items:,} '
        f'items; protocol {config.training.protocol}{refit}; run dir '
        f'{run_dir}{processes}')
    for line in settings_lines(config):
        log(line)
    if not config.model.neural:
        result = fit_baseline(config, train_set, train_loader, select_loader,
                              test_loader, refit_loader, select_name, run_dir,
                              device, log)
        distributed.teardown()
        return result

    model, optimizer, scheduler = new_training(config, num_items, device,
                                               log)
    main = distributed.is_main()

    last_path = osp.join(run_dir, 'last.pt')
    best_path = osp.join(run_dir, 'checkpoint.pt')
    # What the protocol keeps of the best epoch(s); 'refit_epoch' counts the
    # epochs of the refit, once it has started.
    state: Dict[str, Any] = {'epoch': 0, 'best': {}, 'best_epoch': {},
                             'bad_epochs': 0}
    if resume:
        try:
            last = load_checkpoint(last_path, map_location=device)
        except ValueError as e:
            raise ValueError(f"Cannot resume {run_dir}: {e}; start the run "
                             f"again without --resume") from None
        model.load_state_dict(last['model'])
        optimizer.load_state_dict(last['optimizer'])
        scheduler.load_state_dict(last['scheduler'])
        generator.set_state(last['generator'])
        if 'sampler_generator' in last:
            sampler_generator.set_state(last['sampler_generator'])
        # Dropout's draws go on as they would have; a last.pt saved before
        # the random state was has none, which matters unless the next
        # epoch is the refit's first (it draws from the seed again).
        state = last['state']
        epochs_left = 'refit_epoch' in state or (
            state['epoch'] < config.training.epochs
            and state['bad_epochs'] < config.training.patience)
        if 'random_state' in last:
            set_random_state(last['random_state'][distributed.rank()],
                             device)
        elif epochs_left:
            log(f'{last_path} has no saved random state (written by an '
                f'older version): dropout draws other masks after the '
                f'resume than an uninterrupted run')
        log(f'resuming {run_dir} after epoch {state["epoch"]}'
            + (f' and refit epoch {state["refit_epoch"]}'
               if 'refit_epoch' in state else ''))
    elif main:
        write_json(osp.join(run_dir, 'config.json'), config.to_dict())
    run_log = RunLog(run_dir, keep_epochs=state['epoch'] + state.get(
        'refit_epoch', 0)) if main else distributed.NoLog()
    # Several processes: the loss goes through DistributedDataParallel,
    # which averages the ranks' gradients.
    train_loss = loss_fn if world == 1 else distributed.data_parallel(
        model, loss_fn, device)

    def save_last(checkpoint: Dict[str, Any]) -> None:
        # Every rank's: each draws its own dropout masks.
        random_states = distributed.gather_objects(random_state(device))
        if not main:
            return
        sampled = {} if loss_fn is None else {
            'sampler_generator': sampler_generator.get_state()}
        save_checkpoint(last_path, {**checkpoint, 'state': state,
                                    'generator': generator.get_state(),
                                    'random_state': random_states,
                                    **sampled})

    stopped = (state['bad_epochs'] >= config.training.patience
               or 'refit_epoch' in state)
    for epoch in range(state['epoch'] + 1, config.training.epochs + 1):
        if stopped:
            break
        loss, lr, train_time = run_epoch(config, model, train_loader,
                                         optimizer, scheduler, epoch,
                                         f'epoch {epoch}', train_loss)
        metrics = evaluate(model, select_loader, config.training.ks,
                           gather=distributed.world_size() > 1)
        improved = protocol.update(state, metrics, epoch,
                                   config.training)
        state['bad_epochs'] = 0 if improved else state['bad_epochs'] + 1
        state['epoch'] = epoch
        stopped = state['bad_epochs'] >= config.training.patience

        checkpoint = make_checkpoint(model, optimizer, scheduler, config,
                                     epoch, metrics, train_set)
        if improved and protocol.keeps_best and main:
            save_checkpoint(best_path, checkpoint)
        save_last(checkpoint)
        run_log.append({'epoch': epoch, 'lr': lr, 'loss': loss,
                        'train_seconds': round(train_time, 3),
                        select_name: metrics})
        shown = ' '.join(f'{key} {100 * value:.2f}'
                         for key, value in metrics.items()
                         if key.endswith(f'@{config.training.ks[-1]}'))
        log(f'epoch {epoch:3d} | lr {lr:.0e} | loss {loss:.4f} | '
            f'{select_name} {shown} | '
            f'{len(train_loader) / train_time:.1f} batch/s')
        if stopped:
            log(f'no improvement for {config.training.patience} epochs: '
                f'stopping')

    distributed.barrier()  # rank 0's checkpoints are written
    if not protocol.keeps_best:  # paper: the last epoch, best test values
        run_log.close()
        if main:
            shutil.copyfile(last_path, best_path)
        result = {'protocol': protocol.name, 'test': state['best'],
                  'best_epoch': state['best_epoch']}
    else:
        chosen = state['best_epoch'][config.training.monitor]
        result = {'protocol': protocol.name, 'valid': state['best'],
                  'best_epoch': chosen}
        if config.training.refit:
            if 'refit_epoch' not in state:
                # The chosen model's test metrics, for comparison only: the
                # model kept is the refit one.
                model.load_state_dict(
                    load_checkpoint(best_path, map_location=device)['model'])
                state['test_before_refit'] = evaluate(
                    model, test_loader, config.training.ks,
                    gather=world > 1)
                model, optimizer, scheduler = new_training(
                    config, num_items, device, lambda message: None)
                generator.manual_seed(config.training.seed)
                sampler_generator.manual_seed(config.training.seed)
                state['refit_epoch'] = 0
            refit_loss = refit_loss_fn if world == 1 else (
                distributed.data_parallel(model, refit_loss_fn, device))
            log(f'refit: {chosen} epoch(s) on all {len(refit_loader.index):,} '
                f'training samples')
            for refit_epoch in range(state['refit_epoch'] + 1, chosen + 1):
                loss, lr, train_time = run_epoch(
                    config, model, refit_loader, optimizer, scheduler,
                    refit_epoch, f'refit epoch {refit_epoch}', refit_loss)
                state['refit_epoch'] = refit_epoch
                save_last(make_checkpoint(model, optimizer, scheduler, config,
                                          refit_epoch, {}, train_set))
                run_log.append({'epoch': state['epoch'] + refit_epoch,
                                'refit_epoch': refit_epoch, 'lr': lr,
                                'loss': loss,
                                'train_seconds': round(train_time, 3)})
                log(f'refit epoch {refit_epoch:3d} | lr {lr:.0e} | loss '
                    f'{loss:.4f} | {len(refit_loader) / train_time:.1f} '
                    f'batch/s')
            if main:
                shutil.copyfile(last_path, best_path)
            result['test_before_refit'] = state['test_before_refit']
            result['refit_epochs'] = chosen
        else:
            model.load_state_dict(
                load_checkpoint(best_path, map_location=device)['model'])
        run_log.close()
    result = finish(result, model, config, train_set, train_loader,
                    refit_loader or train_loader, select_loader, test_loader,
                    select_name, epochs_run=state['epoch'], run_dir=run_dir)
    distributed.teardown()
    return result


def load_run_config(run_dir: str) -> FitConfig:
    r"""The configuration saved in a run directory (its :obj:`run_dir`
    that directory)."""
    path = osp.join(run_dir, 'config.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f"'{run_dir}' is not a run directory (no "
                                f"config.json)")
    values = read_json_object(path, 'the run cannot be resumed')
    config = FitConfig.from_dict(values, source=path)
    config.runtime.run_dir = run_dir
    return config


def check_resume_options(options: Dict[str, Any]) -> None:
    r"""Refuses :obj:`options` (flat names) that a resumed run may not
    change: all but the runtime section's, which do not alter its
    result."""
    allowed = [f.name for f in fields(RuntimeConfig) if f.name != 'run_dir']
    refused = sorted(set(options) - set(allowed))
    if refused:
        raise ValueError(f"--resume continues a run with its saved options; "
                         f"only the runtime options {', '.join(allowed)} may "
                         f"change (got {', '.join(refused)})")


def resume(run_dir: str, log: Callable[[str], None] = print,
           **overrides) -> Dict[str, Any]:
    r"""Continues the run in :obj:`run_dir`, e.g. after the machine killed
    it, from the state saved after its last finished epoch, with the
    configuration saved there. :obj:`overrides` may change the runtime
    options (:class:`~pyg_srgnn.config.RuntimeConfig`: device, threads,
    kernel, progress, ...), which do not alter the result; any other option
    is refused."""
    check_resume_options(overrides)
    config = load_run_config(run_dir)
    if not osp.isfile(osp.join(run_dir, 'last.pt')):
        raise FileNotFoundError(f"'{run_dir}' has no finished epoch to resume "
                                f"from (no last.pt)")
    config.runtime = RuntimeConfig(**{**asdict(config.runtime),
                                      **overrides})
    return fit(config, log=log, resume=True)
