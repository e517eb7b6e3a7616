import pytest

from pyg_srgnn.data.dataset import DigineticaSample


@pytest.fixture(scope='session')
def sample(tmp_path_factory):
    r"""The shipped Diginetica sample: its training and test splits."""
    root = str(tmp_path_factory.mktemp('diginetica-sample'))
    return (DigineticaSample(root, split='train'),
            DigineticaSample(root, split='test'))
