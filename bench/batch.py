"""Benchmark the batch job: DuckDB vs Spark local[2] vs a pandas notebook, on generated raw lakes.

``python bench/batch.py [--events N] [--big] [--skip-spark] [--skip-pandas]``

Events are emulator sends: N events = 3N records (pin, geo, user), of which 30 % are replays of
earlier events (so 0.7 N distinct ``ind``). The lake is written in the daily layout, 1,000 records per
file as the sink's flush.size, by DuckDB (fast enough that 10M events is minutes, not hours). Each
engine then runs in its own child process; the parent samples the child's whole process tree (Python
and, for Spark, the JVM) with psutil for peak RSS. Times are the child's own wall clock around the
job, engine start-up included (a batch job pays for its JVM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Metric, Result, at_least, at_most

PREFIX = "pinterest"
FLUSH = 1000
DAY_MS = 1714564800000  # 2024-05-01 12:00 UTC

_TEXT = "repeat(md5(CAST(i AS VARCHAR)), {n})"
_PIN = f"""
SELECT to_json({{
  'index': ind, 'unique_id': uuid(),
  'title': CASE WHEN h % 100 = 0 THEN 'No Title Data Available' ELSE 'Title ' || {_TEXT.format(n=1)} || ' ' END,
  'description': CASE WHEN h % 100 < 7 THEN 'No description available Story format'
                      WHEN h % 100 < 9 THEN 'No description available' ELSE {_TEXT.format(n=4)} || '…' END,
  'poster_name': CASE WHEN h % 97 = 0 THEN 'User Info Error' ELSE 'poster ' || CAST(h % 5000 AS VARCHAR) END,
  'follower_count': CASE WHEN h % 100 < 72 THEN CAST(h % 999 + 1 AS VARCHAR) || 'k'
                         WHEN h % 100 < 91 THEN CAST(h % 99999 AS VARCHAR)
                         WHEN h % 100 < 98 THEN CAST(h % 15 + 1 AS VARCHAR) || 'M' ELSE 'User Info Error' END,
  'tag_list': CASE WHEN h % 50 = 0 THEN 'N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e' ELSE 'tag,other,more' END,
  'is_image_or_video': CASE WHEN h % 100 < 90 THEN 'image' ELSE 'video' END,
  'image_src': CASE WHEN h % 40 = 0 THEN 'Image src error.' ELSE 'https://i.pinimg.com/' || md5(CAST(h AS VARCHAR)) END,
  'downloaded': CAST(h % 2 AS INT),
  'save_location': 'Local save in /data/' || cat, 'category': cat}}) AS line
FROM (SELECT *, ['art','beauty','christmas','diy-and-crafts','education','event-planning','finance','home-decor',
  'mens-fashion','quotes','tattoos','travel','vehicles'][CAST(h % 13 AS INT) + 1] AS cat FROM events)
"""
_GEO = """
SELECT to_json({'ind': ind,
  'timestamp': strftime(TIMESTAMP '2017-10-01' + to_seconds(CAST(h % 157000000 AS BIGINT)), '%Y-%m-%d %H:%M:%S'),
  'latitude': (h % 180000) / 1000.0 - 90, 'longitude': (h % 360000) / 1000.0 - 180,
  'country': 'Country ' || CAST(h % 217 AS VARCHAR)}) AS line FROM events
"""
_USER = """
SELECT to_json({'ind': ind, 'first_name': 'First' || CAST(h % 3000 AS VARCHAR),
  'last_name': 'Last' || CAST(h % 1000 AS VARCHAR), 'age': CAST(20 + h % 41 AS INT),
  'date_joined': strftime(TIMESTAMP '2015-10-01' + to_seconds(CAST(h % 63000000 AS BIGINT)), '%Y-%m-%d %H:%M:%S')})
  AS line FROM events
"""


def generate_lake(lake: Path, events: int) -> dict[str, Any]:
    """Write ``events`` sends (30 % replays) for the three topics; returns counts and time taken."""
    import duckdb

    from pinpipe.lake.layout import Partitioner, object_key

    started = time.perf_counter()
    distinct = max(1, int(events * 0.7))
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(
        f"CREATE TEMP TABLE events AS SELECT i, CASE WHEN i < {distinct} THEN i ELSE hash(i) % {distinct} END AS ind"
        f", hash(CASE WHEN i < {distinct} THEN i ELSE hash(i) % {distinct} END) AS h FROM range({events}) t(i)"
    )
    files = 0
    for kind, sql in (("pin", _PIN), ("geo", _GEO), ("user", _USER)):
        topic = f"{PREFIX}.{kind}"
        reader = con.sql(sql).to_arrow_reader(FLUSH * 50)
        offset = 0
        for batch in reader:
            lines = batch.column(0).to_pylist()
            for start in range(0, len(lines), FLUSH):
                chunk = lines[start : start + FLUSH]
                path = lake / object_key(topic, 0, offset, partitioner=Partitioner.DAILY, timestamp_ms=DAY_MS)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(chunk) + "\n", encoding="utf-8")
                offset += len(chunk)
                files += 1
    con.close()
    size = sum(p.stat().st_size for p in lake.rglob("*.json"))
    return {"seconds": time.perf_counter() - started, "files": files, "bytes": size, "distinct": distinct}


# ---------------------------------------------------------------- children (one engine per process)


def child_engine(engine: str, home: Path) -> dict[str, Any]:
    """Run the real batch job (read, clean, write Delta, nine insights) with ``engine``."""
    from pinpipe.batch import run_batch
    from pinpipe.settings import get_settings

    os.environ["PINPIPE_HOME"] = str(home)
    settings = get_settings(spark_master="local[2]")
    started = time.perf_counter()
    summary = run_batch(settings, None, engine, spark_master="local[2]", progress=lambda _: None)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": summary.rows_written,
        "dead": summary.dead_letters,
        "insights": summary.insight_rows,
        "durations": summary.durations,
    }


def child_pandas(lake: Path) -> dict[str, Any]:
    """What a notebook user would write: read every JSON file with pandas, clean, the nine queries."""
    import pandas as pd

    started = time.perf_counter()
    frames = {}
    for kind in ("pin", "geo", "user"):
        parts = [
            pd.read_json(p, lines=True, dtype=False)
            for p in sorted((lake / "topics").glob(f"{PREFIX}.{kind}/**/*.json"))
        ]
        frames[kind] = pd.concat(parts, ignore_index=True)
    pin, geo, user = frames["pin"], frames["geo"], frames["user"]
    placeholders = {
        "title": ["No Title Data Available"],
        "description": ["No description available Story format", "No description available", "Untitled"],
        "poster_name": ["User Info Error"],
        "tag_list": ["N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"],
        "image_src": ["Image src error."],
    }
    for column, values in placeholders.items():
        pin[column] = pin[column].mask(pin[column].isin([*values, ""]))
    fc = pin["follower_count"].astype("string")
    num = pd.to_numeric(fc.str.extract(r"^(\d+)[kM]?$")[0], errors="coerce")
    mult = fc.str[-1].map({"k": 1000, "M": 1_000_000}).fillna(1)
    pin["follower_count"] = (num * mult).astype("Int64")
    pin["save_location"] = pin["save_location"].str.replace(r"^Local save in ", "", regex=True)
    pin = pin.rename(columns={"index": "ind"}).drop(columns=["downloaded"]).drop_duplicates("ind")
    geo["coordinates"] = list(zip(geo["latitude"], geo["longitude"], strict=True))
    geo["timestamp"] = pd.to_datetime(geo["timestamp"].str.replace("T", " "), errors="coerce")
    geo = geo.drop(columns=["latitude", "longitude"]).drop_duplicates("ind")
    user["user_name"] = user["first_name"] + " " + user["last_name"]
    user["date_joined"] = pd.to_datetime(user["date_joined"].str.replace("T", " "), errors="coerce")
    user = user.drop(columns=["first_name", "last_name"]).drop_duplicates("ind")

    def top(df: pd.DataFrame, group: str, item: str, value: str) -> pd.DataFrame:
        best = df.groupby(group)[value].transform("max")
        return df[df[value] == best].sort_values([group, item])

    def age_group(age: pd.Series) -> pd.Series:
        return pd.cut(age, [17, 24, 35, 50, 200], labels=["18-24", "25-35", "36-50", "+50"]).astype("string")

    pg = pin.merge(geo, on="ind")
    pu = pin.merge(user, on="ind")
    pu["age_group"] = age_group(pu["age"])
    pu["join_year"] = pu["date_joined"].dt.year
    out = {}
    counts = pg.groupby(["country", "category"]).size().rename("category_count").reset_index()
    out["top_category_by_country"] = top(counts, "country", "category", "category_count")
    pg["post_year"] = pg["timestamp"].dt.year
    years = pg[pg["post_year"].between(2018, 2022)].groupby(["post_year", "category"]).size()
    out["top_category_by_year"] = top(
        years.rename("category_count").reset_index(), "post_year", "category", "category_count"
    )
    users = (
        pg.dropna(subset=["poster_name", "follower_count"]).groupby(["country", "poster_name"])["follower_count"].max()
    )
    tu = top(users.reset_index(), "country", "poster_name", "follower_count")
    out["top_user_by_country"] = tu
    out["top_country_by_followers"] = tu[tu["follower_count"] == tu["follower_count"].max()][
        ["country", "follower_count"]
    ].drop_duplicates()
    ag = (
        pu.dropna(subset=["age_group"]).groupby(["age_group", "category"]).size().rename("category_count").reset_index()
    )
    out["top_category_by_age_group"] = top(ag, "age_group", "category", "category_count")
    valid = pu.dropna(subset=["follower_count"])
    out["median_followers_by_age_group"] = valid.groupby("age_group")["follower_count"].median().reset_index()
    uy = user.assign(post_year=user["date_joined"].dt.year).drop_duplicates(["user_name", "date_joined"])
    out["users_joined_by_year"] = uy[uy["post_year"].between(2015, 2020)].groupby("post_year").size().reset_index()
    vy = valid[valid["join_year"].between(2015, 2020)]
    out["median_followers_by_join_year"] = vy.groupby("join_year")["follower_count"].median().reset_index()
    out["median_followers_by_join_year_and_age_group"] = (
        vy.groupby(["age_group", "join_year"])["follower_count"].median().reset_index()
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": {"pin": len(pin), "geo": len(geo), "user": len(user)},
        "insights": {k: len(v) for k, v in out.items()},
    }


# ---------------------------------------------------------------- parent


def run_child(args: list[str]) -> dict[str, Any]:
    """Run one measurement in a child process; returns its JSON result plus the tree's peak RSS."""
    import psutil

    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)  # a sampling interval, not synchronisation
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed with {proc.returncode}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak / 1e6
    return result


def measure(events: int, work: Path, engines: list[str], result: Result) -> None:
    label = f"{events // 1000}k" if events < 1_000_000 else f"{events // 1_000_000}M"
    lake = work / f"lake-{label}"
    gen = generate_lake(lake, events)
    result.notes.append(
        f"{label} events: {3 * events:,} records ({gen['distinct']:,} distinct events, 30 % replays), "
        f"{gen['files']:,} files, {gen['bytes'] / 1e6:,.0f} MB of JSON, generated in {gen['seconds']:.1f} s."
    )
    print(f"[{label}] lake generated in {gen['seconds']:.1f}s ({gen['bytes'] / 1e6:,.0f} MB)", file=sys.stderr)
    times: dict[str, float] = {}
    for engine in engines:
        home = work / f"home-{label}-{engine}"
        home.mkdir(parents=True, exist_ok=True)
        (home / "lake").symlink_to(lake, target_is_directory=True)
        args = ["--child", engine, "--home", str(home), "--lake", str(lake)]
        child = run_child(args)
        times[engine] = child["seconds"]
        print(f"[{label}] {engine}: {child['seconds']:.1f}s, peak {child['peak_rss_mb']:,.0f} MB", file=sys.stderr)
        name = "pandas notebook" if engine == "pandas" else engine
        if engine == "duckdb":
            target, ok = at_most(child["seconds"], 30) if events == 1_000_000 else (None, None)
            result.add(
                Metric(
                    f"{label} events: DuckDB whole batch",
                    child["seconds"],
                    "s",
                    target,
                    ok,
                    note="read, clean, write Delta, nine insights",
                )
            )
            target, ok = at_most(child["peak_rss_mb"], 6000) if events >= 10_000_000 else (None, None)
            result.add(Metric(f"{label} events: DuckDB peak RSS", child["peak_rss_mb"], "MB", target, ok))
            result.add(Metric(f"{label} events: DuckDB throughput", 3 * events / child["seconds"], "records/s"))
        else:
            result.add(Metric(f"{label} events: {name}", child["seconds"], "s"))
            result.add(Metric(f"{label} events: {name} peak RSS", child["peak_rss_mb"], "MB"))
        shutil.rmtree(home, ignore_errors=True)
    for other, goal in (("spark", 5.0), ("pandas", 3.0)):
        if other in times and "duckdb" in times:
            speedup = times[other] / times["duckdb"]
            target, ok = at_least(speedup, goal)
            result.add(
                Metric(
                    f"{label} events: DuckDB speed-up over {other}",
                    speedup,
                    "×",
                    target,
                    ok,
                    baseline=other,
                    baseline_value=times[other],
                    ratio=speedup,
                )
            )
    shutil.rmtree(lake, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="event counts (default 100k and 1M)")
    parser.add_argument("--big", action="store_true", help="also 10M events on DuckDB (long)")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--child", choices=["duckdb", "spark", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        out = child_pandas(args.lake) if args.child == "pandas" else child_engine(args.child, args.home)
        print(json.dumps(out))
        return
    sizes = args.events or [100_000, 1_000_000]
    command = (
        "python bench/batch.py" + "".join(f" --events {n}" for n in args.events or []) + (" --big" if args.big else "")
    )
    result = Result(bench="batch", title="Batch job: DuckDB vs Spark local[2] vs pandas", command=command)
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-batch-"))
    try:
        largest = max(sizes)
        for events in sizes:
            engines = ["duckdb"]
            if events == largest:
                engines += [] if args.skip_spark else ["spark"]
                engines += [] if args.skip_pandas else ["pandas"]
            measure(events, work, engines, result)
        if args.big:
            measure(10_000_000, work, ["duckdb"], result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {result.write()}", file=sys.stderr)


if __name__ == "__main__":
    main()
