"""The gRPC server: standard health checking and server reflection (plus services registered by callers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

Registrar = Callable[[grpc.aio.Server], Sequence[str]]


async def start_grpc_server(host: str, port: int, registrars: Sequence[Registrar] = ()) -> tuple[grpc.aio.Server, int]:
    """Start serving; returns the server and the bound port. Each registrar adds services, returns their names."""
    server = grpc.aio.server()
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    service_names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    for register in registrars:
        service_names.extend(register(server))
    reflection.enable_server_reflection(service_names, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    for name in service_names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, bound
