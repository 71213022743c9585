"""Dependencies shared by the commerce routers: the lazily loaded commerce settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.commerce_config import commerce_settings
from api.deps import SettingsDep
from commerce.settings import CommerceSettings


def _commerce(request: Request, settings: SettingsDep) -> CommerceSettings:
    return commerce_settings(request.app.state, settings)


CommerceDep = Annotated[CommerceSettings, Depends(_commerce)]
