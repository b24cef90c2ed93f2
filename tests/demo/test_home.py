"""The demo wipes only a home whose pipeline is stopped: never the warehouse a stream job writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinpipe.demo.home import MARKER, prepare_home
from pinpipe.errors import PinpipeError
from pinpipe.settings import Settings, as_url
from pinpipe.stream.lock import WarehouseLock


def test_a_running_stream_job_keeps_its_home_from_being_wiped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    prepare_home(home, fresh=False)
    (home / "warehouse" / "stream" / "pin").mkdir(parents=True)
    settings = Settings(home=home, warehouse_url=as_url(str(home / "warehouse")))
    with WarehouseLock(settings), pytest.raises(PinpipeError, match="stream job is still running"):
        prepare_home(home, fresh=False)
    assert (home / "warehouse" / "stream" / "pin").is_dir()
    assert prepare_home(home, fresh=False) is not None  # once it stopped, the next demo starts fresh
    assert not (home / "warehouse").exists() and (home / MARKER).exists()
