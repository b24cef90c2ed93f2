"""The JVM jar sets (``jvm/pom.xml``) as local paths: what Spark sessions and the test broker run.

Nothing is resolved at run time: ``make jars`` copies each set into the jar cache and stamps it
complete; this module only finds a stamped set and says plainly how to get one that is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from pinpipe.errors import ConfigError

#: The stamp ``jvm/fetch.py`` writes last: the pom's digest, then one jar name per line.
STAMP = ".complete"


def default_jars_dir() -> Path:
    """``~/.cache/pinpipe/jars`` (``$XDG_CACHE_HOME`` honoured), where ``make jars`` copies to."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pinpipe" / "jars"


class MissingJarsError(ConfigError):
    """A jar set is not in the cache: one line naming ``make jars``."""

    def __init__(self, name: str, folder: Path) -> None:
        super().__init__(
            f"the JVM jar set {name!r} is not in {folder}",
            hint="run `make jars` in a pinpipe checkout, or set PINPIPE_JARS_DIR to a cache that has it",
        )


def jar_paths(name: str, jars_dir: Path) -> list[Path]:
    """Every jar of set ``name``, as listed by its stamp; raises :class:`MissingJarsError`."""
    folder = jars_dir.expanduser() / name
    stamp = folder / STAMP
    if not stamp.is_file():
        raise MissingJarsError(name, folder)
    names = [line for line in stamp.read_text().splitlines()[1:] if line]
    paths = [folder / jar for jar in names]
    if not paths or not all(p.is_file() for p in paths):
        raise MissingJarsError(name, folder)
    return paths


def classpath(name: str, jars_dir: Path) -> str:
    """The set as a ``java -cp`` value."""
    return os.pathsep.join(str(p) for p in jar_paths(name, jars_dir))
