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


def load_kernel(verbose: bool = False):
    r"""Returns the compiled kernel, building it on the first call of the
    process (about 25 seconds the first time on a machine, then loaded from
    PyTorch's extension cache), or :obj:`None` if it cannot be built; then
    :func:`kernel_error` says why."""
    global _kernel, _error
    if _kernel is None and _error is None:
        try:
            from torch.utils.cpp_extension import load
            capability, flags = build_flags()
            _kernel = load(
                name=f'pyg_srgnn_session_embedding_{capability.lower()}',
                sources=[str(SOURCE)], extra_cflags=flags,
                extra_ldflags=['-fopenmp'], verbose=verbose)
        except Exception as error:  # no compiler, no ninja, a failed build
            _error = f'{type(error).__name__}: {error}'.strip()
    return _kernel


def kernel_error() -> Optional[str]:
    r"""Why the kernel could not be built, or :obj:`None`."""
    return _error


def covers(model) -> bool:
    r"""Whether the kernel computes :obj:`model`'s architecture: one
    propagation step, the hybrid readout, biases."""
    conv, readout = model.conv, model.readout
    return (conv.num_layers == 1 and readout.lin_hybrid is not None
            and conv.bias_in is not None and conv.lin_in.bias is not None)


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
            warnings.warn(f"The fused SR-GNN kernel could not be built, so "
                          f"the PyTorch modules run instead (same results, "
                          f"slower). A C++ compiler and ninja are needed "
                          f"('pip install pyg-srgnn[fused]' installs "
                          f"ninja). The error was: {kernel_error()}",
                          stacklevel=3)
        return None
    return SessionEmbedding.apply(x, edge_index, edge_weight, alias_index,
                                  last_index, batch, *parameters(model))
