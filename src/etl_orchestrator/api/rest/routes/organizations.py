"""Organizations (admin keys only) and their API keys (admin, or the organization's own keys).

Keys are shown once, in the answer that creates them; listings carry only the prefix, name and
dates. Revoking is immediate and idempotent.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from etl_orchestrator.api.rest.deps import (
    AdminDep,
    ContextDep,
    CursorQuery,
    LimitQuery,
    OrgIdPath,
    PrincipalDep,
)
from etl_orchestrator.api.rest.problems import problem_responses
from etl_orchestrator.api.rest.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyList,
    Organization,
    OrganizationCreate,
    OrganizationCreated,
    OrganizationList,
)
from etl_orchestrator.service import api_keys, organizations

router = APIRouter(prefix="/organizations", tags=["organizations"])


@router.post("", response_model=OrganizationCreated, status_code=201,
             summary="Create an organization and its first API key (admin)", responses=problem_responses(400, 409, 413))
async def create_organization(ctx: ContextDep, principal: AdminDep, body: OrganizationCreate) -> dict:
    return await organizations.create_organization_with_key(ctx, principal, name=body.name, slug=body.slug,
                                                            key_name=body.key_name)


@router.get("", response_model=OrganizationList, summary="List organizations (admin)")
async def list_organizations(ctx: ContextDep, principal: AdminDep, limit: LimitQuery = 50,
                             cursor: CursorQuery = None) -> dict:
    rows, next_cursor = await organizations.list_organizations(ctx, principal, limit=limit, cursor=cursor)
    return {"organizations": rows, "next_cursor": next_cursor}


@router.get("/{org_id}", response_model=Organization, summary="One organization (admin)")
async def get_organization(ctx: ContextDep, principal: AdminDep, org_id: OrgIdPath) -> dict:
    return await organizations.get_organization(ctx, principal, org_id)


@router.post("/{org_id}/api-keys", response_model=ApiKeyCreated, status_code=201,
             summary="Create an API key (shown once)", responses=problem_responses(400, 413))
async def create_api_key(ctx: ContextDep, principal: PrincipalDep, org_id: OrgIdPath, body: ApiKeyCreate) -> dict:
    return await api_keys.create_key(ctx, principal, org_id=org_id, name=body.name)


@router.get("/{org_id}/api-keys", response_model=ApiKeyList, summary="API keys of an organization (never the keys)")
async def list_api_keys(ctx: ContextDep, principal: PrincipalDep, org_id: OrgIdPath) -> dict:
    return {"api_keys": await api_keys.list_keys(ctx, principal, org_id=org_id)}


@router.post("/{org_id}/api-keys/{key_id}/revoke", response_model=ApiKey, summary="Revoke an API key")
async def revoke_api_key(ctx: ContextDep, principal: PrincipalDep, org_id: OrgIdPath, key_id: UUID) -> dict:
    return await api_keys.revoke_key(ctx, principal, org_id=org_id, key_id=key_id)
