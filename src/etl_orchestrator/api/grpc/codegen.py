"""The gRPC code generated from ``proto/etl/v1/etl.proto`` (never written by hand, never committed).

``make proto`` (a dependency of ``make install``) runs ``python -m grpc_tools.protoc`` with the
arguments of ``protoc_args``; for ``pip install -e .`` users, ``ensure_generated`` does the same on
first import when the code is missing or older than the proto. The proto is mapped to the virtual
path ``etl_orchestrator/api/grpc/generated/etl.proto``, so protoc writes the modules straight into
this package and the stub imports ``etl_pb2`` by its package path, with no rewriting afterwards.
Generation goes through a temporary directory and a file lock: processes starting together (an API
and its tests) never import a half-written module.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from importlib import resources
from pathlib import Path

GENERATED_DIR = Path(__file__).resolve().parent / "generated"
VIRTUAL_DIR = "etl_orchestrator/api/grpc/generated"
REPO_PROTO = Path(__file__).resolve().parents[4] / "proto" / "etl" / "v1" / "etl.proto"
OUTPUTS = ("etl_pb2.py", "etl_pb2.pyi", "etl_pb2_grpc.py")


class ProtoCodegenError(RuntimeError):
    """The gRPC code is missing and cannot be generated (no proto beside the package, or protoc failed)."""


def protoc_args(proto_dir: str, out_dir: str) -> list[str]:
    """What ``python -m grpc_tools.protoc`` is given (the Makefile's ``proto`` target runs the same)."""
    return [f"-I{VIRTUAL_DIR}={proto_dir}", f"--python_out={out_dir}", f"--pyi_out={out_dir}",
            f"--grpc_python_out={out_dir}", f"{VIRTUAL_DIR}/etl.proto"]


def is_stale(proto: Path = REPO_PROTO) -> bool:
    outputs = [GENERATED_DIR / name for name in OUTPUTS]
    if not all(path.exists() for path in outputs):
        return True
    return proto.exists() and proto.stat().st_mtime > min(path.stat().st_mtime for path in outputs)


def generate(proto: Path = REPO_PROTO) -> None:
    from grpc_tools import protoc

    if not proto.exists():
        raise ProtoCodegenError(f"the gRPC code is not generated and {proto} is missing; run `make proto` in a "
                                f"source checkout (or install a built wheel, which ships the code)")
    GENERATED_DIR.mkdir(parents=True, exist_ok=True)
    with open(GENERATED_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_stale(proto):  # another process generated it while we waited
            return
        with tempfile.TemporaryDirectory(dir=GENERATED_DIR) as scratch:
            well_known = resources.files("grpc_tools") / "_proto"
            code = protoc.main(["grpc_tools.protoc", f"-I{well_known}", *protoc_args(str(proto.parent), scratch)])
            if code != 0:
                raise ProtoCodegenError(f"protoc failed ({code}) on {proto}")
            for name in OUTPUTS:
                os.replace(Path(scratch) / VIRTUAL_DIR / name, GENERATED_DIR / name)


def ensure_generated() -> None:
    if is_stale():
        generate()


if __name__ == "__main__":
    generate()
