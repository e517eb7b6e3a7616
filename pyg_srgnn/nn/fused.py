r"""The session embedding of :class:`~pyg_srgnn.nn.SRGNN` (one
:class:`~pyg_srgnn.nn.SRGNNConv` step and the hybrid
:class:`~pyg_srgnn.nn.SessionReadout`) as one compiled CPU kernel,
:obj:`pyg_srgnn/csrc/session_embedding.cpp`.

The kernel computes what the modules compute, with the same matrix products,
but runs everything between those products as a few vectorised loops instead
of some sixty PyTorch operators with a tensor each, forward and backward. It
is built on first use with :func:`torch.utils.cpp_extension.load` (a C++
compiler and :obj:`ninja` are needed; :obj:`pip install pyg-srgnn[fused]`
provides the latter) and cached by PyTorch, so later processes load it at
once. Where it cannot be built, :class:`SRGNN` warns once and uses the
modules.
"""
import logging
import re
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from torch_geometric.typing import Adj, OptTensor

SOURCE = Path(__file__).resolve().parents[1] / 'csrc' / 'session_embedding.cpp'

# The instruction sets PyTorch's own vectorised kernels use, by the name
# `torch.backends.cpu.get_cpu_capability()` gives them.
CAPABILITY_FLAGS = {
    'AVX512': ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq',
               '-mfma'],
    'AVX2': ['-mavx2', '-mfma'],
}

_kernel = None
_error: Optional[str] = None
_build_log: Optional[str] = None
_warned = False


def build_flags() -> Tuple[str, List[str]]:
    r"""Returns the CPU capability the kernel is built for and the compiler
    flags that select PyTorch's vector types for it."""
    capability = torch.backends.cpu.get_cpu_capability()
    flags = ['-O3', '-fopenmp']
    if capability in CAPABILITY_FLAGS:
        flags += CAPABILITY_FLAGS[capability]
        flags += [f'-DCPU_CAPABILITY={capability}',
                  f'-DCPU_CAPABILITY_{capability}']
    else:  # PyTorch's portable vector types
        capability = 'DEFAULT'
    return capability, flags


def extension_name() -> str:
    return f'pyg_srgnn_session_embedding_{build_flags()[0].lower()}'


def is_built() -> bool:
    r"""Whether PyTorch's extension cache holds a build of the kernel as
    recent as its source, so that :func:`load_kernel` loads it at once
    instead of compiling it."""
    try:
        from torch.utils.cpp_extension import _get_build_directory
        build_dir = _get_build_directory(extension_name(), verbose=False)
        library = Path(build_dir) / f'{extension_name()}.so'
        return library.stat().st_mtime >= SOURCE.stat().st_mtime
    except (ImportError, OSError):
        return False


def load_kernel(verbose: bool = False):
    r"""Returns the compiled kernel, building it on the first call of the
    process (about 25 seconds the first time on a machine, then loaded from
    PyTorch's extension cache), or :obj:`None` if it cannot be built; then
    :func:`kernel_error` says why in one line and :func:`kernel_build_log`
    gives the whole compiler output. With :obj:`verbose`, the build prints
    its commands and PyTorch's warnings as it goes."""
    global _kernel, _error, _build_log
    if _kernel is None and _error is None:
        # PyTorch logs a long warning block when the compiler is missing or
        # unusual; the one-line reason below says what matters.
        logger = logging.getLogger('torch.utils.cpp_extension')
        level = logger.level
        if not verbose:
            logger.setLevel(logging.ERROR)
        try:
            from torch.utils.cpp_extension import load
            _, flags = build_flags()
            with warnings.catch_warnings():
                if not verbose:
                    warnings.simplefilter('ignore')
                _kernel = load(name=extension_name(), sources=[str(SOURCE)],
                               extra_cflags=flags, extra_ldflags=['-fopenmp'],
                               verbose=verbose)
        except Exception as error:  # no compiler, no ninja, a failed build
            _build_log = f'{type(error).__name__}: {error}'.strip()
            _error = build_failure(_build_log)
        finally:
            logger.setLevel(level)
    return _kernel


# Lines of a failed build that are commands or ninja's bookkeeping, not the
# reason.
_NOISE = re.compile(
    r'^(\[\d+/\d+\]|FAILED:|ninja: build stopped)|\s-c\s|\s-MMD\s')
_REASON = re.compile(r'error|not found|no such file|cannot|required',
                     re.IGNORECASE)


def build_failure(text: str) -> str:
    r"""The one line of a failed build's output that says why it failed: the
    first compiler or shell error, else the first line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0] if lines else 'unknown error'
    reasons = [line for line in lines[1:]
               if _REASON.search(line) and not _NOISE.search(line)]
    if reasons:
        return reasons[0]
    return first if len(first) <= 300 else first[:297] + '...'


def kernel_error() -> Optional[str]:
    r"""Why the kernel could not be built, in one line, or :obj:`None`."""
    return _error


def kernel_build_log() -> Optional[str]:
    r"""The whole output of the failed build, or :obj:`None`."""
    return _build_log


def covers(model) -> bool:
    r"""Whether the kernel computes :obj:`model`'s architecture: one
    propagation step, the hybrid readout, biases, no position embeddings
    (the NISER normalisation and dropout lie outside it)."""
    conv, readout = model.conv, model.readout
    return (conv.num_layers == 1 and readout.lin_hybrid is not None
            and conv.bias_in is not None and conv.lin_in.bias is not None
            and getattr(model, 'position', None) is None)


def supports(model, x: Tensor, edge_index: Adj, edge_weight: OptTensor,
             alias_index: Tensor, last_index: Tensor, batch: Tensor) -> bool:
    r"""Whether the kernel computes :obj:`model`'s session embedding for these
    inputs: an architecture it :func:`covers`, float CPU tensors, an
    :obj:`edge_index` tensor and :obj:`long` index tensors, edge weights
    without gradients, and no hooks or explainer on the layers the kernel
    replaces."""
    conv, readout = model.conv, model.readout
    indices = (alias_index, last_index, batch)
    return (covers(model) and x.device.type == 'cpu'
            and x.dtype in (torch.float32, torch.float64)
            and isinstance(edge_index, Tensor) and not edge_index.is_sparse
            and edge_index.dtype == torch.long
            and all(index.dtype == torch.long and index.device.type == 'cpu'
                    for index in indices)
            and (edge_weight is None
                 or (edge_weight.dtype == x.dtype
                     and not edge_weight.requires_grad))
            and not getattr(conv, '_explain', False)
            and not any(module._forward_hooks or module._forward_pre_hooks
                        for module in (conv, conv.rnn, readout)))


def parameters(model) -> List[Tensor]:
    r"""The parameters the kernel takes, in its order."""
    conv, readout = model.conv, model.readout
    return [
        conv.lin_in.weight, conv.lin_in.bias, conv.lin_out.weight,
        conv.lin_out.bias, conv.bias_in, conv.bias_out, conv.rnn.weight_ih,
        conv.rnn.weight_hh, conv.rnn.bias_ih, conv.rnn.bias_hh,
        readout.lin_last.weight, readout.lin_last.bias,
        readout.lin_click.weight, readout.lin_click.bias, readout.att.weight,
        readout.lin_hybrid.weight, readout.lin_hybrid.bias
    ]


class SessionEmbedding(torch.autograd.Function):
    r"""The kernel as one autograd node; its backward pass returns the
    gradients of the node features and of every parameter."""
    @staticmethod
    def forward(ctx, x: Tensor, edge_index: Tensor, edge_weight: OptTensor,
                alias_index: Tensor, last_index: Tensor, batch: Tensor,
                *params: Tensor) -> Tensor:
        out, *saved = _kernel.forward(x.contiguous(), edge_index, edge_weight,
                                      alias_index.contiguous(),
                                      last_index.contiguous(),
                                      batch.contiguous(), list(params))
        ctx.num_params = len(params)
        ctx.save_for_backward(x, alias_index, last_index, *params, *saved)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        x, alias_index, last_index, *rest = ctx.saved_tensors
        params, saved = rest[:ctx.num_params], rest[ctx.num_params:]
        grad_x, *grad_params = _kernel.backward(grad, saved, x, alias_index,
                                                last_index, params)
        return (grad_x, None, None, None, None, None, *grad_params)


def session_embedding(model, x: Tensor, edge_index: Tensor,
                      alias_index: Tensor, last_index: Tensor, batch: Tensor,
                      edge_weight: OptTensor = None) -> Optional[Tensor]:
    r"""Returns :obj:`model.readout(model.conv(x, ...), ...)` computed by the
    kernel, or :obj:`None` if the kernel cannot be built (with one warning
    per process) or does not support these inputs (see :func:`supports`).
    :obj:`x` holds the node features, the looked-up item embeddings."""
    if not supports(model, x, edge_index, edge_weight, alias_index,
                    last_index, batch):
        return None
    global _warned
    if load_kernel() is None:
        if not _warned:
            _warned = True
            warnings.warn(f"The fused SR-GNN kernel could not be built "
                          f"({kernel_error()}); the PyTorch modules run "
                          f"instead (same results, slower)", stacklevel=3)
        return None
    return SessionEmbedding.apply(x, edge_index, edge_weight, alias_index,
                                  last_index, batch, *parameters(model))
