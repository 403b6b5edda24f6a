"""The gRPC code is generated from the proto, never edited: the Makefile and the on-import fallback
run the same protoc command, and what is installed is exactly what that command produces now."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from etl_orchestrator.api.grpc import codegen

ROOT = Path(__file__).resolve().parents[2]


def makefile_protoc_args() -> list[str]:
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if "grpc_tools.protoc" in line)
    return shlex.split(line.split("-m grpc_tools.protoc", 1)[1])


def test_the_makefile_and_the_fallback_run_the_same_command():
    assert makefile_protoc_args() == codegen.protoc_args("proto/etl/v1", "src")


def test_the_generated_code_is_what_protoc_makes_of_the_current_proto(tmp_path):
    result = subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                             *codegen.protoc_args(str(codegen.REPO_PROTO.parent), str(tmp_path))],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for name in codegen.OUTPUTS:
        fresh = (tmp_path / codegen.VIRTUAL_DIR / name).read_text()
        assert fresh == (codegen.GENERATED_DIR / name).read_text(), name
    stub = (tmp_path / codegen.VIRTUAL_DIR / "etl_pb2_grpc.py").read_text()
    assert re.search(r"^from etl_orchestrator\.api\.grpc\.generated import etl_pb2 ", stub, re.M)


def test_generated_code_is_ignored_by_git():
    assert "src/etl_orchestrator/api/grpc/generated/" in (ROOT / ".gitignore").read_text().splitlines()


def test_a_checkout_without_generated_code_generates_it_on_first_import(tmp_path):
    """What a ``pip install -e .`` user without ``make`` gets: the first import runs protoc."""
    import shutil

    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "src" / "etl_orchestrator", copy / "src" / "etl_orchestrator",
                    ignore=shutil.ignore_patterns("__pycache__", "generated"))
    shutil.copytree(ROOT / "proto", copy / "proto")
    result = subprocess.run(
        [sys.executable, "-c", "from etl_orchestrator.api.grpc.protos import etl_pb2, etl_pb2_grpc; "
                               "print(etl_pb2.__file__); print(etl_pb2_grpc.EtlServiceStub.__name__)"],
        capture_output=True, text=True, env={"PYTHONPATH": str(copy / "src"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    generated = copy / "src" / "etl_orchestrator" / "api" / "grpc" / "generated"
    assert result.stdout.split() == [str(generated / "etl_pb2.py"), "EtlServiceStub"]
    assert {path.name for path in generated.glob("etl_pb2*")} == set(codegen.OUTPUTS)
