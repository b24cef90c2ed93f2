"""`pinpipe sink run` (and `python -m pinpipe.sink run`): the lake sink connector as a command.

It lives in the sink package, not in ``pinpipe.cli``, so a sink worker can start without importing
every other verb (``python -m pinpipe.sink run`` starts in a fraction of the time): Airflow tasks,
scale-out workers and the crash test restart it often. ``pinpipe sink run`` is the same command.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pinpipe.errors import ConfigError
from pinpipe.helptext import Group
from pinpipe.lake.layout import Compression, Partitioner
from pinpipe.lake.store import open_lake
from pinpipe.log import TopicPartition, ensure_topics, open_log, validate_name
from pinpipe.process import graceful_stop, run_cli
from pinpipe.settings import TABLES, Settings, get_settings
from pinpipe.sink.sink import LakeSink, SinkConfig, SinkStats, one_sink_per_group

app = typer.Typer(help="Land the topics as raw JSON in the lake, exactly once.", no_args_is_help=True, cls=Group)


@app.callback()
def _sink() -> None:
    """Keeps `run` a subcommand when this app runs on its own (python -m pinpipe.sink run)."""


UntilIdle = Annotated[
    bool,
    typer.Option("--until-idle", help="Return once every partition is drained and flushed (tests, demo, Airflow)."),
]
FlushSize = Annotated[int, typer.Option("--flush-size", min=1, help="Records per file (the connector's flush.size).")]
RotateInterval = Annotated[
    int | None,
    typer.Option("--rotate-interval-ms", min=1, help="Close a file when a record is this much newer than its first."),
]
IdleFlush = Annotated[
    int,
    typer.Option("--idle-flush-ms", min=0, help="Flush a partition that received nothing for this long; 0 = never."),
]
PartitionerOpt = Annotated[
    Partitioner, typer.Option("--partitioner", help="daily: year=/month=/day= folders; default: partition= folders.")
]
CompressionOpt = Annotated[Compression, typer.Option("--compression", help="none (.json) or gzip (.json.gz).")]
Topics = Annotated[
    str | None,
    typer.Option("--topics", help="Comma-separated topics (default <prefix>.pin,<prefix>.geo,<prefix>.user)."),
]


def _settings(ctx: typer.Context) -> Settings:
    """The root command's --home/--prefix when run as `pinpipe sink run`, else the environment."""
    root = ctx.find_root().obj
    return get_settings(home=getattr(root, "home", None), prefix=getattr(root, "prefix", None))


def _assignment_text(assigned: set[TopicPartition]) -> str:
    by_topic: dict[str, list[int]] = {}
    for tp in sorted(assigned):
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return " ".join(f"{t}[{','.join(map(str, ps))}]" for t, ps in by_topic.items()) or "(none)"


def summary_table(stats: SinkStats) -> Table:
    table = Table(title="pinpipe sink", show_header=True, header_style="bold")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("topic", "left"), ("records", "right"), ("files", "right"), ("MB", "right")
    )  # fmt: skip
    for name, justify in columns:
        table.add_column(name, justify=justify)
    table.add_column("lag", justify="right")
    for topic, t in sorted(stats.topics.items()):
        table.add_row(topic, f"{t.records:,}", f"{t.files:,}", f"{t.bytes / 1e6:,.1f}", f"{t.lag:,}")
    return table


def summary_line(stats: SinkStats) -> str:
    rate = stats.records / stats.elapsed_s if stats.elapsed_s > 0 else 0.0
    state = "drained" if stats.drained else "stopped"
    return (
        f"{state}: {stats.records:,} records in {stats.files:,} files in {stats.elapsed_s:.2f} s "
        f"({rate:,.0f} records/s), lag {sum(t.lag for t in stats.topics.values()):,}"
    )


@app.command("run")
def run(
    ctx: typer.Context,
    until_idle: UntilIdle = False,
    flush_size: FlushSize = 1000,
    rotate_interval_ms: RotateInterval = None,
    idle_flush_ms: IdleFlush = 10_000,
    partitioner: PartitionerOpt = Partitioner.DAILY,
    compression: CompressionOpt = Compression.NONE,
    topics: Topics = None,
    debug: Annotated[bool, typer.Option("--debug", hidden=True)] = False,
) -> None:
    """Drain the topics into the lake (PINPIPE_LAKE_URL) as consumer group pinpipe-sink."""
    config = _settings(ctx)
    names = [t.strip() for t in topics.split(",") if t.strip()] if topics else [config.topic(k) for k in TABLES]
    if not names:
        raise ConfigError("no topics given", hint="--topics a,b,c")
    for name in names:
        validate_name(name)
    sink_config = SinkConfig(
        flush_size=flush_size,
        rotate_interval_ms=rotate_interval_ms,
        idle_flush_ms=idle_flush_ms or None,
        partitioner=partitioner,
        compression=compression,
    )
    assert config.log_url and config.lake_url
    log = open_log(config.log_url, config)
    store = open_lake(config.lake_url)
    out = Console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("sink"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records · {task.fields[files]} files · lag {task.fields[lag]}"),
        TimeElapsedColumn(),
        console=out,
        transient=True,
    )
    task = progress.add_task("sink", total=None, files=0, lag="?")

    def show_progress(stats: SinkStats, lag: dict[TopicPartition, int]) -> None:
        behind = sum(lag.values())
        progress.update(task, completed=stats.records, total=stats.records + behind, files=stats.files, lag=behind)

    def show_assignment(assigned: set[TopicPartition]) -> None:
        progress.console.print(f"sink assigned: {_assignment_text(assigned)}", highlight=False)

    def show_recovered(tp: TopicPartition, start: int, records: int) -> None:
        progress.console.print(
            f"sink recovered: {tp.topic}[{tp.partition}] file at {start} ({records} records) written by a stopped "
            "run, not committed: re-cut at the same length",
            highlight=False,
        )

    try:
        ensure_topics(log, names, config.partitions)
        sink = LakeSink(
            log,
            store,
            names,
            sink_config,
            on_progress=show_progress,
            on_assignment=show_assignment,
            on_recovered=show_recovered,
        )
        # SIGTERM or a first Ctrl-C stop the sink after the file being written (what is not committed
        # is re-read next run, as the connector does); a second Ctrl-C interrupts at once.
        with one_sink_per_group(log, sink_config.group), graceful_stop() as stop, progress:
            stats = sink.run(until_idle=until_idle, stop=stop)
    finally:
        store.close()
        log.close()
    console = Console()
    console.print(summary_table(stats))
    console.print(summary_line(stats), highlight=False)


def main(argv: list[str] | None = None) -> int:
    """``python -m pinpipe.sink run …``: ends like ``pinpipe sink run`` (:func:`pinpipe.process.run_cli`)."""
    return run_cli(app, "python -m pinpipe.sink", argv)
