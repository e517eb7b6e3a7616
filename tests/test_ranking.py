import pytest
import torch

from pyg_srgnn.ranking import ItemRanker


def float32_topk(rows, session, k, exclude=None):
    scores = session @ rows.t()
    if exclude is not None:
        scores[exclude] = float('-inf')
    return scores.topk(k, dim=1)


@pytest.mark.parametrize('bfloat16', [True, False])
@pytest.mark.parametrize('k', [1, 20, 300])
def test_the_ranking_is_the_float32_ranking(bfloat16, k):
    # Through bfloat16 candidates or not: the float32 ranking's items and
    # scores, with and without items left out.
    torch.manual_seed(0)
    rows = torch.randn(3000, 48) * torch.rand(3000, 1)  # uneven norms
    session = torch.randn(33, 48) * 4
    ranker = ItemRanker(rows, bfloat16=bfloat16)
    assert ranker.bfloat16 == bfloat16
    exclude = (torch.tensor([0, 0, 5, 32]), torch.tensor([7, 11, 0, 2999]))
    for left_out in (None, exclude):
        values, columns = ranker.topk(session, k, left_out)
        expected_values, expected_columns = float32_topk(rows, session, k,
                                                         left_out)
        assert torch.equal(columns, expected_columns)
        assert torch.allclose(values, expected_values, atol=1e-5)
    # A lone session (ranked in float32 in any case).
    values, columns = ranker.topk(session[:1], k)
    assert torch.equal(columns, float32_topk(rows, session[:1], k)[1])
    assert torch.allclose(ranker.scores(session), session @ rows.t(),
                          atol=1e-5)


def test_alike_scores_are_ranked_in_full():
    # Items scored alike leave more candidates than the gathered top: those
    # sessions are ranked in float32 in full, the others through bfloat16.
    torch.manual_seed(0)
    rows = torch.randn(2000, 16)
    rows[:500] = rows[0]  # 500 items scored alike, first for session 0
    session = torch.randn(3, 16)
    session[0] = rows[0] * 3
    ranker = ItemRanker(rows, bfloat16=True)
    values, columns = ranker.topk(session, 10)
    expected_values, expected_columns = float32_topk(rows, session, 10)
    assert torch.allclose(values, expected_values, atol=1e-5)
    assert (columns[0] < 500).all()  # any 10 of the alike items
    assert torch.equal(columns[1:], expected_columns[1:])


def test_more_left_out_than_there_are_to_rank():
    torch.manual_seed(0)
    rows = torch.randn(200, 8)
    session = torch.randn(2, 8)
    everything = (torch.zeros(195, dtype=torch.long), torch.arange(195))
    values, columns = ItemRanker(rows, bfloat16=True).topk(session, 10,
                                                           everything)
    assert set(columns[0, :5].tolist()) == set(range(195, 200))
    assert values[0, 5:].eq(float('-inf')).all()
    expected_values, expected_columns = float32_topk(rows, session, 10)
    assert torch.equal(columns[1], expected_columns[1])


def test_other_types_rank_in_their_own():
    torch.manual_seed(0)
    rows = torch.randn(300, 8, dtype=torch.float64)
    session = torch.randn(4, 8, dtype=torch.float64)
    ranker = ItemRanker(rows)
    assert not ranker.bfloat16
    values, columns = ranker.topk(session, 5)
    assert values.dtype == torch.float64
    assert torch.equal(columns, float32_topk(rows, session, 5)[1])
    with pytest.raises(ValueError, match=r'Expected floating-point rows '
                       r'\[num_items, F\], got torch.int64 of shape '
                       r'\(3, 2\)'):
        ItemRanker(torch.zeros(3, 2, dtype=torch.long))
