"""Benchmark the batch job: DuckDB vs Spark local[2] vs a pandas notebook, on generated raw lakes.

``python bench/batch.py [--events N] [--big] [--skip-spark] [--skip-pandas] [--spark-events N] [--spark-timeout S]``

Events are emulator sends: N events = 3N records (pin, geo, user), of which 30 % are replays of
earlier events (so 0.7 N distinct ``ind``). The lake is written in the daily layout, 1,000 records per
file as the sink's flush.size, by DuckDB (fast enough that 10M events is minutes, not hours). Each
engine then runs in its own child process; the parent samples the child's whole process tree (Python
and, for Spark, the JVM) with psutil for peak RSS and CPU seconds. Times are the child's own wall
clock around the job, engine start-up included (a batch job pays for its JVM); CPU seconds are what
each run cost whatever else the machine was doing (the load average at each start is noted too).
Spark runs beside pandas on the largest lake unless ``--spark-events`` says otherwise; if it has not
finished after ``--spark-timeout`` seconds it is stopped (the speed-up is then a lower bound) and
measured again on the smallest lake, against DuckDB on that same lake.
"""

from __future__ import annotations

import argparse
import contextlib
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


def run_child(args: list[str], timeout: float | None = None) -> dict[str, Any]:
    """Run one measurement in a child process; returns its JSON result plus the tree's peak RSS and CPU.

    CPU seconds (user + system, summed over the tree: Python and, for Spark, the JVM) say what a run
    cost whatever else the machine was doing. Past ``timeout`` seconds the tree is killed and the
    result is ``{"timed_out": True, ...}``.
    """
    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    peak = 0
    cpu: dict[int, float] = {}
    timed_out = False
    while proc.poll() is None:
        tree = [parent]
        try:
            tree += parent.children(recursive=True)
            rss = 0
            for p in tree:
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
                    times = p.cpu_times()
                    cpu[p.pid] = max(cpu.get(p.pid, 0.0), times.user + times.system)
            peak = max(peak, rss)
        except psutil.Error:
            pass
        if timeout is not None and time.perf_counter() - started > timeout:
            timed_out = True
            for p in reversed(tree):  # the processes this run started, by pid, children first
                with contextlib.suppress(psutil.Error):
                    p.kill()
            proc.wait()
            break
        time.sleep(0.2)  # a sampling interval, not synchronisation
    out, _ = proc.communicate()
    extra = {"peak_rss_mb": peak / 1e6, "cpu_seconds": sum(cpu.values())}
    if timed_out:
        return {"timed_out": True, "seconds": time.perf_counter() - started, **extra}
    if proc.returncode != 0:
        return {"failed": proc.returncode, "seconds": time.perf_counter() - started, **extra}
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return {**result, **extra}


def label_of(events: int) -> str:
    return f"{events // 1000}k" if events < 1_000_000 else f"{events // 1_000_000}M"


def measure(
    events: int,
    work: Path,
    engines: list[str],
    result: Result,
    *,
    spark_timeout: float | None = None,
    duckdb_seconds: float | None = None,
) -> dict[str, dict[str, Any]]:
    """Generate a lake of ``events``, run ``engines`` on it; returns each engine's child result.

    ``duckdb_seconds`` stands in for a DuckDB run at this size measured earlier in the same run.
    """
    label = label_of(events)
    lake = work / f"lake-{label}"
    gen = generate_lake(lake, events)
    result.notes.append(
        f"{label} events: {3 * events:,} records ({gen['distinct']:,} distinct events, 30 % replays), "
        f"{gen['files']:,} files, {gen['bytes'] / 1e6:,.0f} MB of JSON, generated in {gen['seconds']:.1f} s."
    )
    print(f"[{label}] lake generated in {gen['seconds']:.1f}s ({gen['bytes'] / 1e6:,.0f} MB)", file=sys.stderr)
    children: dict[str, dict[str, Any]] = {}
    loads: list[str] = []
    for engine in engines:
        home = work / f"home-{label}-{engine}"
        home.mkdir(parents=True, exist_ok=True)
        (home / "lake").symlink_to(lake, target_is_directory=True)
        args = ["--child", engine, "--home", str(home), "--lake", str(lake)]
        load = os.getloadavg()[0]
        loads.append(f"{engine} {load:.1f}")
        child = run_child(args, spark_timeout if engine == "spark" else None)
        children[engine] = child
        shutil.rmtree(home, ignore_errors=True)
        name = "pandas notebook" if engine == "pandas" else engine
        if child.get("timed_out"):
            print(f"[{label}] {engine}: killed after {child['seconds']:.0f}s", file=sys.stderr)
            result.notes.append(
                f"{label} events: {name} did not finish within {child['seconds']:.0f} s and was stopped "
                f"({child['cpu_seconds']:.0f} CPU-s so far, peak {child['peak_rss_mb']:,.0f} MB)."
            )
            continue
        if "failed" in child:
            print(f"[{label}] {engine}: FAILED (exit {child['failed']}) after {child['seconds']:.0f}s", file=sys.stderr)
            result.notes.append(
                f"{label} events: {name} FAILED (exit {child['failed']}) after {child['seconds']:.0f} s, "
                f"peak {child['peak_rss_mb']:,.0f} MB: no figure (its error is on the run's stderr)."
            )
            continue
        print(
            f"[{label}] {engine}: {child['seconds']:.1f}s ({child['cpu_seconds']:.1f} CPU-s), "
            f"peak {child['peak_rss_mb']:,.0f} MB, load {load:.1f}",
            file=sys.stderr,
        )
        if engine == "duckdb":
            target, ok = at_most(child["seconds"], 30) if events == 1_000_000 else (None, None)
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in child["durations"].items() if k != "total")
            result.add(
                Metric(
                    f"{label} events: DuckDB whole batch",
                    child["seconds"],
                    "s",
                    target,
                    ok,
                    note=f"read, clean, write Delta, nine insights ({phases})",
                )
            )
            target, ok = at_most(child["peak_rss_mb"], 6000) if events >= 10_000_000 else (None, None)
            result.add(Metric(f"{label} events: DuckDB peak RSS", child["peak_rss_mb"], "MB", target, ok))
            result.add(Metric(f"{label} events: DuckDB throughput", 3 * events / child["seconds"], "records/s"))
        else:
            result.add(Metric(f"{label} events: {name}", child["seconds"], "s"))
            result.add(Metric(f"{label} events: {name} peak RSS", child["peak_rss_mb"], "MB"))
        result.add(Metric(f"{label} events: {name} CPU time", child["cpu_seconds"], "s", note="user + system, tree"))
    result.notes.append(f"{label} events: 1-minute load average as each run started: {', '.join(loads)}.")
    ran = children.get("duckdb", {})
    duck = ran["seconds"] if ran and "failed" not in ran else duckdb_seconds
    for other, goal in (("spark", 5.0), ("pandas", 3.0)):
        if other not in children or duck is None or "failed" in children[other]:
            continue
        child = children[other]
        speedup = child["seconds"] / duck
        target, ok = at_least(speedup, goal)
        bound = child.get("timed_out", False)
        result.add(
            Metric(
                f"{label} events: DuckDB speed-up over {other}",
                speedup,
                "×",
                target,
                ok,
                baseline=other,
                baseline_value=child["seconds"],
                ratio=speedup,
                note=f"at least: {other} was stopped unfinished" if bound else None,
            )
        )
    shutil.rmtree(lake, ignore_errors=True)
    return children


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="event counts (default 100k and 1M)")
    parser.add_argument("--big", action="store_true", help="also 10M events on DuckDB (long)")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument(
        "--spark-events", type=int, help="event count for Spark (and DuckDB beside it); default the largest"
    )
    parser.add_argument(
        "--spark-timeout",
        type=float,
        default=600.0,
        help="stop Spark after this many seconds and measure it on the smallest lake instead (default 600)",
    )
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--child", choices=["duckdb", "spark", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--lake", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        out = child_pandas(args.lake) if args.child == "pandas" else child_engine(args.child, args.home)
        print(json.dumps(out))
        return
    sizes = sorted(set(args.events or [100_000, 1_000_000]))
    largest = max(sizes)
    spark_events = args.spark_events or largest
    if not args.skip_spark and spark_events not in sizes:
        sizes = sorted({*sizes, spark_events})  # DuckDB runs there too: ratios compare the same lake size
    command = (
        "python bench/batch.py"
        + "".join(f" --events {n}" for n in args.events or [])
        + (f" --spark-events {args.spark_events}" if args.spark_events else "")
        + (" --big" if args.big else "")
    )
    result = Result(bench="batch", title="Batch job: DuckDB vs Spark local[2] vs pandas", command=command)
    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-batch-"))
    try:
        duckdb_seconds: dict[int, float] = {}
        spark_finished = True
        for events in sizes:
            engines = ["duckdb"]
            if events == spark_events and not args.skip_spark:
                engines.append("spark")
            if events == largest and not args.skip_pandas:
                engines.append("pandas")
            children = measure(events, work, engines, result, spark_timeout=args.spark_timeout)
            if "failed" not in children["duckdb"]:
                duckdb_seconds[events] = children["duckdb"]["seconds"]
            spark = children.get("spark", {})
            if spark.get("timed_out") or "failed" in spark:
                spark_finished = False
        smallest = min(sizes)
        if not spark_finished and smallest < spark_events:
            # Spark too slow at full size: measure it where it finishes, against DuckDB on that same size.
            result.notes.append(
                f"Spark did not finish {label_of(spark_events)} events (stopped after {args.spark_timeout:.0f} s, "
                f"or failed); measured at {label_of(smallest)} events instead, where the speed-up compares "
                "the same lake size."
            )
            measure(smallest, work, ["spark"], result, duckdb_seconds=duckdb_seconds.get(smallest))
        if args.big:
            measure(10_000_000, work, ["duckdb"], result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {result.write()}", file=sys.stderr)


if __name__ == "__main__":
    main()
