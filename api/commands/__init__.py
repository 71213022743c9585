"""CLI command groups. Each module exposes `register(app: typer.Typer) -> None`.

`registered_modules()` lists them in one place so that `api.cli` stays a few lines and each group
(server, catalog, episodes, keys, db, tagging, models, evaluation) can be owned and tested alone.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Order is the order they appear in `reelcart --help`.
_COMMAND_MODULES = (
    "api.commands.server",
    "api.commands.db",
    "api.commands.keys",
    "api.commands.catalog",
    "api.commands.episodes",
    "api.commands.tag",
    "api.commands.link",
    "api.commands.worker",
    "api.commands.models",
    "api.commands.evaluate",
)


def registered_modules() -> list[ModuleType]:
    """Import every command module that exists (groups land as their issues do)."""
    modules = []
    for name in _COMMAND_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
    return modules
