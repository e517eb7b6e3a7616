r"""Type aliases shared across the package, as in
:mod:`torch_geometric.typing`."""
import os
from typing import Union

# A file path, as the built-in :func:`open` takes it.
PathLike = Union[str, os.PathLike]
