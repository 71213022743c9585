"""Importing a script of `scripts/` in a test, as it imports its siblings when run."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@contextmanager
def script_module(name: str) -> Iterator[ModuleType]:
    """`scripts/<name>.py` as a module. A script imports its siblings (`build_grocery_eval`) as
    top-level modules, so `scripts/` is on sys.path while the module is in use."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(str(SCRIPTS))
