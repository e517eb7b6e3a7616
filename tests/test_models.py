from dataclasses import dataclass
from typing import ClassVar

import pytest

from pyg_srgnn.baselines import POP
from pyg_srgnn.checkpoint import load_checkpoint, model_from_checkpoint
from pyg_srgnn.config import FitConfig
from pyg_srgnn.models import (
    MODELS,
    BaselineConfig,
    SRGNNConfig,
    model_config,
    model_option_names,
    option,
    register_model,
)
from pyg_srgnn.nn import SRGNN, SRSAN
from pyg_srgnn.train import fit


def test_registry_names_every_model():
    assert list(MODELS) == ['srgnn', 'srsan', 'pop', 'spop', 'itemknn',
                            'sknn', 'vsknn', 'stan']
    assert isinstance(model_config('srgnn').build(10), SRGNN)
    assert isinstance(model_config('srsan', hidden_channels=8,
                                   heads=2).build(10), SRSAN)
    assert [MODELS[name].neural for name in MODELS] == [True, True] + [
        False] * 6
    # Each model has its own defaults; no baseline has an embedding size.
    assert model_config('srgnn').hidden_channels == 100
    assert model_config('srsan').hidden_channels == 96
    assert model_option_names()['hidden_channels'] == ['srgnn', 'srsan']
    assert model_option_names()['neighbors'] == ['itemknn', 'sknn',
                                                 'vsknn', 'stan']


def test_baseline_options_reach_the_model():
    model = model_config('vsknn', neighbors=20, sample_size=0,
                         similarity='cosine', weighting='quadratic',
                         idf_weighting=2.0).build(5)
    assert model.hyperparameters() == dict(
        k=20, sample_size=0, similarity='cosine', weighting='quadratic',
        weighting_score='div', idf_weighting=2.0)
    item_knn = model_config('itemknn', neighbors=7, alpha=0.25).build(5)
    assert (item_knn.num_neighbors, item_knn.alpha) == (7, 0.25)


@pytest.mark.parametrize('name,options,match', [
    ('gru4rec', {}, "Invalid 'model': 'gru4rec'"),
    ('srgnn', {'heads': 4}, "'heads' is an option of srsan, not of srgnn"),
    ('pop', {'neighbors': 4}, "'neighbors' is an option of itemknn, sknn, "
     "vsknn, stan, not of pop"),
    ('sknn', {'similarity': 'vec'}, "'similarity'.*one of cosine, jaccard"),
    ('vsknn', {'weighting': 'cubic'}, "'weighting'.*one of same"),
    ('itemknn', {'neighbors': 0}, "'neighbors': 0 .*at least 1"),
    ('stan', {'lambda_inh': 0.0}, "'lambda_inh': 0.0 .*positive and finite"),
])
def test_model_options_are_checked(name, options, match):
    with pytest.raises(ValueError, match=match):
        model_config(name, **options)


def test_a_registered_model_trains_and_loads(tmp_path):
    @register_model
    @dataclass
    class RecentPOPConfig(BaselineConfig):
        name: ClassVar[str] = 'test-pop'
        title: ClassVar[str] = 'Test POP'
        baseline: ClassVar[type] = POP
        unused: int = option(3, 'An option of this model only.')

        def arguments(self):
            return {}

    try:
        config = FitConfig.from_options(model='test-pop', unused=4,
                                        root=str(tmp_path / 'data'),
                                        run_dir=str(tmp_path / 'run'),
                                        progress=False)
        result = fit(config, log=lambda message: None)
        assert result['epochs_run'] == 0
        checkpoint = load_checkpoint(str(tmp_path / 'run' / 'checkpoint.pt'))
        assert checkpoint['config']['model'] == {'name': 'test-pop',
                                                 'unused': 4}
        model, loaded = model_from_checkpoint(checkpoint)
        assert isinstance(model, POP) and loaded.model.unused == 4
    finally:
        del MODELS['test-pop']
    assert isinstance(FitConfig().model, SRGNNConfig)
