r"""Checkpoints: plain dicts of tensors, numbers and strings, written
atomically and read with :obj:`torch.load(..., weights_only=True)`, so that a
checkpoint from elsewhere cannot run code."""
import os
import pickle
from typing import Any, Dict, Tuple

import torch

from pyg_srgnn.atomic_write import written_whole
from pyg_srgnn.config import FitConfig
from pyg_srgnn.nn import SessionModel

REQUIRED_KEYS = ('model', 'config', 'item_labels')


def save_checkpoint(path: str, checkpoint: Dict[str, Any]) -> None:
    r"""Writes :obj:`checkpoint` to a temporary file and renames it over
    :obj:`path`, so that a run killed while writing leaves the previous
    checkpoint intact."""
    with written_whole(path) as tmp:
        torch.save(checkpoint, tmp)


def load_checkpoint(path: str, map_location='cpu') -> Dict[str, Any]:
    r"""Reads a checkpoint written by :func:`pyg_srgnn.fit`; refuses any
    file that holds more than tensors and plain containers."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint at '{path}'")
    try:
        checkpoint = torch.load(path, map_location, weights_only=True)
    except Exception as e:  # torch.load's errors vary with the damage
        if isinstance(e, pickle.UnpicklingError) and (
                'Unsupported global' in str(e)):
            raise ValueError(f"'{path}' is not a pyg-srgnn checkpoint that "
                             f"can be loaded safely (it holds objects other "
                             f"than tensors and plain containers)") from None
        raise ValueError(f"'{path}' is not a pyg-srgnn checkpoint, or it is "
                         f"damaged or truncated ({type(e).__name__})"
                         ) from None
    missing = [key for key in REQUIRED_KEYS
               if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise ValueError(f"'{path}' is not a pyg-srgnn checkpoint (missing "
                         f"{', '.join(missing)})")
    return checkpoint


def model_from_config(config: FitConfig, num_items: int,
                      fused: bool = False) -> SessionModel:
    r"""A new model as :obj:`config.model` (its registered config,
    :mod:`pyg_srgnn.models`) describes it."""
    return config.model.build(num_items, fused=fused)


def model_from_checkpoint(
        checkpoint: Dict[str, Any],
        fused: bool = False) -> Tuple[SessionModel, FitConfig]:
    r"""Rebuilds the trained model and its :class:`FitConfig` (the model's
    name and options are in the checkpoint's config; checkpoints from
    before the config had sections, and before :obj:`model` was an option
    (SR-GNN), load too). :obj:`fused`: the model runs the fused kernel
    where it has one (see :obj:`fit --fused-kernel`)."""
    config = FitConfig.from_dict(checkpoint['config'])
    num_items = len(checkpoint['item_labels'])
    model = model_from_config(config, num_items, fused=fused)
    model.load_state_dict(checkpoint['model'])
    model.eval()
    return model, config
