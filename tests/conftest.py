import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session')
def shared_data() -> Path:
    r"""The shared data folder (see its README): :obj:`$PYG_SRGNN_DATA`, else
    :obj:`<repo root>/../shared/data`. Tests that need it are skipped where
    it is absent, since it is not part of the repository."""
    path = Path(os.environ.get('PYG_SRGNN_DATA',
                               REPO_ROOT.parent / 'shared' / 'data'))
    if not path.is_dir():
        pytest.skip(f'shared data folder {path} not found '
                    f'(set PYG_SRGNN_DATA to its location)')
    return path
