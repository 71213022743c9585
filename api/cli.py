"""The `reelcart` command. Sub-commands live in `api/commands/`, one module per group."""

from __future__ import annotations

import typer

from api.commands import registered_modules

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
