"""Hand-written types for the answers the served OpenAPI document does not
describe yet (events, deliveries, audit events and list pages); everything
else is generated into ``_models.py``."""

from __future__ import annotations

from typing import Any, Generic, Optional, TypeVar

from typing_extensions import TypedDict

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: Optional[str]


class EventData(TypedDict):
    object: dict[str, Any]


class Event(TypedDict):
    """An event as webhooks deliver it and ``GET /v1/events`` lists it."""

    id: str
    type: str
    created_at: str
    env: str
    data: EventData


class DeliveryAttempt(TypedDict):
    attempt: int
    attempted_at: str
    response_status: Optional[int]
    duration_ms: int
    response_body: str
    error: Optional[str]


class Delivery(TypedDict):
    id: str
    object: str
    endpoint: str
    event: str
    event_type: str
    status: str
    next_attempt_at: Optional[str]
    created_at: str
    attempts: list[DeliveryAttempt]


class AuditEvent(TypedDict):
    id: str
    object: str
    action: str
    outcome: str
    reason: Optional[str]
    actor: Optional[str]
    ip: Optional[str]
    details: Any
    created_at: str
