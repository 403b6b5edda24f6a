"""The worker's allocator settings: memory freed by one partition is reused by the next, not faulted in again.

Each case runs in a fresh interpreter (the settings apply once per process, before Polars is
imported) and counts the minor page faults of allocating again what was just freed: a 24 MB
``bytes`` (glibc) and a 24 MB Polars column after 1.5 s idle (jemalloc; Polars alone purges after
500 ms). A page is 4 KiB, so a block faulted in whole costs about 6,000 faults.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

PROBE = r"""
import json, os, resource, sys, time
tuned = sys.argv[1] == "tuned"
if tuned:
    from etl_orchestrator.allocators import keep_freed_memory
    applied = keep_freed_memory()
import polars as pl

SIZE = 24 * 1024 * 1024

def faults(make, pause=0.0):
    block = make(); del block
    time.sleep(pause)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = make()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

print(json.dumps({
    "applied": [applied.glibc, applied.jemalloc] if tuned else None,
    "glibc": faults(lambda: bytearray(SIZE)),
    "jemalloc": faults(lambda: pl.Series(range(SIZE // 8), dtype=pl.Int64) * 2, pause=1.5),
}))
"""


def probe(mode: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if key not in ("_RJEM_MALLOC_CONF", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def test_freed_blocks_are_reused_without_faulting_them_in_again():
    default, tuned = probe("default"), probe("tuned")
    assert tuned["applied"] == [True, True]
    # Without the settings each block is faulted in whole; with them, reused.
    assert default["glibc"] > 4000 and tuned["glibc"] < 500, (default, tuned)
    assert default["jemalloc"] > 4000 and tuned["jemalloc"] < 1000, (default, tuned)


def test_settings_the_operator_chose_are_left_alone(monkeypatch):
    from etl_orchestrator import allocators

    monkeypatch.setenv("_RJEM_MALLOC_CONF", "dirty_decay_ms:0")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    applied = allocators.keep_freed_memory()
    assert applied == allocators.AllocatorSettings(glibc=False, jemalloc=False)
    assert os.environ["_RJEM_MALLOC_CONF"] == "dirty_decay_ms:0"
