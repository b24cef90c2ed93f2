"""`pinpipe stream run`: the streaming job (the streams → warehouse/stream, exactly once)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from pinpipe.cli._common import err_console, settings
from pinpipe.process import native_stderr_into

app = typer.Typer(help="Clean the streams continuously into Delta tables, exactly once.", no_args_is_help=True)


class StreamEngine(StrEnum):
    """What runs the stream job (not the batch engines' :class:`pinpipe.engines.base.Engine`)."""

    PYTHON = "python"
    SPARK = "spark"


class SparkSource(StrEnum):
    FILES = "files"
    KAFKA = "kafka"
    KINESIS = "kinesis"


@app.command("run")
def run(
    ctx: typer.Context,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop once every partition is caught up (else run until Ctrl-C).")
    ] = False,
    engine: Annotated[
        StreamEngine, typer.Option("--engine", help="python (micro-batches) or spark (Structured Streaming).")
    ] = StreamEngine.PYTHON,
    max_batch_records: Annotated[
        int, typer.Option("--max-batch-records", min=1, help="Records per micro-batch at most.")
    ] = 20_000,
    max_batch_ms: Annotated[
        int, typer.Option("--max-batch-ms", min=1, help="Close a micro-batch this long after its first record.")
    ] = 250,
    quiet: Annotated[bool, typer.Option("--quiet", help="No live status line on stderr.")] = False,
    spark_source: Annotated[
        SparkSource,
        typer.Option(
            "--spark-source",
            help="--engine spark reads the lake's landing files, or Kafka/Kinesis where the cluster has the connector.",
        ),
    ] = SparkSource.FILES,
) -> None:
    """Consume the streams into warehouse/stream/{pin,geo,user}; bad records go to warehouse/dead_letter.

    SIGTERM or Ctrl-C finishes and commits the batch in hand, then exits.
    """
    config = settings(ctx)
    if engine is StreamEngine.SPARK:
        from pinpipe.stream.spark import SparkStreamOptions, run_spark_stream

        on_spark = run_spark_stream(
            config, SparkStreamOptions(until_idle=until_idle, source=spark_source.value, trigger_ms=max_batch_ms)
        )
        err_console().print(
            f"stream (spark): {on_spark.batches} micro-batches, {on_spark.written:,} rows written, "
            f"{on_spark.dead_letters:,} dead letters"
        )
        return

    from pinpipe.stream.engine import StreamJob, StreamOptions

    job = StreamJob(
        config,
        StreamOptions(
            max_batch_records=max_batch_records, max_batch_ms=max_batch_ms, until_idle=until_idle, status=not quiet
        ),
    )
    # What delta-rs's runtime prints itself (panics of its worker threads) goes to the log, not the terminal.
    with native_stderr_into(config.home / "logs" / "native.log"):
        summary = job.run()
    p50, p99 = summary.latency.percentile(50), summary.latency.percentile(99)
    latency = "" if p50 is None else f", latency p50 {p50:,.0f} ms p99 {p99:,.0f} ms"
    err_console().print(
        f"stream: {summary.records:,} records in {summary.seconds:.1f} s ({summary.rate():,.0f}/s): "
        f"{summary.written:,} rows written, {summary.duplicates:,} duplicates, "
        f"{summary.dead_letters:,} dead letters{latency}"
    )
