"""The `reelcart` command: one module per command group in this package, each exposing
`register(app: typer.Typer) -> None`.

`_COMMAND_MODULES` lists them in one place, so this module stays a few lines and each group
(server, db, analytics, keys, catalog, episodes, tagging, linking, worker, models, detector,
evaluation) can be owned and tested alone.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import typer

# Order is the order they appear in `reelcart --help`.
_COMMAND_MODULES = (
    "api.cli.server",
    "api.cli.db",
    "api.cli.analytics",
    "api.cli.keys",
    "api.cli.catalog",
    "api.cli.episodes",
    "api.cli.tag",
    "api.cli.link",
    "api.cli.worker",
    "api.cli.models",
    "api.cli.detector",
    "api.cli.evaluate",
    "api.cli.evaluate_episode",
    "api.cli.evaluate_marks",
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


app = typer.Typer(
    name="reelcart",
    help="ReelCart: make short-form drama episodes shoppable.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in registered_modules():
    module.register(app)


def main() -> None:  # pragma: no cover - thin console-script shim
    app()
