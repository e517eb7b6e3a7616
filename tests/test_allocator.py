import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
                    reason='mallopt is a glibc function')
def test_keep_freed_memory_takes_on_glibc():
    # In a child process: the setting lasts for the whole process.
    out = subprocess.run(
        [sys.executable, '-c',
         'from pyg_srgnn.allocator import keep_freed_memory; '
         'print(keep_freed_memory())'], capture_output=True, text=True,
        check=True)
    assert out.stdout.strip() == 'True'
