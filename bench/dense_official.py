"""The "before" picture for bench/speed.py: SR-GNN as the official code runs
it, one padded batch at a time with dense numpy adjacency matrices, written
here from sections 2-3 of the reference (not copied). It uses the parameters
of a `pyg_srgnn.nn.SRGNN`, so both pipelines compute the same function."""
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from pyg_srgnn.nn import SRGNN

DenseBatch = Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]


def dense_batch(sessions: Sequence[Sequence[int]],
                targets: Sequence[int]) -> DenseBatch:
    r"""Pads :obj:`B` sessions to the batch's largest node count and builds,
    per session, the dense in- and out-adjacency (mean over distinct
    neighbours), the click-to-node alias and the click mask."""
    num_nodes = [len(set(s)) for s in sessions]
    max_nodes, max_len = max(num_nodes), max(len(s) for s in sessions)
    batch_size = len(sessions)
    items = np.zeros((batch_size, max_nodes), dtype=np.int64)
    A_in = np.zeros((batch_size, max_nodes, max_nodes), dtype=np.float32)
    A_out = np.zeros((batch_size, max_nodes, max_nodes), dtype=np.float32)
    alias = np.zeros((batch_size, max_len), dtype=np.int64)
    mask = np.zeros((batch_size, max_len), dtype=np.float32)
    for b, session in enumerate(sessions):
        nodes, inverse = np.unique(np.asarray(session), return_inverse=True)
        items[b, :len(nodes)] = nodes
        adj = np.zeros((max_nodes, max_nodes), dtype=np.float32)
        adj[inverse[:-1], inverse[1:]] = 1
        in_deg, out_deg = adj.sum(0), adj.sum(1)
        A_in[b] = np.divide(adj, in_deg, out=np.zeros_like(adj),
                            where=in_deg > 0).T
        A_out[b] = np.divide(adj, out_deg[:, None], out=np.zeros_like(adj),
                             where=out_deg[:, None] > 0)
        alias[b, :len(session)] = inverse
        mask[b, :len(session)] = 1
    return (torch.from_numpy(items), torch.from_numpy(A_in),
            torch.from_numpy(A_out), torch.from_numpy(alias),
            torch.from_numpy(mask), torch.as_tensor(targets))


def dense_forward(model: SRGNN, items: Tensor, A_in: Tensor, A_out: Tensor,
                  alias: Tensor, mask: Tensor) -> Tensor:
    r"""Scores of every item, :obj:`[B, num_items]`, with batched dense
    matrix products instead of message passing."""
    conv, readout = model.conv, model.readout
    h = model.embedding(items)  # [B, n, d]
    batch_size, num_nodes, d = h.size()
    for _ in range(conv.num_layers):
        a_in = A_in @ conv.lin_in(h) + conv.bias_in
        a_out = A_out @ conv.lin_out(h) + conv.bias_out
        h = conv.rnn(torch.cat([a_in, a_out], -1).view(-1, 2 * d),
                     h.reshape(-1, d)).view(batch_size, num_nodes, d)
    seq = h.gather(1, alias.unsqueeze(-1).expand(-1, -1, d))  # [B, L, d]
    last_pos = mask.sum(1).long() - 1
    last = seq[torch.arange(batch_size), last_pos]  # [B, d]
    alpha = readout.att(torch.sigmoid(
        readout.lin_last(last).unsqueeze(1) + readout.lin_click(seq)))
    s = (alpha * seq * mask.unsqueeze(-1)).sum(1)
    if readout.lin_hybrid is not None:
        s = readout.lin_hybrid(torch.cat([s, last], -1))
    return s @ model.embedding.weight[1:].t()


def split_sessions(clicks: np.ndarray, ptr: np.ndarray) -> List[List[int]]:
    return [clicks[a:b].tolist() for a, b in zip(ptr[:-1], ptr[1:])]
