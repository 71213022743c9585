"""Column types and field factories every table uses (UTC timestamps, ids, money)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import JSON, DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field

# Money columns: 12 significant digits with 3 decimals covers every ISO 4217 minor unit (KWD has 3).
MONEY_DIGITS = 12
MONEY_DECIMALS = 3


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware values")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumText(TypeDecorator[E]):
    """A `StrEnum` stored as its value in a VARCHAR: rows read back hold members, not bare strings,
    and the column is the plain string column the migrations declare."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


def id_field() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def optional_timestamp_field() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


def json_field(*, default_factory: Any) -> Any:
    return Field(default_factory=default_factory, sa_type=JSON, nullable=False)


def money_field(default: Decimal | None = None) -> Any:
    column = Numeric(MONEY_DIGITS, MONEY_DECIMALS, asdecimal=True)
    if default is None:
        return Field(sa_type=column, nullable=False)
    return Field(default=default, sa_type=column, nullable=False)


# The largest amount a money column holds (999999999.999): totals past it are refused before they are
# sent to a provider or stored.
MAX_MONEY = Decimal(10) ** (MONEY_DIGITS - MONEY_DECIMALS) - Decimal(1).scaleb(-MONEY_DECIMALS)


def quantize_money(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-MONEY_DECIMALS))
