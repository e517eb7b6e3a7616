"""How the C library's memory allocator treats the large blocks a training
step frees."""
import ctypes
import ctypes.util

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    r"""Asks glibc's :obj:`malloc` to keep the memory this process frees: no
    trimming of the heap and no separate mappings for large blocks, for the
    rest of the process.

    A training step allocates and frees several tensors of
    :obj:`batch_size * num_items` floats (the scores, their gradient, the
    item table's gradient: 17 MB each on Diginetica). With the default
    settings, :obj:`malloc` at times hands such blocks back to the system,
    and the next step faults their pages in again, thousands of page faults
    per step. Kept, the blocks are reused as they are. The process keeps its
    peak memory, which a training run reaches in its first steps anyway.

    Returns whether the C library took both settings (:obj:`False` off
    glibc, where nothing changes).
    """
    name = ctypes.util.find_library('c')
    if name is None:
        return False
    mallopt = getattr(ctypes.CDLL(name), 'mallopt', None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30)
                and mallopt(_M_MMAP_THRESHOLD, 1 << 30))
