"""`reelcart db …`: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer
from alembic import command

from api.cli._common import console, fail, load_settings, open_database
from api.db import alembic_config, current_revision, upgrade_database

# The migrations that made analytics counts and filled them from the events stored so far
# (api/migrations/versions/0028_event_counts.py, 0030_event_day_counts.py).
EVENT_COUNTS_REVISIONS = ("0028", "0030")


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Database schema: apply or write migrations.", no_args_is_help=True)

    @group.command("upgrade")
    def upgrade(revision: Annotated[str, typer.Argument(help="Target revision")] = "head") -> None:
        """Apply migrations (creates the schema on an empty database)."""
        settings = load_settings()
        engine = open_database(settings, require_current=False)
        before = current_revision(engine)
        try:
            upgrade_database(engine, revision)
        except Exception as error:
            fail(f"migration failed: {error}")
        after = current_revision(engine)
        console.print(f"database at {settings.database_url} is at revision {after or revision}")
        if (
            before is not None
            and after is not None
            and any(before < counts_made <= after for counts_made in EVENT_COUNTS_REVISIONS)
        ):
            # Events stored by nodes still on the older release while the migration ran are not counted.
            console.print(
                "analytics counts were filled from the events stored so far: once every API node runs this "
                "release, run `reelcart analytics recount` to count the events older nodes stored meanwhile "
                "(`reelcart analytics check` says whether any were)"
            )

    @group.command("revision")
    def revision(
        message: Annotated[str, typer.Option("-m", "--message", help="What the migration does")],
    ) -> None:
        """Autogenerate a migration from model changes (developers)."""
        engine = open_database(load_settings(), require_current=True)
        command.revision(alembic_config(engine), message=message, autogenerate=True)

    app.add_typer(group, name="db")
