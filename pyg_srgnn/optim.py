import math
from typing import Iterable, Tuple

import torch
from torch import Tensor


class LazyAdam(torch.optim.Optimizer):
    r"""Adam whose update of a parameter with a sparse gradient (the item
    table under sampled softmax) touches only the rows the gradient holds,
    as :class:`torch.optim.SparseAdam` and TensorFlow's LazyAdam do, while
    a dense gradient gets :class:`torch.optim.Adam`'s update; one optimizer
    for both, so that one scheduler and one checkpoint serve it.

    :obj:`weight_decay` is Adam's L2 penalty; on a sparse gradient it is
    added for the rows updated only (lazy L2): a row no sample touches
    keeps its value and its moments.

    Args:
        params (iterable): Parameters or parameter groups.
        lr (float, optional): Learning rate. (default: :obj:`1e-3`)
        betas (tuple, optional): Adam's :math:`\beta_1, \beta_2`.
            (default: :obj:`(0.9, 0.999)`)
        eps (float, optional): Adam's :math:`\epsilon`.
            (default: :obj:`1e-8`)
        weight_decay (float, optional): L2 penalty. (default: :obj:`0`)
    """
    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: Tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        if not 0.0 < lr or not 0.0 <= weight_decay or not 0.0 < eps:
            raise ValueError(f'Invalid LazyAdam settings: lr={lr}, '
                             f'eps={eps}, weight_decay={weight_decay}')
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group['params']:
                if param.grad is not None:
                    self._update(param, group)
        return loss

    def _update(self, param: Tensor, group: dict) -> None:
        beta1, beta2 = group['betas']
        state = self.state[param]
        if not state:
            state['step'] = 0
            state['exp_avg'] = torch.zeros_like(param)
            state['exp_avg_sq'] = torch.zeros_like(param)
        state['step'] += 1
        step_size = group['lr'] / (1 - beta1**state['step'])
        bias_correction2 = math.sqrt(1 - beta2**state['step'])
        exp_avg, exp_avg_sq = state['exp_avg'], state['exp_avg_sq']
        grad, decay = param.grad, group['weight_decay']
        if not grad.is_sparse:
            if decay:
                grad = grad.add(param, alpha=decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2).add_(group['eps'])
            param.addcdiv_(exp_avg, denom, value=-step_size)
            return
        grad = grad.coalesce()  # rows gathered, duplicates summed
        rows, values = grad.indices()[0], grad.values()
        if decay:
            values = values.add(param[rows], alpha=decay)
        m = exp_avg[rows].lerp_(values, 1 - beta1)
        v = exp_avg_sq[rows].mul_(beta2).addcmul_(values, values,
                                                  value=1 - beta2)
        exp_avg[rows], exp_avg_sq[rows] = m, v
        denom = (v.sqrt() / bias_correction2).add_(group['eps'])
        param.index_add_(0, rows, m.div_(denom).mul_(-step_size))
