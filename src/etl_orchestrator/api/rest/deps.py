"""Dependencies of routes: the service context and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from etl_orchestrator.service.auth import authenticate
from etl_orchestrator.service.context import Principal, ServiceContext

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer etl_…`")


def get_context(request: Request) -> ServiceContext:
    return request.app.state.ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


async def get_principal(ctx: ContextDep,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    principal = await authenticate(ctx, credentials.credentials if credentials else None)
    if principal is None:
        raise HTTPException(401, "missing, unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        # 404, not 403: an org key must not learn that admin resources exist.
        raise HTTPException(404, "not found")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
