import pytest
import torch
from test_srgnn import SESSIONS

from pyg_srgnn.nn import SRGNN, SRSAN

MODELS = {
    'srgnn': lambda: SRGNN(10, hidden_channels=8),
    'niser': lambda: SRGNN(10, hidden_channels=8, norm_scale=16.0),
    'niser-plus': lambda: SRGNN(10, hidden_channels=8, norm_scale=16.0,
                                dropout=0.1, max_positions=3),
    'niser-plus-rev': lambda: SRGNN(10, hidden_channels=8, norm_scale=16.0,
                                    dropout=0.1, max_positions=3,
                                    reverse_positions=True),
    'srsan': lambda: SRSAN(10, hidden_channels=8, ff_channels=16),
}


@pytest.mark.parametrize('name', list(MODELS))
def test_a_session_alone_scores_as_in_a_batch(name):
    # In a batch, a session's clicks are padded to the longest session's:
    # padding must not reach its scores.
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    together = model.score_sessions(SESSIONS)
    assert together.size() == (len(SESSIONS), 10)
    for i, session in enumerate(SESSIONS):
        alone = model.score_sessions([session])
        assert torch.allclose(alone[0], together[i], atol=1e-5)


@pytest.mark.parametrize('name', list(MODELS))
def test_recommend_and_item_logits(name):
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    scores = model.score_sessions(SESSIONS[:2])
    top = model.recommend(SESSIONS[:2], k=3)
    assert torch.equal(top, scores.topk(3).indices + 1)
    with pytest.raises(ValueError, match="'k' must be between 1 and"):
        model.recommend(SESSIONS[:1], k=11)
    with pytest.raises(ValueError, match="'num_items' must be at least 1"):
        type(model)(0)


@pytest.mark.parametrize('name', list(MODELS))
def test_the_scoring_rows_score_as_the_item_table(name):
    # Inference's rows (NISER: the normalised table times the scale) give
    # the training forward's scores.
    from test_srgnn import batch_of
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    rows = model.scoring_rows()
    assert rows.size() == (10, 8) and not rows.requires_grad
    session = model.session_embedding_batch(batch_of(SESSIONS))
    assert torch.allclose(session @ rows.t(), model.score_sessions(SESSIONS),
                          atol=1e-5)


def test_a_baseline_has_no_scoring_rows():
    from pyg_srgnn.baselines import POP
    assert POP(10).scoring_rows() is None


def test_initialisation_is_the_official_uniform():
    for model in (SRGNN(10, hidden_channels=16), SRSAN(10, 16)):
        bound = 1 / 4
        values = torch.cat([p.detach().flatten()
                            for p in model.parameters()])
        assert values.abs().max() <= bound
        assert values.min() < -bound / 2 and values.max() > bound / 2


def test_models_without_an_embedding_or_attention_say_so():
    from test_srgnn import batch_of

    from pyg_srgnn.baselines import POP

    model = POP(10)
    with pytest.raises(ValueError, match='POP has no session embedding'):
        model.session_embedding_batch(batch_of(SESSIONS))
    with pytest.raises(ValueError, match='POP has no attention weights'):
        model.attention_weights(batch_of(SESSIONS))
