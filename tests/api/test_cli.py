"""The `reelcart` command, through Typer's runner, against a real SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.brands.models import ApiKey, Brand
from api.catalog import service as catalog_service
from api.cli import app
from api.db import create_db_engine
from api.jobs.models import JobState
from api.jobs.queue import JobKind, JobRef
from api.jobs.recovery import JobSupervisor
from api.linking.models import LinkJob
from api.settings import get_settings
from tagger.demo_media import DEMO_SCENES, SHOT_SECONDS
from tests.api.factories import make_episode, make_placement
from tests.utils.api import make_video

REPO_ROOT = Path(__file__).resolve().parents[2]

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("REELCART_MEDIA_DIR", str(tmp_path / "media"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _brand(workspace: Path) -> None:
    _ok("db", "upgrade")
    _ok("brand", "create", "Orchard Co")


def test_help_lists_the_commands() -> None:
    output = _ok("--help")
    for command in ("serve", "demo", "db", "brand", "keys", "catalog", "episode"):
        assert command in output


def test_commands_refuse_an_unmigrated_database(workspace: Path) -> None:
    result = runner.invoke(app, ["brand", "create", "Orchard Co"])
    assert result.exit_code == 1
    assert "run `reelcart db upgrade`" in result.output


def test_keys_create_prints_a_working_key_once(workspace: Path) -> None:
    _brand(workspace)
    output = _ok("keys", "create", "--brand", "orchard-co", "--name", "ci")
    key = output.strip().splitlines()[-1]
    assert key.startswith("rc_")
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from api.app import create_app  # noqa: PLC0415

    with TestClient(create_app(get_settings())) as client:
        assert client.get("/v1/products", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    both = runner.invoke(app, ["keys", "create", "--brand", "orchard-co", "--operator"])
    assert both.exit_code == 1
    unknown = runner.invoke(app, ["keys", "create", "--brand", "nobody"])
    assert (unknown.exit_code, "no brand 'nobody'" in unknown.output) == (1, True)


def test_keys_create_with_an_expiry_lists_it_and_the_key_is_refused_once_it_passes(workspace: Path) -> None:
    # Given a key created to expire in 30 days
    _brand(workspace)
    created = _ok("keys", "create", "--brand", "orchard-co", "--name", "agency", "--expires-in", "30")
    header, key = created.strip().splitlines()[0], created.strip().splitlines()[-1]
    expected = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    assert f"expires {expected}" in header

    # Then it works now, the listing shows when it expires, and an expiry of 0 days is refused
    assert _live(key) == 200
    (row,) = _ok("keys", "list").strip().splitlines()[1:]
    assert row.split()[7] == expected  # after id, name, brand, prefix and "date time UTC" created
    refused = runner.invoke(app, ["keys", "create", "--brand", "orchard-co", "--expires-in", "0"])
    assert refused.exit_code != 0

    # When its expiry passes, its next request is a 401 saying so
    engine = create_db_engine(get_settings().database_url)
    with Session(engine) as session:
        stored = session.exec(select(ApiKey)).one()
        stored.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(stored)
        session.commit()
    engine.dispose()
    assert _live(key) == 401


def _live(key: str) -> int:
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from api.app import create_app  # noqa: PLC0415

    with TestClient(create_app(get_settings())) as client:
        status: int = client.get("/v1/products", headers={"Authorization": f"Bearer {key}"}).status_code
        return status


def test_keys_list_shows_every_key_and_revoke_stops_one_at_once(workspace: Path) -> None:
    # Given a brand with two keys and an operator key
    _brand(workspace)
    _ok("brand", "create", "Tea House")
    first = _ok("keys", "create", "--brand", "orchard-co", "--name", "ci").strip().splitlines()
    second = _ok("keys", "create", "--brand", "orchard-co", "--name", "laptop").strip().splitlines()
    _ok("keys", "create", "--operator", "--name", "ops")
    _ok("keys", "create", "--brand", "tea-house", "--name", "till")
    ci_key, ci_id = first[-1], first[0].split()[2]
    laptop_key = second[-1]

    # When the operator lists them: every key, newest first, with brand and prefix, never a secret
    listing = _ok("keys", "list")
    lines = listing.strip().splitlines()
    assert lines[0].split() == ["ID", "NAME", "BRAND", "PREFIX", "CREATED", "EXPIRES", "REVOKED"]
    assert [line.split()[1:3] for line in lines[1:]] == [
        ["till", "tea-house"],
        ["ops", "(operator)"],
        ["laptop", "orchard-co"],
        ["ci", "orchard-co"],
    ]
    assert ci_key not in listing
    assert laptop_key not in listing
    assert ci_key[:10] in listing
    assert all(line.rstrip().endswith("-") for line in lines[1:])  # none revoked yet
    only = _ok("keys", "list", "--brand", "orchard-co").strip().splitlines()
    assert [line.split()[1] for line in only[1:]] == ["laptop", "ci"]

    # When one key is revoked, its next request is refused and the other still works
    assert _live(ci_key) == 200
    revoked = _ok("keys", "revoke", ci_id)
    assert f"revoked key {ci_id} (brand orchard-co" in revoked
    assert (_live(ci_key), _live(laptop_key)) == (401, 200)
    row = next(line for line in _ok("keys", "list").splitlines() if line.startswith(ci_id))
    assert row.rstrip().endswith("UTC")
    assert "was already revoked at" in _ok("keys", "revoke", ci_id)

    # Bad input is one clear line
    bad = runner.invoke(app, ["keys", "revoke", "not-a-uuid"])
    assert (bad.exit_code, "'not-a-uuid' is not a key id" in bad.output) == (1, True)
    missing = str(uuid.uuid4())
    gone = runner.invoke(app, ["keys", "revoke", missing])
    assert (gone.exit_code, f"no API key {missing}" in gone.output) == (1, True)
    nobody = runner.invoke(app, ["keys", "list", "--brand", "nobody"])
    assert (nobody.exit_code, "no brand 'nobody'" in nobody.output) == (1, True)


def test_catalog_import_with_local_images(workspace: Path) -> None:
    _brand(workspace)
    image = np.full((80, 60, 3), 200, dtype=np.uint8)
    cv2.imwrite(str(workspace / "pack.jpg"), image)
    (workspace / "cat.csv").write_text(
        "sku,title,price,currency,image\nJ-1,Apple Juice,3.49,EUR,pack.jpg\nJ-2,Pear Juice,3.99,EUR,\n"
    )
    output = _ok("catalog", "import", str(workspace / "cat.csv"), "--brand", "orchard-co")
    assert "imported 2 products, 2 variants, 1 images" in output


def test_catalog_import_after_tagging_queues_the_relink_the_running_service_starts(
    workspace: Path,
) -> None:
    # Given an episode tagged before the catalog held the product a placement awaiting review shows
    _brand(workspace)
    settings = get_settings()
    engine = create_db_engine(settings.database_url)
    with Session(engine) as session:
        brand = session.exec(select(Brand).where(Brand.slug == "orchard-co")).one()
    make_placement(engine, make_episode(engine, brand.id, settings))
    cv2.imwrite(str(workspace / "pack.jpg"), np.full((80, 60, 3), 200, dtype=np.uint8))
    (workspace / "cat.csv").write_text("sku,title,price,currency,image\nJ-1,Apple Juice,3.49,EUR,pack.jpg\n")

    # When the brand imports it with its packshot
    output = _ok("catalog", "import", str(workspace / "cat.csv"), "--brand", "orchard-co")

    # Then the re-link is queued with the import, unpublished: the running service's supervisor takes it
    with Session(engine) as session:
        (job,) = session.exec(select(LinkJob)).all()
    assert (job.linker_decided_only, job.published_at) == (True, None)
    assert f"queued link job {job.id} to link the 1 placement the linker decided again" in output
    assert "`reelcart link --brand orchard-co` links them here and now" in output
    # And a one-box service's next round hands it to its threads, once
    offered: list[JobRef] = []
    supervisor = JobSupervisor(engine, get_settings(), offered.append, outbox=False)
    assert supervisor.run_once() == [JobRef(JobKind.LINK, job.id)]
    assert supervisor.run_once() == []
    engine.dispose()


def test_catalog_import_reports_lines_and_imports_nothing(workspace: Path) -> None:
    _brand(workspace)
    (workspace / "bad.csv").write_text(
        "sku,title,price,currency,image\nJ-1,Apple,3.49,EUR,missing.jpg\nJ-2,Pear,-1,EUR,\n"
    )
    result = runner.invoke(app, ["catalog", "import", str(workspace / "bad.csv"), "--brand", "orchard-co"])
    assert result.exit_code == 1
    assert "bad.csv:3: price:" in result.output
    # Lines are parsed before images are read, so the bad price is what stops this file.
    assert "1 error(s) in bad.csv; nothing was imported" in result.output
    good = workspace / "good.csv"
    good.write_text("sku,title,price,currency\nJ-1,Apple,3.49,EUR\n")
    assert "imported 1 products" in _ok("catalog", "import", str(good), "--brand", "orchard-co")


def test_catalog_import_names_each_rows_own_line_and_checks_skus_in_chunks(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a catalog holding one size of a tea, and chunks of 2 standing in for the 10,000 SKUs one
    # query asks about (PostgreSQL binds at most 65,535 parameters a statement)
    monkeypatch.setattr(catalog_service, "SKU_CHECK_CHUNK", 2)
    _brand(workspace)
    (workspace / "old.csv").write_text("sku,title,price,currency\nTEA-200,Old Tea,9.90,EUR\n")
    _ok("catalog", "import", str(workspace / "old.csv"), "--brand", "orchard-co")
    # And a file whose first description spans two lines, with a blank line before the tea's sizes
    (workspace / "cat.csv").write_text(
        "sku,title,price,currency,product_key,description\n"
        'COF-1,Coffee,6.00,EUR,,"Dark roast.\nWhole beans."\n'
        "\n"
        "TEA-50,Green Tea,4.50,EUR,tea,\n"
        "TEA-100,Green Tea,7.90,EUR,tea,\n"
        "TEA-200,Green Tea,9.90,EUR,tea,\n"
    )

    # When it is imported
    result = runner.invoke(app, ["catalog", "import", str(workspace / "cat.csv"), "--brand", "orchard-co"])

    # Then the taken SKU is named on the line an editor shows its row on, in one line, no traceback
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "cat.csv:7: sku: sku 'TEA-200' already exists in the catalog" in said
    assert "1 error(s) in cat.csv; nothing was imported" in said
    assert "Traceback" not in said


def test_catalog_import_reads_files_as_spreadsheets_write_them(workspace: Path) -> None:
    # Given a JSON file with a byte order mark, and Excel's CSV with a trailing comma and CRLF lines
    _brand(workspace)
    variant = '{"sku": "J-1", "price": "3", "currency": "EUR"}'
    (workspace / "bom.json").write_text(
        '\ufeff{"products": [{"title": "Juice", "variants": [' + variant + "]}]}", encoding="utf-8"
    )
    (workspace / "excel.csv").write_bytes(b"sku,title,price,currency,\r\nS-1,Soap,1.00,EUR,\r\n")
    (workspace / "many.csv").write_text(
        "sku,title,price,currency\n" + "".join(f"V-{n},Socks,1.00,EUR\n" for n in range(251))
    )

    # When they are imported, then the first two are, and 251 rows of one product are refused
    assert "imported 1 products" in _ok(
        "catalog", "import", str(workspace / "bom.json"), "--brand", "orchard-co"
    )
    assert "imported 1 products" in _ok(
        "catalog", "import", str(workspace / "excel.csv"), "--brand", "orchard-co"
    )
    result = runner.invoke(app, ["catalog", "import", str(workspace / "many.csv"), "--brand", "orchard-co"])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())  # the console wraps long lines
    assert (
        "many.csv:2: variants: a product has at most 250 variants; 251 rows share this title (lines 2-252)"
        in said
    )


def test_episode_add_probes_and_refuses_non_video(workspace: Path) -> None:
    _brand(workspace)
    video = make_video(workspace / "clip.mp4", seconds=1.0, fps=10, size=(64, 48))
    output = _ok("episode", "add", str(video), "--brand", "orchard-co", "--title", "Pilot")
    assert "64x48, 10 fps, 1.0 s" in output
    (workspace / "notes.mp4").write_text("not a video")
    result = runner.invoke(app, ["episode", "add", str(workspace / "notes.mp4"), "--brand", "orchard-co"])
    assert result.exit_code == 1
    assert "notes.mp4 is not a readable media file" in result.output
    assert len(list((workspace / "media" / "episodes").iterdir())) == 1


def test_episode_delete_removes_the_episode_and_its_copy(workspace: Path) -> None:
    _brand(workspace)
    video = make_video(workspace / "clip.mp4", seconds=1.0, fps=10, size=(64, 48))
    added = _ok("episode", "add", str(video), "--brand", "orchard-co")
    episode_id = added.split()[1].rstrip(":")

    assert f"episode {episode_id} deleted" in _ok("episode", "delete", episode_id, "--brand", "orchard-co")

    assert list((workspace / "media" / "episodes").iterdir()) == []
    assert video.exists()  # the brand's own file, copied from
    again = runner.invoke(app, ["episode", "delete", episode_id, "--brand", "orchard-co"])
    assert again.exit_code == 1
    assert "episode not found" in again.output
    bad = runner.invoke(app, ["episode", "delete", "pilot", "--brand", "orchard-co"])
    assert (bad.exit_code, "not an episode id: 'pilot'" in bad.output) == (1, True)


def test_demo_without_shared_draws_its_own_catalog(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.cli.demo  # noqa: PLC0415

    monkeypatch.setattr(api.cli.demo, "find_shared_dir", lambda: None)
    monkeypatch.setattr(api.cli.demo, "SHOT_SECONDS", 1)
    result = api.cli.demo.prepare_demo(get_settings())
    assert (result.brand_slug, result.products) == ("demo-grocer", 6)
    again = api.cli.demo.prepare_demo(get_settings())
    assert again.episode_id == result.episode_id
    assert again.api_key != result.api_key
    assert again.revoked_keys == 2


def _printed(output: str, label: str) -> str:
    """The value the demo printed after `label` on its summary lines."""
    line = next(line for line in output.splitlines() if line.strip().startswith(label))
    return line.strip().removeprefix(label).split()[0]


def test_demo_command_shows_each_step_and_rotates_its_keys(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient  # noqa: PLC0415

    import api.cli.demo  # noqa: PLC0415
    from api.app import create_app  # noqa: PLC0415

    monkeypatch.setattr(api.cli.demo, "find_shared_dir", lambda: None)
    monkeypatch.setattr(api.cli.demo, "SHOT_SECONDS", 1)
    # When the operator runs the demo (without serving)
    first = _ok("demo", "--no-serve")

    # Then every long step says what it does and shows its progress
    for step in ("1/7 database", "2/7 brand", "3/7 ", "4/7 cutting", "ready"):
        assert step in first, step
    for bar in ("storing packshots", "encoding frames"):
        assert any(bar in line and "100%" in line for line in first.splitlines()), bar
    # And it prints the demo key and an operator key, both working
    demo_key, operator_key = _printed(first, "demo key"), _printed(first, "operator key")
    episode_id = _printed(first, "timeline").split("/")[-2]
    with TestClient(create_app(get_settings())) as client:
        # The player it prints plays; when nothing is approved (the drawn catalog's shots may show the
        # detector nothing) it says so instead of printing a link that would 404
        public = bool(client.get(f"/v1/episodes/{episode_id}/timeline").json()["placements"])
        player = client.get(f"/demo/episodes/{episode_id}")
        if public:
            assert f"/demo/episodes/{episode_id}" in _printed(first, "demo player")
            assert player.status_code == 200
        else:
            assert "demo player  none yet: no placement is approved" in first
            assert player.status_code == 404
        assert client.get("/v1/products", headers={"Authorization": f"Bearer {demo_key}"}).status_code == 200
        ops = {"Authorization": f"Bearer {operator_key}"}
        keys = client.get("/v1/admin/keys", headers=ops).json()
        assert sorted((key["name"], key["revoked_at"] is None) for key in keys) == [
            ("demo", True),
            ("demo operator", True),
        ]

    # When it runs again, it rotates: the previous keys are revoked at once, the new ones work
    second = _ok("demo", "--no-serve")
    assert "the 2 demo keys of the previous run are revoked" in second
    new_demo, new_operator = _printed(second, "demo key"), _printed(second, "operator key")
    with TestClient(create_app(get_settings())) as client:
        assert client.get("/v1/products", headers={"Authorization": f"Bearer {demo_key}"}).status_code == 401
        assert client.get("/v1/admin/keys", headers=ops).status_code == 401
        assert client.get("/v1/products", headers={"Authorization": f"Bearer {new_demo}"}).status_code == 200
        keys = client.get("/v1/admin/keys", headers={"Authorization": f"Bearer {new_operator}"}).json()
        assert sorted((key["name"], key["revoked_at"] is None) for key in keys) == [
            ("demo", False),
            ("demo", True),
            ("demo operator", False),
            ("demo operator", True),
        ]


def test_demo_refuses_to_run_in_production(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELCART_ENVIRONMENT", "production")
    monkeypatch.setenv("REELCART_SECRET_KEY", "a-real-production-secret-0123456789")
    monkeypatch.setenv("REELCART_PUBLIC_BASE_URL", "https://api.example.com")
    get_settings.cache_clear()
    refused = runner.invoke(app, ["demo", "--no-serve"])
    assert refused.exit_code == 1
    assert "the demo is for development machines, and REELCART_ENVIRONMENT is production" in refused.output
    assert not (workspace / "db.sqlite").exists()


@pytest.mark.shared
@pytest.mark.slow
def test_demo_with_shared_tags_its_episode_and_sells_what_its_shots_show(
    workspace: Path, shared_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient  # noqa: PLC0415

    import api.cli.demo  # noqa: PLC0415
    from api.app import create_app  # noqa: PLC0415

    embedder = REPO_ROOT / "var" / "models" / "mobilenetv2_embedder.onnx"
    if not embedder.is_file():
        pytest.skip(f"{embedder} is absent; `make models` exports it (the demo links with it)")
    (workspace / "models").mkdir(exist_ok=True)
    (workspace / "models" / embedder.name).symlink_to(embedder)
    monkeypatch.setenv("REELCART_SHARED_DIR", str(shared_dir))
    monkeypatch.setenv("REELCART_MODEL_DIR", str(workspace / "models"))
    get_settings.cache_clear()
    result = api.cli.demo.prepare_demo(get_settings())
    assert result.products == 31
    headers = {"Authorization": f"Bearer {result.api_key}"}
    with TestClient(create_app(get_settings())) as client:
        jobs = client.get("/v1/tag-jobs", headers=headers).json()["items"]
        assert [(job["state"], job["error"]) for job in jobs] == [("done", None)]
        assert jobs[0]["placements_found"] > 0
        placements = client.get(f"/v1/episodes/{result.episode_id}/placements", headers=headers).json()
        assert {placement["label"] for placement in placements} >= {"bottle"}
        timeline = client.get(f"/v1/episodes/{result.episode_id}/timeline")
        assert (timeline.status_code, timeline.json()["episode"]["height"]) == (200, 960)
    # What the demo player shows: hotspots, each selling a product its shot really shows, whatever
    # confidence this CPU's arithmetic gives the links (the God Morgon cartons score 0.77-0.81).
    shot_titles = [{photo.split("/")[1].replace("-", " ") for photo in scene} for scene in DEMO_SCENES]
    hotspots = timeline.json()["placements"]
    assert hotspots
    for hotspot in hotspots:
        shot = (hotspot["start_ms"] + hotspot["end_ms"]) // 2 // (SHOT_SECONDS * 1000)
        assert hotspot["product"]["title"] in shot_titles[shot]
    assert "God Morgon Orange Juice" in {hotspot["product"]["title"] for hotspot in hotspots}


def test_link_runs_a_recorded_link_job_and_reports_why_it_cannot(workspace: Path) -> None:
    _brand(workspace)
    neither = runner.invoke(app, ["link"])
    assert (neither.exit_code, "give exactly one of --episode ID or --brand SLUG" in neither.output) == (
        1,
        True,
    )
    unknown = runner.invoke(app, ["link", "--episode", "not-an-id"])
    assert (unknown.exit_code, "no episode 'not-an-id'" in unknown.output) == (1, True)

    no_images = runner.invoke(app, ["link", "--brand", "orchard-co"])

    assert no_images.exit_code == 1
    assert "the catalog has no product image ReelCart could index" in no_images.output
    with Session(create_db_engine(get_settings().database_url)) as session:
        (job,) = session.exec(select(LinkJob)).all()
    assert (job.state, job.episode_id, job.attempts) == (JobState.FAILED, None, 1)
