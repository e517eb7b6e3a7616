import json

import torch
from click.testing import CliRunner

from bench import speed
from bench.dense_official import dense_batch, dense_forward
from pyg_srgnn.data import session_graph_batch
from pyg_srgnn.nn import SRGNN


def test_dense_official_pipeline_scores_like_ours():
    torch.manual_seed(0)
    model = SRGNN(num_items=12, hidden_channels=8, num_layers=2)
    sessions = [[1, 2, 3, 2, 4], [5, 5, 6], [7], [1, 2, 1, 2], [12, 3]]
    items, A_in, A_out, alias, mask, _ = dense_batch(sessions, [1] * 5)
    clicks = torch.tensor([i for s in sessions for i in s])
    ptr = torch.tensor([0, 5, 8, 9, 13, 15])
    with torch.no_grad():
        ours = model.forward_batch(session_graph_batch(clicks, ptr))
        dense = dense_forward(model, items, A_in, A_out, alias, mask)
    assert torch.allclose(ours, dense, atol=1e-5)


def test_speed_quick_runs(tmp_path):
    threads = torch.get_num_threads()
    result = CliRunner().invoke(speed.main, [
        '--quick', '--dataset', 'diginetica-sample', '--root',
        str(tmp_path), '--threads', '1'
    ])
    torch.set_num_threads(threads)  # the bench sets it for the process
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    for key in ('ours_ms', 'floor_ms', 'dense_ms', 'ratio_to_floor'):
        assert out[key] > 0
