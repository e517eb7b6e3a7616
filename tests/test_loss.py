import pytest
import torch
import torch.nn.functional as F
from nn.test_srgnn import SESSIONS, batch_of
from test_train import read_log, small_config

from pyg_srgnn.loss import FullSoftmaxLoss, full_softmax_loss
from pyg_srgnn.nn import SRGNN
from pyg_srgnn.train import fit


def test_label_smoothing_by_hand():
    torch.manual_seed(0)
    scores = torch.randn(3, 7)
    target = torch.tensor([1, 7, 4])  # item ids: column id - 1
    eps = 0.2
    log_p = F.log_softmax(scores, dim=1)
    expected = torch.stack([
        -(1 - eps) * log_p[b, t - 1] - eps * log_p[b].mean()
        for b, t in enumerate(target.tolist())]).mean()
    assert full_softmax_loss(scores, target, eps).item() == pytest.approx(
        expected.item(), rel=1e-6)
    assert full_softmax_loss(scores, target).item() == pytest.approx(
        -log_p[[0, 1, 2], target - 1].mean().item(), rel=1e-6)


def test_full_softmax_loss_of_a_model():
    torch.manual_seed(0)
    model = SRGNN(10, hidden_channels=4)
    data = batch_of(SESSIONS[:3])
    data.y = torch.tensor([2, 5, 2])
    loss = FullSoftmaxLoss(0.1)(model, data)
    assert not FullSoftmaxLoss.sparse_grad
    assert loss.item() == pytest.approx(full_softmax_loss(
        model.forward_batch(data), data.y, 0.1).item())


def test_fit_with_label_smoothing(tmp_path):
    lines = []
    for name, smoothing in (('p', 0.0), ('s', 0.1), ('a', 0.1)):
        fit(small_config(tmp_path, name, epochs=1, protocol='paper',
                         label_smoothing=smoothing), log=lines.append)
    settings = [line for line in lines if line.startswith('settings: ')]
    assert [line.endswith(', label smoothing 0.1') for line in settings] == [
        False, True, True]
    plain, smooth, again = (read_log(tmp_path / name)[0]['loss']
                            for name in 'psa')
    # The smoothed target costs more than the one-hot one; the same seed
    # gives the same run.
    assert smooth > plain
    assert smooth == again
