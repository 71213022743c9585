"""`reelcart detector train --brand SLUG`: blocks until the brand's detector is registered, or fails
with the job's reason. The trainer is the protocol-speaking stand-in (tests.api.fake_trainer) behind a
wrapper script named as the train virtualenv's python."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.cli import app
from api.db import create_db_engine
from api.detectors.models import DetectorTrainJob
from api.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _trainer(folder: Path, mode: str) -> Path:
    """An executable that runs the fake trainer like `python -m tagger.training.run REQUEST` would."""
    script = folder / "python"
    script.write_text(
        f'#!/bin/sh\ncd "{REPO_ROOT}" && exec "{sys.executable}" -m tests.api.fake_trainer "$3" {mode}\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("REELCART_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    monkeypatch.setenv("REELCART_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setenv("REELCART_MODEL_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    for args in (["db", "upgrade"], ["brand", "create", "Orchard Co"]):
        assert runner.invoke(app, args).exit_code == 0
    yield tmp_path
    get_settings.cache_clear()


def _catalog(workspace: Path, *, images: bool) -> None:
    cv2.imwrite(str(workspace / "pack.jpg"), np.full((80, 60, 3), 200, dtype=np.uint8))
    image = "pack.jpg" if images else ""
    (workspace / "cat.csv").write_text(f"sku,title,price,currency,image\nJ-1,Apple Juice,3.49,EUR,{image}\n")
    result = runner.invoke(app, ["catalog", "import", str(workspace / "cat.csv"), "--brand", "orchard-co"])
    assert result.exit_code == 0, result.output


def test_detector_train_registers_the_brand_detector(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _catalog(workspace, images=True)
    monkeypatch.setenv("REELCART_TRAIN_PYTHON", str(_trainer(workspace, "ok")))
    get_settings.cache_clear()

    result = runner.invoke(app, ["detector", "train", "--brand", "orchard-co"])

    assert result.exit_code == 0, result.output
    assert "training a detector for orchard-co: 1 products" in result.output
    assert "registered detector brand-orchard-co-1 (1 classes" in result.output
    # The CLI ran the job itself, and said so: no running service's supervisor would take it
    engine = create_db_engine(get_settings().database_url)
    with Session(engine) as session:
        (job,) = session.exec(select(DetectorTrainJob)).all()
    assert job.published_at is not None
    engine.dispose()


def test_detector_train_fails_with_the_job_reason(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _catalog(workspace, images=True)
    monkeypatch.setenv("REELCART_TRAIN_PYTHON", str(_trainer(workspace, "crash")))
    get_settings.cache_clear()

    result = runner.invoke(app, ["detector", "train", "--brand", "orchard-co"])

    assert result.exit_code == 1
    assert "out of memory while training" in result.output


def test_detector_train_without_packshots_says_so(workspace: Path) -> None:
    _catalog(workspace, images=False)

    result = runner.invoke(app, ["detector", "train", "--brand", "orchard-co"])

    assert result.exit_code == 1
    assert "no product with a stored image" in result.output
