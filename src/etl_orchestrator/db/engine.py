"""Engines and connections: async SQLAlchemy for the API and service layer, sync for activities."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from etl_orchestrator.config import DatabaseSettings


def to_sqlalchemy_url(url: str) -> str:
    return DatabaseSettings(url=url).sqlalchemy_url


def to_libpq_url(url: str) -> str:
    return DatabaseSettings(url=url).libpq_url


def make_async_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(to_sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size,
                               pool_pre_ping=True, pool_recycle=1800)


@lru_cache(maxsize=8)
def sync_engine(url: str, pool_size: int = 10) -> Engine:
    """One pooled engine per URL per process (activities run in threads and share it)."""
    return create_engine(to_sqlalchemy_url(url), pool_size=pool_size, max_overflow=pool_size,
                         pool_pre_ping=True, pool_recycle=1800)
