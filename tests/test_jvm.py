"""The jar cache: a set is found only when stamped complete, a missing one names `make jars`, and
`make jars` (jvm/fetch.py) on an up-to-date cache starts no Maven at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinpipe.jvm import STAMP, MissingJarsError, classpath, jar_paths

REPO = Path(__file__).resolve().parents[1]
FETCH = REPO / "jvm" / "fetch.py"


def stamped(folder: Path, jars: list[str], digest: str = "d") -> None:
    folder.mkdir(parents=True)
    for jar in jars:
        (folder / jar).write_bytes(b"PK")
    (folder / STAMP).write_text("\n".join([digest, *jars]) + "\n")


def test_a_stamped_set_gives_its_jars_in_order(tmp_path: Path) -> None:
    stamped(tmp_path / "kafka-broker", ["a-1.jar", "b-2.jar"])
    assert [p.name for p in jar_paths("kafka-broker", tmp_path)] == ["a-1.jar", "b-2.jar"]
    assert classpath("kafka-broker", tmp_path) == os.pathsep.join(
        str(tmp_path / "kafka-broker" / j) for j in ["a-1.jar", "b-2.jar"]
    )


@pytest.mark.parametrize("damage", ["absent", "unstamped", "jar gone"])
def test_a_missing_or_partial_set_is_one_line_naming_make_jars(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "spark"
    if damage != "absent":
        stamped(folder, ["x.jar"])
        (folder / (STAMP if damage == "unstamped" else "x.jar")).unlink()
    with pytest.raises(MissingJarsError) as caught:
        jar_paths("spark", tmp_path)
    assert "make jars" in str(caught.value) and "\n" not in str(caught.value)
    assert str(folder) in str(caught.value)


def fetch(cache: Path, *sets: str) -> subprocess.CompletedProcess[str]:
    """jvm/fetch.py with no mvn on PATH: whatever it would fetch fails at once, nothing is downloaded."""
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    return subprocess.run(
        [sys.executable, str(FETCH), "--dir", str(cache), *sets], env=env, capture_output=True, text=True
    )


def test_make_jars_on_an_up_to_date_cache_starts_no_maven(tmp_path: Path) -> None:
    sys.path.insert(0, str(FETCH.parent))
    try:
        import fetch as fetch_module  # jvm/fetch.py: standard library only
    finally:
        sys.path.remove(str(FETCH.parent))
    pom = FETCH.with_name("pom.xml")
    sets = fetch_module.jar_sets(pom)
    assert "kafka-broker" in sets
    for name in sets:
        stamped(tmp_path / name, ["x.jar"], digest=fetch_module.digest(pom, name))
    done = fetch(tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("up to date") == len(sets)

    # A pom edit (another digest) refetches, which needs Maven: said in one line.
    (tmp_path / "kafka-broker" / STAMP).write_text("old-digest\nx.jar\n")
    done = fetch(tmp_path, "kafka-broker")
    assert done.returncode != 0 and "Maven (mvn) is not installed" in done.stderr
    assert (tmp_path / "kafka-broker" / "x.jar").exists()  # the old set stays until a new one is whole


def test_an_unknown_set_is_refused(tmp_path: Path) -> None:
    done = fetch(tmp_path, "no-such-set")
    assert done.returncode != 0 and "no set 'no-such-set'" in done.stderr
