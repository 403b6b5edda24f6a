"""Memory allocator settings of the worker process: keep freed memory for the next partition.

A partition's layers allocate tens of megabytes and free them (the downloaded file read whole,
Polars' columns, the Parquet and COPY buffers), and the next partition allocates as much again.
Both allocators in the process hand that memory back to the kernel almost at once, so every
partition faults it in again, page by page, each page zeroed by the kernel:

- glibc (Python, pyarrow, pgpq) serves a block above its mmap threshold (128 KiB to start) with
  its own ``mmap`` and unmaps it on ``free``;
- Polars' jemalloc purges dirty pages after 500 ms (Polars' own setting, made for notebooks).

In a 60-day backfill of 125k-row days on the dev stack, ``clear_page_erms`` alone was 11 % of the
worker's CPU (``perf``). With the settings below the worker used 1,038–1,085 ms of CPU per
partition against 1,229–1,271 ms without (``bench/bench_orchestration.py --skip latency,throughput
--backfill-days 60``, interleaved). The memory is still returned: jemalloc after 10 s without use,
glibc when more than ``TRIM_THRESHOLD`` is free at the top of its heap.

A variable set by the operator (``_RJEM_MALLOC_CONF``, ``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``) wins over these defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from dataclasses import dataclass

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling on 64-bit; larger blocks still get their own mmap
TRIM_THRESHOLD = 256 * 1024 * 1024
JEMALLOC_DECAY = "dirty_decay_ms:10000,muzzy_decay_ms:10000"  # jemalloc's own defaults

_M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
_M_MMAP_THRESHOLD = -3


@dataclass(frozen=True)
class AllocatorSettings:
    """What ``keep_freed_memory`` applied (False: left as it was, and why is in the docstring)."""

    glibc: bool
    jemalloc: bool


def keep_freed_memory() -> AllocatorSettings:
    """Apply the settings above to this process; call it before Polars is imported.

    glibc's are set with ``mallopt`` (no effect on another C library). Polars reads
    ``_RJEM_MALLOC_CONF`` when it is imported, appending it to its own settings, so once Polars is
    imported it is too late for jemalloc.
    """
    jemalloc = False
    if "polars" not in sys.modules and "_RJEM_MALLOC_CONF" not in os.environ:
        os.environ["_RJEM_MALLOC_CONF"] = JEMALLOC_DECAY
        jemalloc = True
    return AllocatorSettings(glibc=_tune_glibc(), jemalloc=jemalloc)


def _tune_glibc() -> bool:
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS): its allocator keeps its defaults
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # Setting either also stops glibc from raising its mmap threshold on its own as blocks are freed.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
