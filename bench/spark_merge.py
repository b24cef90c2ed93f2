"""How the Spark engine should extend a batch table on ``ind``: ``MERGE INTO`` against anti-join + append.

``python bench/spark_merge.py [--rows N] [--day M] [--repeat K]``

A Delta table of N clean rows (``ind`` 0..N-1, the width of the pin table), then a day of M rows of
which 30 % are replays of inds already in it — what a later day's batch brings. Each way runs K times,
alternating, on a fresh copy of the table, on ``local[2]`` with pinpipe's own session (its jars,
Delta defaults):

- ``merge``: ``MERGE INTO … WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *`` (what the
  engine does: a replayed ind's row is replaced, as the DuckDB engine does through delta-rs);
- ``anti_join``: the day's rows whose ind the table lacks (``left_anti``), appended — one commit, no
  rewrite of files, but a replayed ind keeps its old row (not the DuckDB engine's result);
- ``split``: rows above the table's largest ind appended, the rest merged (the DuckDB engine's shape:
  same result as ``merge``, two commits).

Every way must end with N + 0.7 M rows; ``merge`` and ``split`` with the replayed rows' new values.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Metric, Result


def pin_rows(ids: Any, title: str, category: Any, version: int) -> Any:
    """Rows as wide as the clean pin table, one per ``id`` of ``ids``."""
    from pyspark.sql import functions as F

    return ids.select(
        F.col("id").alias("ind"),
        F.sha2(F.col("id").cast("string"), 256).alias("unique_id"),
        F.concat(F.lit(title), F.col("id").cast("string")).alias("title"),
        F.concat(F.lit("A longer description of post "), F.col("id").cast("string")).alias("description"),
        (F.col("id") % 100000).cast("int").alias("follower_count"),
        F.lit("https://i.pinimg.com/originals/a/b/c.jpg").alias("image_src"),
        F.lit(1).alias("downloaded"),
        F.lit("/data/post/").alias("save_location"),
        category.alias("category"),
        F.lit(version).alias("version"),
    )


def build(spark: Any, path: str, rows: int) -> None:
    from pyspark.sql import functions as F

    categories = F.array(*[F.lit(c) for c in ("art", "travel", "beauty", "quotes")])
    category = F.element_at(categories, (F.col("id") % 4 + 1).cast("int"))
    pin_rows(spark.range(rows), "A title about ", category, 0).write.format("delta").mode("overwrite").save(path)


def day(spark: Any, rows: int, existing: int) -> Any:
    """``rows`` rows: 30 % replays of existing inds (``version`` 1), the rest new inds above them."""
    from pyspark.sql import functions as F

    replays = int(rows * 0.3)
    old = spark.range(replays).select((F.col("id") * (existing // max(replays, 1))).alias("id"))
    new = spark.range(existing, existing + rows - replays)
    source = pin_rows(old.union(new), "A new title about ", F.lit("travel"), 1)
    return source.localCheckpoint()  # the day's rows computed once, outside the timed part


def merge(spark: Any, source: Any, path: str) -> None:
    source.createOrReplaceTempView("day_rows")
    spark.sql(
        f"MERGE INTO delta.`{path}` AS target USING day_rows AS source ON target.ind = source.ind "
        "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
    )


def anti_join(spark: Any, source: Any, path: str) -> None:
    target = spark.read.format("delta").load(path).select("ind")
    source.join(target, "ind", "left_anti").write.format("delta").mode("append").save(path)


def split(spark: Any, source: Any, path: str) -> None:
    from pyspark.sql import functions as F

    top = spark.read.format("delta").load(path).agg(F.max("ind")).first()[0]
    source.filter(F.col("ind") > top).write.format("delta").mode("append").save(path)
    merge(spark, source.filter(F.col("ind") <= top), path)


WAYS = {"merge": merge, "anti_join": anti_join, "split": split}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--day", type=int, default=260_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)

    from pinpipe.settings import Settings
    from pinpipe.spark import spark_session

    work = Path(tempfile.mkdtemp(prefix="pinpipe-bench-merge-"))
    spark, _ = spark_session(Settings(home=work / "home"), "local[2]", app="pinpipe-bench-merge", needs=frozenset())
    spark.conf.set("spark.sql.shuffle.partitions", "2")
    times: dict[str, list[float]] = {way: [] for way in WAYS}
    try:
        base = str(work / "base")
        build(spark, base, args.rows)
        source = day(spark, args.day, args.rows)
        new_rows = args.day - int(args.day * 0.3)
        for attempt in range(args.repeat):
            for way, write in WAYS.items():
                path = str(work / f"{way}-{attempt}")
                shutil.copytree(base, path)
                started = time.perf_counter()
                write(spark, source, path)
                times[way].append(time.perf_counter() - started)
                table = spark.read.format("delta").load(path)
                count = table.count()
                assert count == args.rows + new_rows, (way, count)
                updated = table.filter("version = 1").count()
                want = args.day if way != "anti_join" else new_rows
                assert updated == want, (way, updated, want)
                shutil.rmtree(path)
                print(f"{way}: {times[way][-1]:.1f} s ({count:,} rows)", flush=True)
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)

    result = Result(
        bench="spark_merge",
        title="Spark engine: extending a batch table on ind",
        command=f"python bench/spark_merge.py --rows {args.rows} --day {args.day} --repeat {args.repeat}",
    )
    best = {way: min(values) for way, values in times.items()}
    for way in WAYS:
        result.add(
            Metric(
                f"{way} ({args.day:,} rows, 30 % replays, into {args.rows:,})",
                round(best[way], 2),
                "s",
                baseline="merge" if way != "merge" else None,
                baseline_value=round(best["merge"], 2) if way != "merge" else None,
                ratio=round(best["merge"] / best[way], 2) if way != "merge" else None,
                note=f"median {statistics.median(times[way]):.1f} s of {len(times[way])}",
            )
        )
    result.notes.append(
        "ratio = merge's time / this way's (above 1: faster than MERGE INTO). anti_join keeps a replayed "
        "ind's old row, so it is not the DuckDB engine's result; merge and split are."
    )
    print(result.write())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
