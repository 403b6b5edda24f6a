"""Dependencies of routes: the service context, the authenticated principal, typed path parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from etl_orchestrator.service.auth import authenticate
from etl_orchestrator.service.context import Principal, ServiceContext

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer etl_…`")


# Every dependency here is ``async def``: FastAPI runs a plain ``def`` one in its thread pool, a
# thread hop per request for nothing.


async def get_context(request: Request) -> ServiceContext:
    return request.app.state.ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


async def get_principal(ctx: ContextDep,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    principal = await authenticate(ctx, credentials.credentials if credentials else None)
    if principal is None:
        raise HTTPException(401, "missing, unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _query_aliases(dependant: Dependant) -> set[str]:
    """The query parameters a route and its dependencies declare (a walk of a handful of nodes)."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_aliases(sub)
    return names


async def reject_unknown_query_parameters(request: Request) -> None:
    """A query parameter the route does not declare is refused (422 naming it), not ignored: a typo
    such as ``?stauts=failed`` would otherwise answer every execution, as if no filter had been given."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    unknown = sorted(set(request.query_params) - _query_aliases(dependant))
    if unknown:
        raise RequestValidationError([{"loc": ("query", name), "msg": "unknown query parameter",
                                       "type": "extra_forbidden"} for name in unknown])


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        # 404, not 403: an org key must not learn that admin resources exist.
        raise HTTPException(404, "not found")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]

# Organization ids are PostgreSQL INTEGERs: larger values would be a database error, not a 404.
OrgIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="Organization id.")]
LimitQuery = Annotated[int, Query(ge=1, le=500, description="Page size.")]
CursorQuery = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]
