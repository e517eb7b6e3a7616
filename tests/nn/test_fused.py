import warnings

import pytest
import torch
from test_srgnn import (
    SESSIONS,
    batch_of,
    dense_reference,
    official_state_dict,
)

from pyg_srgnn.data import SessionLoader
from pyg_srgnn.data.registry import load_dataset
from pyg_srgnn.loss import full_softmax_loss
from pyg_srgnn.nn import SRGNN, fused


@pytest.fixture(scope='module')
def kernel():
    kernel = fused.load_kernel()
    if kernel is None:
        pytest.skip(f'the fused kernel cannot be built here: '
                    f'{fused.kernel_error()}')
    return kernel


def embeddings_and_gradients(model, data, dtype):
    r"""Session embeddings and the gradient of every parameter under a loss
    that weighs every output differently; :obj:`model.last_node` is the
    autograd node that made the embeddings."""
    model.zero_grad()
    edge_weight = getattr(data, 'edge_weight', None)
    if edge_weight is not None:
        edge_weight = edge_weight.to(dtype)
    out = model.session_embedding(data.x, data.edge_index, data.alias_index,
                                  data.last_index, data.batch, edge_weight)
    model.last_node = type(out.grad_fn).__name__
    weights = torch.arange(out.numel(), dtype=dtype).view_as(out).sin()
    (out * weights).sum().backward()
    return out.detach(), {
        name: param.grad.clone()
        for name, param in model.named_parameters() if param.grad is not None
    }


@pytest.mark.parametrize('edge_weight', ['binary', 'count'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_fused_equals_modules(kernel, edge_weight, dtype):
    torch.manual_seed(0)
    modules = SRGNN(10, hidden_channels=20).to(dtype)  # d not a vector size
    fused_model = SRGNN(10, hidden_channels=20, fused=True).to(dtype)
    fused_model.load_state_dict(modules.state_dict())
    data = batch_of(SESSIONS, edge_weight)

    out, grads = embeddings_and_gradients(modules, data, dtype)
    fused_out, fused_grads = embeddings_and_gradients(fused_model, data, dtype)
    # The kernel ran (its autograd node made the output), not the modules.
    assert fused_model.last_node == 'SessionEmbeddingBackward'
    assert modules.last_node != fused_model.last_node
    assert out.abs().max() > 0.1
    atol = 1e-12 if dtype == torch.float64 else 1e-5
    assert torch.allclose(fused_out, out, atol=atol, rtol=0)
    assert fused_grads.keys() == grads.keys()
    assert len(grads) == 18  # every parameter, the item table included
    for name, grad in grads.items():
        assert torch.allclose(fused_grads[name].to_dense(), grad.to_dense(),
                              atol=atol, rtol=0), name


def test_fused_runs_the_kernel(kernel, monkeypatch):
    calls = []
    apply = fused.SessionEmbedding.apply
    monkeypatch.setattr(fused.SessionEmbedding, 'apply',
                        lambda *args: calls.append(True) or apply(*args))
    SRGNN(10, fused=True).score_sessions(SESSIONS)
    assert calls == [True]
    SRGNN(10).score_sessions(SESSIONS)
    assert calls == [True]


@pytest.mark.parametrize('counts', [False, True])
def test_fused_parity_with_dense_reference(kernel, counts):
    sd = official_state_dict(num_rows=11, d=8, seed=99)
    model = SRGNN.from_official_state_dict(sd)
    model.fused = True
    out = model.score_sessions(SESSIONS,
                               edge_weight='count' if counts else 'binary')
    expected = dense_reference(sd, SESSIONS, True, 1, counts=counts)
    assert torch.allclose(out.double(), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize('edge_weight', ['binary', 'count'])
def test_fused_gradcheck(kernel, edge_weight):
    torch.manual_seed(0)
    model = SRGNN(10, hidden_channels=6).double()
    data = batch_of(SESSIONS, edge_weight)
    weight = getattr(data, 'edge_weight', None)
    if weight is not None:
        weight = weight.double()
    x = model.embedding.weight[data.x].detach().requires_grad_()

    def embed(x, *params):
        return fused.SessionEmbedding.apply(x, data.edge_index, weight,
                                            data.alias_index, data.last_index,
                                            data.batch, *params)

    assert torch.autograd.gradcheck(embed, (x, *fused.parameters(model)))


def test_fused_training_batch_of_the_sample(kernel, tmp_path):
    dataset = load_dataset('diginetica-sample', str(tmp_path), 'train')
    batch = next(iter(SessionLoader(dataset, batch_size=100)))
    torch.manual_seed(0)
    modules = SRGNN(dataset.num_items)
    fused_model = SRGNN(dataset.num_items, fused=True)
    fused_model.load_state_dict(modules.state_dict())
    for model in (modules, fused_model):
        full_softmax_loss(model.forward_batch(batch), batch.y).backward()
    for (name, param), fused_param in zip(modules.named_parameters(),
                                          fused_model.parameters()):
        assert torch.allclose(fused_param.grad, param.grad, atol=1e-6,
                              rtol=1e-4), name


@pytest.mark.parametrize('change', [
    'num_layers', 'hybrid', 'sparse', 'edge_weight_grad', 'hook', 'float16',
    'int32'
])
def test_fused_falls_back_to_modules(kernel, change):
    torch.manual_seed(0)
    kwargs = {'num_layers': 2} if change == 'num_layers' else {}
    if change == 'hybrid':
        kwargs = {'hybrid': False}
    modules = SRGNN(10, hidden_channels=8, **kwargs)
    model = SRGNN(10, hidden_channels=8, fused=True, **kwargs)
    model.load_state_dict(modules.state_dict())
    data = batch_of(SESSIONS, 'count')
    x = model.embedding(data.x)
    edge_index, edge_weight = data.edge_index, data.edge_weight
    if change == 'sparse':
        edge_index = torch.sparse_coo_tensor(
            edge_index.flip(0), edge_weight, (x.size(0), x.size(0)),
            check_invariants=True).coalesce()
        edge_weight = None
    if change == 'edge_weight_grad':
        edge_weight = edge_weight.clone().requires_grad_()
    if change == 'hook':
        model.conv.register_forward_hook(lambda *args: None)
    indices = (data.alias_index, data.last_index, data.batch)
    if change == 'float16':  # the lookup would give float16 features
        assert not fused.supports(model, x.half(), edge_index, edge_weight,
                                  *indices)
        return
    if change == 'int32':
        int32 = [index.int() for index in indices]
        assert not fused.supports(model, x, edge_index, edge_weight, *int32)
        return
    assert not fused.supports(model, x, edge_index, edge_weight, *indices)

    calls = []
    model.conv.register_forward_pre_hook(lambda *args: calls.append(True))
    out = model.session_embedding(data.x, edge_index, data.alias_index,
                                  data.last_index, data.batch, edge_weight)
    expected = modules.session_embedding(data.x, edge_index,
                                         data.alias_index, data.last_index,
                                         data.batch, edge_weight)
    assert calls == [True]  # the modules ran
    assert torch.allclose(out, expected)


def test_build_failure_warns_once_and_uses_modules(monkeypatch):
    monkeypatch.setattr(fused, '_kernel', None)
    monkeypatch.setattr(fused, '_error', 'RuntimeError: no compiler')
    monkeypatch.setattr(fused, '_warned', False)
    torch.manual_seed(0)
    model = SRGNN(10, hidden_channels=8, fused=True)
    modules = SRGNN(10, hidden_channels=8)
    modules.load_state_dict(model.state_dict())
    with pytest.warns(UserWarning, match='could not be built.*no compiler'):
        out = model.score_sessions(SESSIONS)
    assert torch.allclose(out, modules.score_sessions(SESSIONS))
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # no second warning
        model.score_sessions(SESSIONS)


def test_build_flags_select_pytorch_vector_types(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability',
                        lambda: 'AVX2')
    capability, flags = fused.build_flags()
    assert capability == 'AVX2'
    assert '-DCPU_CAPABILITY=AVX2' in flags and '-mavx2' in flags
    monkeypatch.setattr(torch.backends.cpu, 'get_cpu_capability',
                        lambda: 'SVE256')
    capability, flags = fused.build_flags()
    assert capability == 'DEFAULT'
    assert not any(flag.startswith('-DCPU_CAPABILITY') for flag in flags)


@pytest.mark.parametrize('field, match', [
    ('edge_index', 'edge_index holds node 40, but there are'),
    ('batch', 'batch puts a clicked node in session 6, but last_index has 6'),
])
def test_fused_bad_indices_raise_clear_errors(kernel, field, match):
    model = SRGNN(10, hidden_channels=8, fused=True)
    data = batch_of(SESSIONS)
    inputs = {'edge_index': data.edge_index.clone(),
              'batch': data.batch.clone()}
    inputs[field][-1] = 40 if field == 'edge_index' else 6
    with pytest.raises(RuntimeError, match=match):
        model.session_embedding(data.x, inputs['edge_index'],
                                data.alias_index, data.last_index,
                                inputs['batch'])


def test_fused_with_niser_normalisation(kernel, monkeypatch):
    # The normalisation and dropout lie outside the kernel, which still
    # runs; position embeddings are not covered.
    calls = []
    apply = fused.SessionEmbedding.apply
    monkeypatch.setattr(fused.SessionEmbedding, 'apply',
                        lambda *args: calls.append(True) or apply(*args))
    torch.manual_seed(0)
    modules = SRGNN(10, hidden_channels=20, norm_scale=16.0).double()
    fused_model = SRGNN(10, hidden_channels=20, norm_scale=16.0,
                        fused=True).double()
    fused_model.load_state_dict(modules.state_dict())
    data = batch_of(SESSIONS)
    out, grads = embeddings_and_gradients(modules, data, torch.float64)
    fused_out, fused_grads = embeddings_and_gradients(fused_model, data,
                                                      torch.float64)
    assert calls == [True]  # the kernel ran, once, for the fused model
    assert torch.allclose(fused_out, out, atol=1e-12, rtol=0)
    for name, grad in grads.items():
        assert torch.allclose(fused_grads[name].to_dense(), grad.to_dense(),
                              atol=1e-12, rtol=0), name
    assert not fused.covers(SRGNN(10, max_positions=5, fused=True))
    assert fused.covers(SRGNN(10, norm_scale=16.0, dropout=0.1, fused=True))
