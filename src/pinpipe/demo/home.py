"""A fresh ``PINPIPE_HOME`` for each demo run, without ever deleting data the demo did not write.

The demo marks the homes it fills (``.pinpipe-demo``). Running it again on such a home starts fresh
by itself, so ``make demo`` works every time; a home holding anything else is refused unless
``--fresh`` says to wipe it. Either way only pinpipe's own entries are removed (the files and folders
DESIGN.md lists for a home), and never while a pinpipe sink still holds the home's log (an earlier
``pinpipe demo --serve`` still running).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pinpipe.errors import ConfigError, PinpipeError
from pinpipe.process import pid_lock_held
from pinpipe.settings import Settings, as_url
from pinpipe.stream.lock import LOCK_NAME

MARKER = ".pinpipe-demo"

#: What a pinpipe home can hold (embedded defaults), and nothing else is touched.
ENTRIES: tuple[str, ...] = ("source.db", "log.db", "lake", "warehouse", "checkpoints", "reports", "logs", MARKER)


def _owned(home: Path) -> list[Path]:
    """Entries of ``home`` pinpipe wrote: the names above and their SQLite/lock companions."""
    found = []
    for path in sorted(home.iterdir()):
        name = path.name
        if name in ENTRIES or any(name.startswith(f"{db}-") or name.startswith(f"{db}.") for db in ENTRIES[:2]):
            found.append(path)
    return found


def embedded_only(settings: Settings) -> None:
    """The demo runs on embedded defaults: refuse settings that point a part elsewhere."""
    home = settings.home
    log_url = f"sqlite:///{home / 'log.db'}"
    embedded = {
        "source_url": f"sqlite:///{home / 'source.db'}",
        "log_url": log_url,
        "stream_log_url": log_url,
        "lake_url": as_url(str(home / "lake")),
        "warehouse_url": as_url(str(home / "warehouse")),
    }
    elsewhere = [name for name, url in embedded.items() if getattr(settings, name) != url]
    if elsewhere:
        env = ", ".join(f"PINPIPE_{name.upper()}" for name in elsewhere)
        raise ConfigError(
            f"pinpipe demo runs on embedded defaults, but {env} point elsewhere",
            hint="unset them (or use another pinpipe.toml) for the demo; run the parts one by one on real backends",
        )


def _pipeline_running(home: Path) -> bool:
    """Whether a sink holds this home's embedded-log lock (pinpipe.log.embedded, EmbeddedLog.hold_group)
    or a stream job its warehouse's (pinpipe.stream.lock): an flock a live process holds."""
    locks = [*home.glob("log.db.*.lock"), home / "warehouse" / "stream" / LOCK_NAME]
    return any(pid_lock_held(lock) for lock in locks)


def prepare_home(home: Path, *, fresh: bool) -> str | None:
    """Make ``home`` empty of pinpipe data and mark it as the demo's; returns what was done, if anything."""
    if home.exists() and not home.is_dir():
        raise ConfigError(f"PINPIPE_HOME {str(home)!r} is a file, not a folder")
    home.mkdir(parents=True, exist_ok=True)
    owned = [p for p in _owned(home) if p.name != MARKER]
    said = None
    if owned:
        if not fresh and not (home / MARKER).exists():
            raise PinpipeError(
                f"PINPIPE_HOME {str(home)!r} already holds pinpipe data not written by pinpipe demo",
                hint="pass --fresh to wipe it, or --home DIR to run the demo in another folder",
            )
        if _pipeline_running(home):
            raise PinpipeError(
                f"a pinpipe sink or stream job is still running on {str(home)!r} (an earlier `pinpipe demo --serve`?)",
                hint="stop it first (Ctrl-C in its terminal), or use --home DIR",
            )
        for path in owned:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        said = f"started fresh: removed the previous run's data in {home}"
    (home / MARKER).write_text("this PINPIPE_HOME was filled by `pinpipe demo`; the next demo run wipes it\n")
    return said
