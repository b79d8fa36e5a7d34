"""The CPU kernel benchmarks' memory rule: keep freed memory in malloc's heap.

On this VM a fresh 14.7 MB layer output that malloc serves by ``mmap`` faults in new pages on
every call, and those faults cost as much as an fp32 3x3 convolution of the same size; they came
and went between runs (10.5 vs 21-26 ms for the same conv) and flipped benchmark verdicts. The
benchmarks in ``suites/`` that time CPU kernels call :func:`keep_freed_memory` first and say in
their notes whether it took effect.
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>


def keep_freed_memory() -> bool:
    """Ask glibc malloc to serve blocks up to 1 GiB from its heap and keep freed memory
    (``mallopt`` M_MMAP_THRESHOLD = M_TRIM_THRESHOLD = 1 GiB), so that outputs reuse pages
    instead of faulting in new ones. Process-wide and permanent. False where the C library has
    no ``mallopt`` (the timings then include the faults)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError, TypeError):
        return False
