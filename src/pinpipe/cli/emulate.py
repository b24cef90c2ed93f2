"""`pinpipe emulate batch|stream`: the posting emulators (Kafka REST route, Kinesis route)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from pinpipe.cli._common import UsageError, console, err_console, settings
from pinpipe.errors import PinpipeError
from pinpipe.source.defaults import DEFAULT_SEED

if TYPE_CHECKING:  # the emulator (httpx, SQLAlchemy) loads only when a run starts
    from pinpipe.emulate import EmulateOptions, Summary

app = typer.Typer(help="Post random events from the source DB to the gateway.", no_args_is_help=True)


class RecordsFailedError(PinpipeError):
    """Some records were not acknowledged by the gateway; the run exits non-zero."""


Events = Annotated[
    int | None,
    typer.Option(
        "--events",
        "-n",
        help="Events to send, drawn at random (default 500; with --duration: no limit). Not with --all.",
        show_default=False,
    ),
]
All = Annotated[
    bool, typer.Option("--all", help="Send every event of the source once, in random order. Not with --events.")
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed", help="Picks the events and their order: same seed, same events (the same default in every verb)."
    ),
]
Rate = Annotated[float, typer.Option("--rate", help="Events per second (token bucket); 0 = as fast as possible.")]
Concurrency = Annotated[int, typer.Option("--concurrency", "-c", help="HTTP requests in flight.")]
BatchSize = Annotated[
    int, typer.Option("--batch-size", "-b", help="Records per request, per topic (stream: 1 = PutRecord).")
]
Duration = Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds.")]
Api = Annotated[
    str | None, typer.Option("--api", help="Gateway base URL (pinpipe api, or an AWS API Gateway invoke URL).")
]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", envvar="PINPIPE_API_KEY", help="Sent as x-api-key (default: first of PINPIPE_API_KEYS)."),
]
Db = Annotated[str | None, typer.Option("--db", help="Source database URL (SQLAlchemy).")]
Attempts = Annotated[int, typer.Option("--attempts", help="Tries per request before its records count as failed.")]


def _run(options: EmulateOptions) -> None:
    """Run, print the summary on stdout, and exit non-zero (one line on stderr) if records failed."""
    from pinpipe.emulate import run_emulator

    summary = run_emulator(options, console=err_console())
    console().print(summary_table(summary))
    if not summary.ok:
        top = next(iter(summary.errors), "no error recorded")
        reason = summary.aborted or top
        raise RecordsFailedError(
            f"{summary.records_failed:,} of {summary.records_sent:,} records failed: {reason}", hint=_hint(reason)
        )


def _hint(reason: str) -> str:
    """What to look at: the gateway itself when it did not answer, the log behind it when it said so."""
    if "HTTP 503" in reason:
        return "the gateway answered, but its event log is down: check the broker or service its PINPIPE_LOG_URL names"
    if "HTTP 401" in reason or "HTTP 403" in reason:
        return "the gateway refused the API key: check --api-key / PINPIPE_API_KEY against its PINPIPE_API_KEYS"
    if "HTTP " in reason:
        return "the gateway answered with an error: see its message above"
    return "is the gateway up (pinpipe api) and --api right?"


def summary_table(summary: Summary) -> Table:
    """The run's summary as a two-column table."""
    table = Table(title=f"emulate {summary.route} → {summary.api}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.1f} ms"

    rows = [
        ("events", f"{summary.events:,}"),
        ("records sent", f"{summary.records_sent:,}"),
        ("records acknowledged", f"{summary.records_acknowledged:,}"),
        ("records failed", f"{summary.records_failed:,}"),
        ("requests", f"{summary.requests:,} ({summary.retries:,} retries)"),
        ("events/s", f"{summary.events_per_s:,.0f}"),
        ("records/s", f"{summary.records_per_s:,.0f}"),
        ("latency p50 / p99", f"{ms(summary.latency_p50_ms)} / {ms(summary.latency_p99_ms)}"),
        ("elapsed", f"{summary.elapsed_s:,.2f} s (+{summary.prepare_s:,.2f} s reading ids)"),
        ("seed", str(summary.seed)),
    ]
    if summary.records_resent_unknown:
        rows.append(("re-sent, outcome unknown", f"{summary.records_resent_unknown:,} (may be duplicated)"))
    for reason, count in list(summary.retry_reasons.items())[:3]:
        rows.append((f"retried: {reason}"[:60], f"{count:,}"))
    for reason, count in list(summary.errors.items())[:3]:
        rows.append((f"failed: {reason}"[:60], f"{count:,}"))
    if summary.aborted:
        rows.append(("aborted", summary.aborted))
    for what, value in rows:
        table.add_row(what, value)
    return table


def _command(route: Literal["batch", "stream"], doc: str) -> Callable[..., None]:
    """One verb per route; both take the same options (typer reads them from this signature)."""

    def command(
        ctx: typer.Context,
        events: Events = None,
        every_once: All = False,
        seed: Seed = DEFAULT_SEED,
        rate: Rate = 0.0,
        concurrency: Concurrency = 8,
        batch_size: BatchSize = 500,
        duration: Duration = None,
        api: Api = None,
        api_key: ApiKey = None,
        db: Db = None,
        attempts: Attempts = 10,
    ) -> None:
        if every_once and events is not None:
            raise UsageError(
                f"--all sends every event once and --events {events} sends {events} at random: give one of them"
            )
        from pinpipe.emulate import EmulateOptions, RetryPolicy

        config = settings(ctx, source_url=db, api_url=api)
        key = api_key or (config.api_keys[0].get_secret_value() if config.api_keys else None)
        retry = RetryPolicy(attempts=attempts)
        _run(
            EmulateOptions(
                route=route,
                source_url=config.source_url or "",
                api_url=config.api_url,
                prefix=config.prefix,
                api_key=key,
                events=events,
                every_once=every_once,
                seed=seed,
                rate=rate,
                concurrency=concurrency,
                batch_size=batch_size,
                duration_s=duration,
                retry=retry,
            )
        )

    command.__doc__ = doc
    return command


app.command("batch")(_command("batch", "Post events through the Kafka REST route (POST /topics/<prefix>.<table>)."))
app.command("stream")(_command("stream", "Post events through the Kinesis route (PUT /streams/<stream>/record[s])."))
