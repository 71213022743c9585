"""What a webhook delivery is answered with."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WebhookReceipt(BaseModel):
    received: bool = True
    event_id: str
    event_type: str
    duplicate: bool = Field(description="Already processed: acknowledged, nothing changed")
    handled: bool = Field(description="False for event types ReelCart does not act on")
    outcome: str
