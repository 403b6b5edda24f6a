"""REST and gRPC answer every error the same way: one table, checked against both mappings, over
every error class the domain and service layer define (a new class without a row fails here)."""

from __future__ import annotations

import grpc
import psycopg
import pytest
from sqlalchemy.exc import DBAPIError
from temporalio.service import RPCError, RPCStatusCode

from etl_orchestrator.api.grpc.errors import status_of
from etl_orchestrator.api.rest.problems import domain_problem
from etl_orchestrator.domain import errors as domain
from etl_orchestrator.lake import errors as lake
from etl_orchestrator.layers import pg as gold_db
from etl_orchestrator.service.errors import AlreadyExists, as_domain_error

EXPECTED = {
    domain.ValidationFailed: (422, grpc.StatusCode.INVALID_ARGUMENT),
    domain.NotFoundError: (404, grpc.StatusCode.NOT_FOUND),
    AlreadyExists: (409, grpc.StatusCode.ALREADY_EXISTS),
    domain.ConflictError: (409, grpc.StatusCode.FAILED_PRECONDITION),
    domain.SourceAuthError: (422, grpc.StatusCode.INVALID_ARGUMENT),
    domain.NetworkError: (503, grpc.StatusCode.UNAVAILABLE),
    domain.RateLimitError: (503, grpc.StatusCode.UNAVAILABLE),
    domain.SourceTimeoutError: (503, grpc.StatusCode.UNAVAILABLE),
    lake.LakeBusyError: (503, grpc.StatusCode.UNAVAILABLE),
    lake.LakeStorageError: (503, grpc.StatusCode.UNAVAILABLE),
    gold_db.GoldDatabaseError: (503, grpc.StatusCode.UNAVAILABLE),
    domain.DataError: (400, grpc.StatusCode.INVALID_ARGUMENT),
    lake.LakeSchemaError: (400, grpc.StatusCode.INVALID_ARGUMENT),
    domain.EtlError: (400, grpc.StatusCode.INVALID_ARGUMENT),
}


def all_subclasses(cls: type) -> set[type]:
    return {cls} | {sub for child in cls.__subclasses__() for sub in all_subclasses(child)}


def instance(cls: type[domain.EtlError]) -> domain.EtlError:
    return cls("field", "message") if issubclass(cls, domain.ValidationFailed) else cls("message")


def test_every_error_class_has_a_row():
    known = {cls for cls in all_subclasses(domain.EtlError) if cls.__module__.startswith("etl_orchestrator.")
             and not cls.__module__.startswith(("etl_orchestrator.events", "etl_orchestrator.connectors",
                                                "etl_orchestrator.sandbox"))}
    assert known <= set(EXPECTED), sorted(cls.__name__ for cls in known - set(EXPECTED))


@pytest.mark.parametrize("cls", list(EXPECTED), ids=lambda cls: cls.__name__)
def test_rest_and_grpc_agree(cls):
    status, code = EXPECTED[cls]
    error = instance(cls)
    assert domain_problem(error).status_code == status
    assert status_of(error)[0] == code


def test_validation_failures_name_the_field_in_both():
    error = domain.ValidationFailed("date_from", "after date_to")
    assert status_of(error)[2] == (("field", "date_from"),)
    assert b'"field":"date_from"' in domain_problem(error).body


@pytest.mark.parametrize(("exc", "expected"), [
    (DBAPIError("INSERT", {}, psycopg.errors.UniqueViolation("dup")), AlreadyExists),
    (DBAPIError("INSERT", {}, psycopg.errors.UntranslatableCharacter("\\u0000")), domain.ValidationFailed),
    (DBAPIError("SELECT", {}, psycopg.OperationalError("connection refused")), domain.NetworkError),
    (RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b""), domain.NetworkError),
])
def test_infrastructure_exceptions_map_onto_the_taxonomy(exc, expected):
    assert type(as_domain_error(exc)) is expected


def test_anything_else_is_a_bug_not_a_client_error():
    assert as_domain_error(KeyError("x")) is None
    assert as_domain_error(RPCError("bad", RPCStatusCode.INTERNAL, b"")) is None
