r"""Expecting the :class:`ValueError` of a reader of files, shared by the
tests of the readers."""
import re

import pytest


def raises_naming(path, message):
    r"""Expects a :class:`ValueError` whose message names :obj:`path`."""
    return pytest.raises(ValueError, match=re.escape(f'{path}{message}'))


def raises_exactly(message):
    r"""Expects a :class:`ValueError` whose message is :obj:`message`."""
    return pytest.raises(ValueError, match=f'^{re.escape(message)}$')
