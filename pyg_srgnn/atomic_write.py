r"""Writing a file whole: readers see the old file or the new one, never a
partial one."""
import contextlib
import os
from typing import Iterator


@contextlib.contextmanager
def written_whole(path: str) -> Iterator[str]:
    r"""Yields a temporary path next to :obj:`path` to write to, then renames
    it over :obj:`path`: a process that reads :obj:`path` meanwhile (another
    one processing the same data set, say) sees the old file or the whole new
    one, never a partial one, and an interrupted write leaves the old file
    and no temporary behind."""
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
