"""The test's hands on pinpipe's side, run with pinpipe's own Python (the Airflow venv cannot import it).

Airflow and pinpipe live in two virtual environments (Airflow 3.3 caps fastapi below pinpipe's pin),
so the Airflow tests prepare data and read tables through this script, exactly as the DAG reaches
pinpipe: as another process. Subcommands:

- ``write-day``: raw rows for one day, written straight into the lake's daily layout, as the sink
  would have landed records whose log timestamps fall on that day (the log stamps records with the
  wall clock, so a past day cannot be produced through it).
- ``append-log``: a few events appended to the embedded event log now, so the DAG's sink task has
  real work; they land in today's lake folder and must stay out of any other day's tables.
- ``dump``: every warehouse table the batch writes (batch/*, insights/*), as sorted JSON rows, so
  two homes can be compared table by table.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

COUNTRIES = ("Albania", "Peru", "Korea")
CATEGORIES = ("travel", "art", "quotes", "vehicles")
NAMESPACE = uuid.UUID("6c1b6ad4-5c1e-4f0b-9a57-1f6a0a3f8d10")


def event_rows(ind: int) -> dict[str, dict[str, Any]]:
    """One event's three source rows, deterministic in ``ind`` and shaped like DESIGN.md's source tables."""
    # Half of each day's events share that day's favourite category, so every day has a clear top.
    favourite = CATEGORIES[(ind // 1000) % len(CATEGORIES)]
    category = favourite if ind % 2 == 0 else CATEGORIES[(ind * 7) % len(CATEGORIES)]
    followers = ("12k", "437", "2M", "User Info Error")[ind % 4]
    pin = {
        "index": ind,
        "unique_id": str(uuid.uuid5(NAMESPACE, str(ind))),
        "title": f"Post {ind}",
        "description": "No description available Story format" if ind % 5 == 0 else f"About post {ind}",
        "poster_name": f"Poster {ind % 6}",
        "follower_count": followers,
        "tag_list": "a,b,c",
        "is_image_or_video": "image",
        "image_src": f"https://i.example.invalid/{ind}.jpg",
        "downloaded": 1,
        "save_location": f"Local save in /data/{category}",
        "category": category,
    }
    geo = {
        "ind": ind,
        "timestamp": f"{2018 + ind % 5}-0{1 + ind % 9}-1{ind % 10} 03:52:47",
        "latitude": -89.9787 + ind,
        "longitude": -173.293 + ind,
        "country": COUNTRIES[ind % len(COUNTRIES)],
    }
    user = {
        "ind": ind,
        "first_name": f"Abigail{ind % 4}",
        "last_name": "Ali",
        "age": 20 + (ind * 3) % 41,
        "date_joined": f"{2015 + ind % 3}-10-24 11:23:51",
    }
    return {"pin": pin, "geo": geo, "user": user}


def day_inds(day_number: int, events: int) -> list[int]:
    """Day k's events: their own ``ind`` range, so each day's rows are told apart in the tables."""
    return [day_number * 1000 + i for i in range(events)]


def write_day(home: Path, prefix: str, day: date, day_number: int, events: int) -> None:
    """Write the day's rows, with every third event replayed (the emulator replays; dedupe must hold)."""
    from pinpipe.lake.layout import Partitioner, object_key

    midday_ms = int(datetime.combine(day, time(12), tzinfo=UTC).timestamp() * 1000)
    inds = day_inds(day_number, events)
    replays = inds[::3]
    for kind in ("pin", "geo", "user"):
        topic = f"{prefix}.{kind}"
        lines = [json.dumps(event_rows(ind)[kind], ensure_ascii=False) for ind in [*inds, *replays]]
        # Offsets continue across days as they would in a real log: day k starts at k * 10_000.
        key = object_key(topic, 0, day_number * 10_000, partitioner=Partitioner.DAILY, timestamp_ms=midday_ms)
        path = home / "lake" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def append_log(home: Path, prefix: str, events: int) -> None:
    """Append ``events`` events (inds 900_000+) to the embedded log, stamped now by the log itself."""
    from pinpipe.log import OutRecord, ensure_topics, open_log
    from pinpipe.settings import Settings

    log = open_log(f"sqlite:///{home / 'log.db'}", Settings(home=home))
    try:
        ensure_topics(log, [f"{prefix}.{kind}" for kind in ("pin", "geo", "user")])
        for kind in ("pin", "geo", "user"):
            records = [OutRecord(value=json.dumps(event_rows(900_000 + i)[kind]).encode()) for i in range(events)]
            log.append(f"{prefix}.{kind}", records)
    finally:
        log.close()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def dump(home: Path) -> dict[str, list[dict[str, Any]]]:
    """Every batch and insight Delta table under ``home``'s warehouse, rows sorted, keyed by table path."""
    from deltalake import DeltaTable

    warehouse = home / "warehouse"
    tables: dict[str, list[dict[str, Any]]] = {}
    for group in ("batch", "insights"):
        folder = warehouse / group
        if not folder.is_dir():
            continue
        for table_dir in sorted(p for p in folder.iterdir() if (p / "_delta_log").is_dir()):
            rows = [_jsonable(r) for r in DeltaTable(str(table_dir)).to_pyarrow_table().to_pylist()]
            rows.sort(key=lambda r: json.dumps(r, sort_keys=True))
            tables[f"{group}/{table_dir.name}"] = rows
    return tables


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write-day")
    w.add_argument("--home", type=Path, required=True)
    w.add_argument("--prefix", default="pinterest")
    w.add_argument("--day", type=date.fromisoformat, required=True)
    w.add_argument("--day-number", type=int, required=True)
    w.add_argument("--events", type=int, default=24)
    a = sub.add_parser("append-log")
    a.add_argument("--home", type=Path, required=True)
    a.add_argument("--prefix", default="pinterest")
    a.add_argument("--events", type=int, default=5)
    d = sub.add_parser("dump")
    d.add_argument("--home", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "write-day":
        write_day(args.home, args.prefix, args.day, args.day_number, args.events)
    elif args.command == "append-log":
        append_log(args.home, args.prefix, args.events)
    else:
        json.dump(dump(args.home), sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
