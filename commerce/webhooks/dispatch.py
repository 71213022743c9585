"""Route verified events to handlers through a dict keyed by event class; unknown types are ignored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from commerce.events import WebhookEvent

Outcome = TypeVar("Outcome")
Event = TypeVar("Event", bound=WebhookEvent)


@dataclass(frozen=True, slots=True)
class DispatchResult(Generic[Outcome]):
    provider: str
    event_id: str
    event_type: str
    handled: bool
    outcome: Outcome | None = None


class WebhookDispatcher(Generic[Outcome]):
    """`dispatcher.on(ShopifyOrderCreated, record_order)`; each handler sees exactly its event type.

    Deduplication is the caller's job (a unique constraint on provider + event_id), done before
    dispatch so a replayed delivery never reaches a handler.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[Any], Callable[[Any], Outcome]] = {}

    def on(self, event_class: type[Event], handler: Callable[[Event], Outcome]) -> None:
        self._handlers[event_class] = handler

    def dispatch(self, event: WebhookEvent) -> DispatchResult[Outcome]:
        handler = self._handlers.get(type(event))
        if handler is None:
            return DispatchResult(event.provider, event.event_id, event.event_type, handled=False)
        return DispatchResult(
            event.provider, event.event_id, event.event_type, handled=True, outcome=handler(event)
        )
