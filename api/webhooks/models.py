"""Provider deliveries already processed (dedupe by provider event id)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from api.columns import created_at_field, id_field


class ProcessedWebhook(SQLModel, table=True):
    """Each verified provider event once: a redelivery hits the unique constraint and changes nothing."""

    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_webhook_provider_event"),)

    id: uuid.UUID = id_field()
    provider: str = Field(max_length=20)
    event_id: str = Field(max_length=200)
    event_type: str = Field(max_length=100)
    outcome: str = Field(default="", max_length=200)
    received_at: datetime = created_at_field()
