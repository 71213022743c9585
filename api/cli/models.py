"""`reelcart models list|pull|verify`: the carded models and the files in the model dir."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from api.cli._common import load_tagger_settings
from tagger.exceptions import TaggerError
from tagger.models.cards import ModelCard
from tagger.models.registry import ModelState, list_cards, model_status, pull
from tagger.settings import TaggerSettings

models_app = typer.Typer(
    help="Model cards and weights: list, pull (with checksum), verify.", no_args_is_help=True
)

ModelDirOption = Annotated[
    Path | None,
    typer.Option("--model-dir", help="Where weights live (default: REELCART_MODEL_DIR or var/models)."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")


def _settings(model_dir: Path | None) -> TaggerSettings:
    overrides = {} if model_dir is None else {"model_dir": model_dir}
    return load_tagger_settings(**overrides)


def _select(settings: TaggerSettings, names: list[str] | None) -> list[ModelCard]:
    cards = list_cards(settings.model_cards_dir)
    if not names:
        return cards
    known = {card.name: card for card in cards}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise TaggerError(f"no model card named {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return [known[name] for name in names]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@models_app.command("list", help="Every model card and whether its file is present and intact.")
def list_models(model_dir: ModelDirOption = None) -> None:
    settings = _settings(model_dir)
    try:
        cards = _select(settings, None)
    except TaggerError as error:
        _fail(str(error))
    table = Table("name", "kind", "licence", "state", "file")
    for card in cards:
        status = model_status(card, settings.model_dir)
        table.add_row(card.name, card.kind, card.licence, status.state.value, str(status.path))
    Console(width=200).print(table)


@models_app.command("pull", help="Fetch models into the model dir; a file whose sha256 differs is refused.")
def pull_models(
    names: Annotated[list[str] | None, typer.Argument(help="Card names (default: every card).")] = None,
    source: Annotated[
        Path | None, typer.Option("--from", help="Copy from this local folder instead of downloading.")
    ] = None,
    model_dir: ModelDirOption = None,
) -> None:
    settings = _settings(model_dir)
    failures = []
    try:
        cards = _select(settings, names)
    except TaggerError as error:
        _fail(str(error))
    for card in cards:
        try:
            path = pull(card, settings.model_dir, source_dir=source)
        except TaggerError as error:
            failures.append(str(error))
            continue
        typer.echo(f"{card.name}: ok ({card.sha256[:12]}…) {path}")
    if failures:
        _fail("; ".join(failures))


@models_app.command(
    "verify", help="Check every pulled model against its card's sha256; non-zero exit if any fails."
)
def verify_models(
    names: Annotated[list[str] | None, typer.Argument(help="Card names (default: every card).")] = None,
    model_dir: ModelDirOption = None,
) -> None:
    settings = _settings(model_dir)
    try:
        cards = _select(settings, names)
    except TaggerError as error:
        _fail(str(error))
    problems = []
    for card in cards:
        status = model_status(card, settings.model_dir)
        line = f"{card.name}: {status.state.value} {status.path}"
        if status.state is ModelState.CORRUPT:
            line += f" (sha256 {status.actual_sha256}, card says {card.sha256})"
            problems.append(line)
        elif status.state is ModelState.MISSING:
            problems.append(line)
        typer.echo(line)
    if problems:
        _fail(f"{len(problems)} model(s) missing or corrupt: " + "; ".join(problems))
