r"""A tiny training log whose statistics the baseline tests work out by
hand, and helpers to fit and rank on it."""
import torch

# Sessions in time order (t0 the oldest). Clicks per item: 1: 3, 2: 3 (twice
# in t1), 3: 3, 4: 2, 5: 2, 6: 0, so POP's order is 1, 2, 3, 4, 5, 6.
TRAIN = [[1, 2, 3], [2, 3, 4, 2], [1, 5], [3, 4, 5, 1]]
NUM_ITEMS = 6


def flat(sessions):
    r"""Sessions as :obj:`(clicks, ptr)`."""
    clicks = torch.tensor([item for session in sessions for item in session])
    lengths = torch.tensor([len(session) for session in sessions])
    ptr = torch.cat([torch.zeros(1, dtype=torch.long),
                     torch.cumsum(lengths, 0)])
    return clicks, ptr


def fitted(model, sessions=TRAIN):
    return model.fit_sessions(*flat(sessions))


def ranking(model, session):
    r"""The model's ranking of all items for one session, best first."""
    scores = model.score_sessions([session])[0]
    return (scores.argsort(descending=True) + 1).tolist()
