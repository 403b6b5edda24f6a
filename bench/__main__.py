"""``make bench``: every benchmark, one after another, each in its own process (none shares a core).

Each module prints its figures beside a reference measured in the same run; arguments after
``python -m bench`` choose modules by name (``python -m bench layers api``), all by default.
"""

from __future__ import annotations

import subprocess
import sys
import time

MODULES = ("ingestion", "layers", "orchestration", "api", "events")


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 2
    failed = []
    for name in names or MODULES:
        print(f"\n=== bench_{name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"bench.bench_{name}"])
        print(f"=== bench_{name}: {time.perf_counter() - started:.0f} s, exit {code}", flush=True)
        if code:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
