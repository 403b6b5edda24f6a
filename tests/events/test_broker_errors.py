"""The nats-py boundary: every nats error becomes one of ours, and outages are the transient kind."""

from __future__ import annotations

import inspect

import nats.errors
import nats.js.errors
import pytest

from etl_orchestrator.domain.errors import TRANSIENT_ERRORS
from etl_orchestrator.events.broker import translate_nats_errors
from etl_orchestrator.events.errors import BrokerRejected, BrokerUnavailable


def every_nats_error() -> list[type[BaseException]]:
    return sorted({cls for module in (nats.errors, nats.js.errors) for cls in vars(module).values()
                   if inspect.isclass(cls) and issubclass(cls, nats.errors.Error)}, key=lambda cls: cls.__qualname__)


def instance_of(cls: type[BaseException]) -> BaseException:
    try:
        return cls()
    except TypeError:
        return cls(*[None] * (len(inspect.signature(cls).parameters)))


@pytest.mark.parametrize("error_class", every_nats_error(), ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_every_nats_error_is_translated(error_class):
    with pytest.raises((BrokerUnavailable, BrokerRejected)) as raised, translate_nats_errors("publish", subject="s"):
        raise instance_of(error_class)
    assert isinstance(raised.value.__cause__, error_class)
    assert "NATS publish" in str(raised.value) and "subject=s" in str(raised.value)


@pytest.mark.parametrize("error", [
    nats.errors.TimeoutError(), nats.errors.NoServersError(), nats.errors.ConnectionClosedError(),
    nats.errors.ConnectionReconnectingError(), nats.errors.NoRespondersError(), ConnectionRefusedError(),
    nats.js.errors.ServiceUnavailableError(),
])
def test_outages_are_transient(error):
    with pytest.raises(BrokerUnavailable) as raised, translate_nats_errors("publish"):
        raise error
    assert isinstance(raised.value, TRANSIENT_ERRORS)


@pytest.mark.parametrize("error", [nats.errors.MaxPayloadError(), nats.errors.BadSubjectError(),
                                   nats.js.errors.BadRequestError()])
def test_a_wrong_message_is_terminal(error):
    with pytest.raises(BrokerRejected) as raised, translate_nats_errors("publish"):
        raise error
    assert raised.value.terminal
