"""The C heap of a job: memory a job frees stays in its process for its next allocation.

glibc's malloc serves an allocation above its mmap threshold (128 KiB at first, raised to the size of each such
block freed) with fresh pages from the kernel, and gives pages back to the kernel when the free memory at the top
of its heap passes the trim threshold. A CPU training or evaluation loop frees and allocates activation-sized
buffers (0.1-30 MB) at every layer of every batch, and each one faulted its pages in again: an evaluation pass of
the tiny preset's PreAct ResNet-18 over 1000 images faulted in 22-27 thousand pages (about 100 MB) and took 116 ms
of CPU, against none and 85 ms with both thresholds set high (one thread of a 2-core machine; bench/heap.py
measures whole units of work). The memory a job holds is then its peak, which is what a cluster accounts for
anyway. Allocations above 32 MiB (glibc's largest mmap threshold) still come from the kernel and go back to it."""

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's maximum on 64-bit systems (a larger value is refused)
TRIM_THRESHOLD = 2**31 - 1  # mallopt's largest value (an int): the top of the heap stays up to 2 GiB


def keep_freed_memory() -> bool:
    """Set this process's malloc to keep freed memory (glibc on Linux); False where it cannot (another libc or
    system: nothing changes there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
