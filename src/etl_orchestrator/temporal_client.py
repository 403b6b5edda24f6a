"""Connecting to Temporal with the project's data converter (pydantic models in payloads)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from etl_orchestrator.config import Settings


async def connect_temporal(settings: Settings, **kwargs) -> Client:
    return await Client.connect(settings.etl.temporal.address, namespace=settings.etl.temporal.namespace,
                                data_converter=pydantic_data_converter, **kwargs)
