import pytest
import torch

from pyg_srgnn.config import FitConfig
from pyg_srgnn.protocol import (
    CleanProtocol,
    PaperProtocol,
    get_protocol,
    split_by_session,
)


def test_split_by_session():
    session = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9])
    train, valid = split_by_session(session, 0.2)
    assert valid.tolist() == [12, 13]  # sessions 8 and 9, the latest
    assert train.tolist() == list(range(12))
    with pytest.raises(ValueError, match='from 1 training session'):
        split_by_session(torch.tensor([0, 0]), 0.1)


def test_split_by_random_sessions():
    session = torch.arange(100).repeat_interleave(3)  # 100 sessions of 3
    splits = [split_by_session(session, 0.1,
                               torch.Generator().manual_seed(seed))
              for seed in (0, 0, 1)]
    train, valid = splits[0]
    assert valid.numel() == 30 and train.numel() == 270
    valid_sessions = session[valid].unique()
    assert valid_sessions.numel() == 10  # whole sessions, never cut
    assert not set(session[train].tolist()) & set(valid_sessions.tolist())
    assert valid_sessions.tolist() != list(range(90, 100))  # not the latest
    assert torch.equal(splits[1][1], valid)  # the same seed, the same split
    assert not torch.equal(splits[2][1], valid)


def test_clean_protocol_keeps_the_best_epoch_by_the_monitor():
    config = FitConfig.from_options(monitor='MRR@20')
    protocol = get_protocol('clean')
    assert isinstance(protocol, CleanProtocol) and protocol.keeps_best
    state = {'best': {}, 'best_epoch': {}}
    epochs = [{'HR@20': 0.5, 'MRR@20': 0.2}, {'HR@20': 0.6, 'MRR@20': 0.1},
              {'HR@20': 0.4, 'MRR@20': 0.3}, {'HR@20': 0.7, 'MRR@20': 0.3}]
    improved = [protocol.update(state, metrics, epoch, config.training)
                for epoch, metrics in enumerate(epochs, 1)]
    # A tie is no improvement.
    assert improved == [True, False, True, False]
    assert state == {'best': epochs[2], 'best_epoch': {'MRR@20': 3}}
    session = torch.arange(10).repeat_interleave(2)
    train, valid = protocol.split(config.training, session)
    assert valid.tolist() == [18, 19]  # the latest session


def test_paper_protocol_keeps_the_best_of_each_metric():
    config = FitConfig.from_options(protocol='paper', ks=(20, ))
    protocol = get_protocol('paper')
    assert isinstance(protocol, PaperProtocol) and not protocol.keeps_best
    state = {'best': {}, 'best_epoch': {}}
    epochs = [{'HR@20': 0.5, 'MRR@20': 0.2, 'NDCG@20': 0.3},
              {'HR@20': 0.5, 'MRR@20': 0.1, 'NDCG@20': 0.1},
              {'HR@20': 0.4, 'MRR@20': 0.15, 'NDCG@20': 0.4}]
    improved = [protocol.update(state, metrics, epoch, config.training)
                for epoch, metrics in enumerate(epochs, 1)]
    # Epoch 2 ties HR@20 (official: a tie counts); epoch 3 betters only
    # NDCG@20, which is not one of the official two.
    assert improved == [True, True, False]
    assert state['best'] == {'HR@20': 0.5, 'MRR@20': 0.2, 'NDCG@20': 0.4}
    assert state['best_epoch'] == {'HR@20': 2, 'MRR@20': 1, 'NDCG@20': 3}
    assert protocol.split(config.training, torch.arange(4)) == (None, None)
    with pytest.raises(ValueError, match="Unknown protocol 'best'"):
        get_protocol('best')
