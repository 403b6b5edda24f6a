"""The generated protobuf and gRPC modules of ``etl.v1`` (generated first if they are missing)."""

from etl_orchestrator.api.grpc.codegen import ensure_generated

ensure_generated()

from etl_orchestrator.api.grpc.generated import etl_pb2, etl_pb2_grpc  # noqa: E402

__all__ = ["etl_pb2", "etl_pb2_grpc"]
