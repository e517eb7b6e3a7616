r"""The top items of session embeddings against a model's item rows, for
inference: exact, and on CPUs with bfloat16 instructions (AVX512-BF16,
AMX) several times faster than a float32 ranking of every item.

Every item is first scored in bfloat16. Rounding the two inputs and the
output to bfloat16 (unit roundoff :math:`u = 2^{-8}`) and summing the
:math:`F` products in float32 moves a score by at most

.. math::
    \epsilon = ((1 + u)^3 (1 + F \cdot 2^{-24}) - 1)
    \, \|\mathbf{s}\| \max_j \|\mathbf{w}_j\|,

so each of the :math:`k` best items by float32 score is among the items
whose bfloat16 score is at least the :math:`k`-th best bfloat16 score minus
:math:`2 \epsilon`. Those few candidates are scored again in float32 and
ranked: the same items and scores as the float32 ranking of all items (to
float32 rounding). A session whose candidates do not all fit in the
gathered top (e.g. many items scored alike) is ranked in float32 in full.

A lone session, and every session elsewhere (no bfloat16 instructions, or a
GPU), is ranked by float32 scores of every item, on a CPU against a
transposed copy of the rows: for one session a pass down the columns, which
here beats both dot products with the rows and the bfloat16 product (0.95
against 1.40 ms for Diginetica's table when the caches are cold, as a
server's are between requests). On a CPU the ranker keeps that copy and,
with bfloat16, a half-size one: 1.5 times the rows' memory.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

# bfloat16's unit roundoff.
BF16_UNIT = 2.0**-8
# Fewer sessions than this are ranked in float32 (see the module).
BFLOAT16_FROM = 2


def fast_bfloat16() -> bool:
    r"""Whether this CPU multiplies bfloat16 matrices natively (through
    oneDNN), rather than by converting them to float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


class ItemRanker:
    r"""Ranks the items of :obj:`rows` (:obj:`[num_items, F]`; a model's
    :meth:`~pyg_srgnn.nn.SessionModel.scoring_rows`) for session embeddings
    (see the module); "float32" there means the rows' own type, which for
    other types than float32 is the only path by default.

    Args:
        rows (torch.Tensor): Row :obj:`j` scores item :obj:`j + 1`.
        bfloat16 (bool, optional): Rank through bfloat16 scores (exact all
            the same). (default: :obj:`None`, where
            :func:`fast_bfloat16` on a CPU)
    """
    def __init__(self, rows: Tensor, bfloat16: Optional[bool] = None):
        if rows.dim() != 2 or not rows.is_floating_point():
            raise ValueError(f"Expected floating-point rows [num_items, F], "
                             f"got {rows.dtype} of shape "
                             f"{tuple(rows.shape)}")
        self.rows = rows
        if bfloat16 is None:
            bfloat16 = (rows.device.type == 'cpu'
                        and rows.dtype == torch.float32 and fast_bfloat16())
        self.bfloat16 = bfloat16
        self.columns: Optional[Tensor] = None
        if rows.device.type == 'cpu':
            self.columns = rows.t().contiguous()
        if bfloat16:
            self.rows_bf16 = rows.to(torch.bfloat16)
            width = rows.size(1)
            factor = (1 + BF16_UNIT)**3 * (1 + width * 2.0**-24) - 1
            self.error_per_norm = factor * float(rows.norm(dim=1).max())

    @property
    def num_items(self) -> int:
        return self.rows.size(0)

    def scores(self, session: Tensor) -> Tensor:
        r"""The float32 score of every item, :obj:`[B, num_items]`."""
        if self.columns is not None:
            return session @ self.columns
        return session @ self.rows.t()

    def topk(self, session: Tensor, k: int,
             exclude: Optional[Tuple[Tensor, Tensor]] = None
             ) -> Tuple[Tensor, Tensor]:
        r"""The :obj:`k` best scores of every session and their columns
        (item :obj:`j + 1` in column :obj:`j`), best first, :obj:`[B, k]`.

        Args:
            session (torch.Tensor): Session embeddings, :obj:`[B, F]`.
            k (int): How many items (at most :obj:`num_items`).
            exclude (tuple of torch.Tensor, optional): Rows and columns of
                items to leave out: they score :obj:`-inf`. (default:
                :obj:`None`)
        """
        k = min(k, self.num_items)
        if not self.bfloat16 or session.size(0) < BFLOAT16_FROM:
            return self._full(session, k, exclude)
        approx = session.to(torch.bfloat16) @ self.rows_bf16.t()
        if exclude is not None:
            approx[exclude] = float('-inf')
        width = min(self.num_items, 2 * k + 64)
        approx, candidates = approx.topk(width, dim=1)
        approx = approx.float()
        bound = 2 * self.error_per_norm * session.norm(dim=1)  # [B]
        floor = approx[:, k - 1] - bound
        exact = torch.bmm(self.rows[candidates],
                          session.unsqueeze(2)).squeeze(2)  # [B, width]
        left_out = (approx < floor.unsqueeze(1)) | (approx == float('-inf'))
        values, top = exact.masked_fill(left_out, float('-inf')).topk(
            k, dim=1)
        columns = candidates.gather(1, top)
        if width < self.num_items:
            # Candidates may lie past the gathered top: ranked in full.
            full = (approx[:, -1] >= floor).nonzero().view(-1)
            if full.numel() > 0:
                values[full], columns[full] = self._full(
                    session[full], k, _select_rows(exclude, full,
                                                   session.size(0)))
        return values, columns

    def _full(self, session: Tensor, k: int,
              exclude: Optional[Tuple[Tensor, Tensor]]
              ) -> Tuple[Tensor, Tensor]:
        scores = self.scores(session)
        if exclude is not None:
            scores[exclude] = float('-inf')
        return scores.topk(k, dim=1)


def _select_rows(exclude: Optional[Tuple[Tensor, Tensor]], rows: Tensor,
                 num_rows: int) -> Optional[Tuple[Tensor, Tensor]]:
    # The exclusions of `rows` only, renumbered as rows of their own.
    if exclude is None:
        return None
    position = torch.full((num_rows, ), -1, dtype=torch.long,
                          device=rows.device)
    position[rows] = torch.arange(rows.numel(), device=rows.device)
    row, column = exclude
    kept = position[row] >= 0
    return position[row[kept]], column[kept]
