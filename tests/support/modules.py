"""Python modules made absent for one test, as they are in pinpipe's own environment.

The source database's driver choice depends on which DB-API drivers are importable (mysqlclient and
psycopg2 are not pinpipe dependencies). A test of the path pinpipe users take hides them, so it runs
the same on a developer's machine that happens to have them as on CI, instead of skipping there.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Sequence

import pytest

from pinpipe.source import db as source_db


class _Absent(importlib.abc.MetaPathFinder):
    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)

    def find_spec(self, name: str, *_: object) -> None:
        if name.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)


def without_modules(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """``names`` cannot be imported, and pinpipe's driver probe finds none of them, until the test ends."""
    for loaded in [m for m in sys.modules if m.split(".")[0] in names]:
        monkeypatch.delitem(sys.modules, loaded)
    monkeypatch.setattr(sys, "meta_path", [_Absent(names), *sys.meta_path])
    real = importlib.util.find_spec
    monkeypatch.setattr(source_db, "find_spec", lambda name: None if name.split(".")[0] in names else real(name))
