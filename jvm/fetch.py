"""`make jars`: copy every jar set of jvm/pom.xml into the jar cache, once.

Each profile of the pom is a jar set. A set is fetched with ``mvn dependency:copy-dependencies``
into a fresh folder that replaces ``<cache>/<set>/`` only when complete, and is stamped with the
digest of what it depends on (the pom's versions and its profile): a rerun with those unchanged costs
no Maven start, a changed one refetches. The stamp (``.complete``) is what pinpipe checks at run time
(``pinpipe.jvm``), so a half-copied set is never taken for a whole one. Standard library only: it runs
before any venv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

POM = Path(__file__).with_name("pom.xml")
NS = {"m": "http://maven.apache.org/POM/4.0.0"}
STAMP = ".complete"


def default_cache() -> Path:
    configured = os.environ.get("PINPIPE_JARS_DIR")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pinpipe" / "jars"


def jar_sets(pom: Path) -> list[str]:
    root = ET.parse(pom).getroot()
    return [node.text or "" for node in root.findall("m:profiles/m:profile/m:id", NS)]


def digest(pom: Path, name: str) -> str:
    """What set ``name`` depends on: the pom's properties (the versions) and the set's own profile, so
    adding or editing another set does not refetch this one."""
    root = ET.parse(pom).getroot()
    parts = [root.find("m:properties", NS)]
    parts += [p for p in root.findall("m:profiles/m:profile", NS) if p.findtext("m:id", namespaces=NS) == name]
    text = b"\0".join(ET.tostring(part) for part in parts if part is not None)
    return hashlib.sha256(text + b"\0" + name.encode()).hexdigest()


def up_to_date(folder: Path, want: str) -> bool:
    stamp = folder / STAMP
    return stamp.is_file() and stamp.read_text().splitlines()[:1] == [want]


def fetch(pom: Path, name: str, cache: Path) -> str:
    folder = cache / name
    want = digest(pom, name)
    if up_to_date(folder, want):
        return f"jars: {name} up to date in {folder}"
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SystemExit("jars: Maven (mvn) is not installed: apt-get install -y maven")
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
    try:
        done = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom), "-P", name, "dependency:copy-dependencies",
             f"-DoutputDirectory={staging}", "-DincludeScope=runtime"],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise SystemExit(f"jars: mvn could not fetch the set {name!r} (is Maven Central reachable?):\n{tail}")
        jars = sorted(p.name for p in staging.glob("*.jar"))
        if not jars:
            raise SystemExit(f"jars: the set {name!r} of {pom} holds no jars")
        (staging / STAMP).write_text("\n".join([want, *jars]) + "\n")
        old = cache / f".{name}-old"
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        staging.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    size = sum(p.stat().st_size for p in folder.glob("*.jar")) / 1e6
    return f"jars: {name} fetched, {len(jars)} jars ({size:.0f} MB) in {folder}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="the jar cache (default: PINPIPE_JARS_DIR or ~/.cache)")
    parser.add_argument("sets", nargs="*", help="jar sets to fetch (default: every profile of jvm/pom.xml)")
    args = parser.parse_args(argv)
    cache = (args.dir or default_cache()).expanduser().resolve()
    known = jar_sets(POM)
    for name in args.sets or known:
        if name not in known:
            raise SystemExit(f"jars: no set {name!r} in {POM} (known: {', '.join(known)})")
        print(fetch(POM, name, cache), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
