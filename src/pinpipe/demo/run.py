"""``pinpipe demo``: the whole pipeline on embedded defaults, end to end, in one process tree.

1. a fresh home (see :mod:`.home`) and a generated source database (in this process);
2. the gateway (``pinpipe api``), the sink (``python -m pinpipe.sink run``) and the stream job
   (:mod:`.stream_worker`) as child processes (:mod:`.processes`);
3. both emulators at once — the batch route (Kafka REST → topics) and the stream route (Kinesis →
   streams) — in this process's event loop, with a live view of what the sink and the stream job have
   caught up;
4. a bounded wait until the sink has landed and the stream job has committed every acknowledged
   record (their consumer groups' lag is 0: each commits only after its writes are durable);
5. the batch job over the whole lake (DuckDB), then the run summary (``reports/last_run.json``) and
   the HTML report. With ``serve`` the children stay up, the dashboard live, until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from pinpipe.demo.home import embedded_only, prepare_home
from pinpipe.demo.processes import Child, ProcessTree, child_env, pinpipe_command, python_command
from pinpipe.emulate import EmulateOptions, Emulator, Summary
from pinpipe.emulate.runner import RouteName
from pinpipe.errors import PinpipeError
from pinpipe.process import sigterm_as_interrupt
from pinpipe.report.status import PipelineStatus
from pinpipe.reports import LAST_RUN_FILE, STREAM_JOB_FILE, read_json, report_file, write_json
from pinpipe.settings import Settings
from pinpipe.source.defaults import DEFAULT_ROWS, DEFAULT_SEED

if TYPE_CHECKING:
    from pinpipe.batch import BatchSummary

DEFAULT_EVENTS = 2_000
GATEWAY_START_S = 60.0
CATCH_UP_S = 120.0
POLL_S = 0.25
SINK_IDLE_FLUSH_MS = 200  # close a partly filled lake file soon after the last record: the demo waits on it
SINK_ROTATE_MS = 1_000  # and at least every second of record time, so the lake follows a slow --rate live


@dataclass
class DemoOptions:
    """One demo run; ``events`` per route (so both emulators send that many events)."""

    events: int = DEFAULT_EVENTS
    rows: int | None = None  # None: the source generator's default
    seed: int = DEFAULT_SEED
    rate: float = 0.0
    port: int | None = None
    serve: bool = False
    fresh: bool = False
    catch_up_s: float = CATCH_UP_S


@dataclass
class DemoResult:
    summary: dict[str, Any]
    report: Path
    insights: dict[str, pa.Table]
    url: str
    notes: list[str] = field(default_factory=list)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(host: str, wanted: int | None, default: int) -> tuple[int, str | None]:
    """The port asked for, else the default if free, else any free one (a note says so)."""
    if wanted is not None:
        if wanted and not port_free(host, wanted):
            raise PinpipeError(f"port {wanted} on {host} is in use", hint="pick another --port")
        return wanted, None
    if port_free(host, default):
        return default, None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port = int(sock.getsockname()[1])
    return port, f"port {default} is in use, the gateway listens on {port} instead"


class Demo:
    """One run; :meth:`run` does steps 1-5 and, with ``serve``, keeps the children up until Ctrl-C."""

    def __init__(self, settings: Settings, options: DemoOptions, err: Console) -> None:
        self.settings = settings
        self.options = options
        self.err = err
        self.phases: dict[str, float] = {}
        self.notes: list[str] = []

    def say(self, message: str) -> None:
        self.err.print(message, highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.phases[name] = round(time.monotonic() - started, 2)

    # ------------------------------------------------------------------ the run

    def run(self, on_ready: Callable[[DemoResult], None] | None = None) -> DemoResult:
        """Run end to end; ``on_ready`` (printing) is called before serving, while children are up.

        The stack unwinds in reverse on any exit — an error, Ctrl-C or SIGTERM (an interrupt here) —
        so this process's log handles close first and the children are then stopped in order.
        """
        settings, options = self.settings, self.options
        if options.events < 1:
            raise PinpipeError(f"--events must be >= 1, got {options.events}")
        embedded_only(settings)
        self._warn_repeats()
        began = time.monotonic()
        with contextlib.ExitStack() as stack:
            stack.enter_context(sigterm_as_interrupt())
            port, url = self._prepare()
            env = child_env(home=str(settings.home), prefix=settings.prefix, api_port=str(port), api_url=url)
            tree = stack.enter_context(ProcessTree(settings.home / "logs", env))
            gateway = self._start_pipeline(tree, port, url)
            status = PipelineStatus(settings, None)
            stack.enter_context(_status_logs(settings, status))
            summaries = self._flow(tree, status, url)
            if not options.serve:
                self._stop_pipeline(tree)
            with self.phase("batch"):
                batch = self._batch()
            result = self._finish(summaries, batch, status, url, began)
            if on_ready is not None:
                on_ready(result)
            if options.serve:
                self._serve(tree, gateway, url)
        return result

    # ------------------------------------------------------------------ steps

    def _warn_repeats(self) -> None:
        """More events than the source holds is a load test, not a mistake: allowed, but said, as events repeat.

        The emulators draw at random with replacement (as the seed's did), so a few repeat anyway;
        beyond the source's size at least the excess does, and the tables hold fewer rows than sent.
        """
        rows = self.options.rows or DEFAULT_ROWS
        events = self.options.events
        if events > rows:
            note = (
                f"warning: each emulator sends {events:,} events drawn from the source's {rows:,}, so at least "
                f"{events - rows:,} of them repeat (merged on ind downstream); --rows {events} makes room for them all"
            )
            self.notes.append(note)
            self.say(note)

    def _prepare(self) -> tuple[int, str]:
        """Step 1 and the gateway's port: the home, the source database; returns (port, URL).

        The port comes first: a busy ``--port`` is refused before the home is wiped or filled.
        """
        settings = self.settings
        port, port_note = pick_port(settings.api_host, self.options.port, settings.api_port)
        note = prepare_home(settings.home, fresh=self.options.fresh)
        if note:
            self.say(note)
        with self.phase("source_init"):
            self._init_source()
        if port_note:
            self.notes.append(port_note)
            self.say(port_note)
        return port, f"http://{settings.api_host}:{port}"

    def _start_pipeline(self, tree: ProcessTree, port: int, url: str) -> Child:
        """Step 2: the gateway, the sink and the stream job, up once the gateway answers; returns the gateway."""
        with self.phase("start"):
            gateway = tree.start("gateway", pinpipe_command("api", "--port", str(port), "--log-level", "warning"))
            tree.start(
                "sink",
                python_command(
                    "-m",
                    "pinpipe.sink",
                    "run",
                    "--idle-flush-ms",
                    str(SINK_IDLE_FLUSH_MS),
                    "--rotate-interval-ms",
                    str(SINK_ROTATE_MS),
                ),
            )
            tree.start("stream job", python_command("-m", "pinpipe.demo.stream_worker"))
            self._wait_gateway(tree, gateway, url)
        self.say(f"pipeline up: gateway {url} (dashboard {url}/), sink and stream job; logs in {tree.log_dir}")
        return gateway

    def _stop_pipeline(self, tree: ProcessTree) -> None:
        """Stop the children once all caught up (the consumers before the gateway), before the batch job."""
        with self.phase("stop"):
            for name in ("stream job", "sink", "gateway"):
                log_path = tree.children[name].log_path
                code = tree.stop(name)
                # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean stop.
                # Anything else is worth a line, not a failed demo: all had caught up.
                if code not in (0, -signal.SIGTERM):
                    self.say(f"warning: the {name} exited with status {code} (see {log_path})")

    def _init_source(self) -> None:
        from pinpipe.source import open_engine, populate

        rows = self.options.rows or DEFAULT_ROWS
        engine = open_engine(self.settings.source_url or "")
        columns = (TextColumn("source init"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        started = time.monotonic()
        try:
            with Progress(*columns, console=self.err, transient=True, disable=not self.err.is_terminal) as progress:
                task = progress.add_task("source", total=rows)
                written = populate(engine, rows, self.options.seed, on_progress=lambda n: progress.advance(task, n))
        finally:
            engine.dispose()
        self.say(f"source: {written:,} events generated in {time.monotonic() - started:.1f} s")

    def _wait_gateway(self, tree: ProcessTree, gateway: Child, url: str) -> None:
        deadline = time.monotonic() + GATEWAY_START_S
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                tree.check()
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{url}/health").status_code == 200:
                        return
                time.sleep(0.1)
        raise PinpipeError(
            f"the gateway did not answer on {url}/health within {GATEWAY_START_S:.0f} s",
            hint=f"see {gateway.log_path}",
        )

    def _emulator(self, route: RouteName, url: str, seed: int) -> Emulator:
        settings = self.settings
        key = settings.api_keys[0].get_secret_value() if settings.api_keys else None
        options = EmulateOptions(
            route=route,
            source_url=settings.source_url or "",
            api_url=url,
            prefix=settings.prefix,
            api_key=key,
            events=self.options.events,
            seed=seed,
            rate=self.options.rate,
            concurrency=4,
            batch_size=100,
        )
        return Emulator(options)

    def _flow(self, tree: ProcessTree, status: PipelineStatus, url: str) -> list[Summary]:
        """Steps 3 and 4 in one event loop: emulate, then wait for the lake and stream tables."""
        try:
            import uvloop

            factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
        except ImportError:
            factory = None
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(self._flow_async(tree, status, url))

    async def _flow_async(self, tree: ProcessTree, status: PipelineStatus, url: str) -> list[Summary]:
        loop = asyncio.get_running_loop()
        emulators = [
            self._emulator("batch", url, self.options.seed),
            self._emulator("stream", url, self.options.seed + 1),
        ]
        columns = (
            TextColumn("{task.description:<26}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.err) as progress:
            bars = {
                "batch": progress.add_task("emulate batch → topics", total=self.options.events, note=""),
                "stream": progress.add_task("emulate stream → streams", total=self.options.events, note=""),
                "sink": progress.add_task("sink → lake", total=None, note=""),
                "stream job": progress.add_task("stream job → Delta", total=None, note=""),
            }

            def show(snapshot: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None) -> None:
                for route, emulator in zip(("batch", "stream"), emulators, strict=True):
                    stats = emulator.stats
                    progress.update(
                        bars[route], completed=stats.events, note=f"{stats.records_acknowledged:,} records acked"
                    )
                if snapshot is not None:
                    for name, entries in zip(("sink", "stream job"), snapshot, strict=True):
                        _show_positions(progress, bars[name], entries)

            def positions() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
                return status.topics(), status.streams()

            started = time.monotonic()
            running = asyncio.gather(*(e.run() for e in emulators))
            running.add_done_callback(_retrieved)  # Ctrl-C cancels it: not an "exception never retrieved"
            while True:
                done, _ = await asyncio.wait({running}, timeout=POLL_S)
                tree.check()
                show(await loop.run_in_executor(None, positions))
                if done:
                    break
            summaries: list[Summary] = running.result()
            self.phases["emulate"] = round(time.monotonic() - started, 2)
            for summary in summaries:
                if not summary.ok:
                    reason = summary.aborted or next(iter(summary.errors), "no error recorded")
                    raise PinpipeError(
                        f"emulate {summary.route}: {summary.records_failed:,} records failed: {reason}",
                        hint=f"see {tree.log_dir / 'gateway.log'}",
                    )
            caught = time.monotonic()
            deadline = caught + self.options.catch_up_s
            while True:
                snapshot = await loop.run_in_executor(None, positions)
                show(snapshot)
                if _caught_up(snapshot):
                    break
                tree.check()
                if time.monotonic() > deadline:
                    raise PinpipeError(
                        f"the sink and stream job did not catch up within {self.options.catch_up_s:.0f} s "
                        f"(sink lag {_lag(snapshot[0])}, stream lag {_lag(snapshot[1])})",
                        hint=f"see {tree.log_dir}",
                    )
                await asyncio.sleep(POLL_S)
            self.phases["catch_up"] = round(time.monotonic() - caught, 2)
        acked = sum(s.records_acknowledged for s in summaries)
        self.say(
            f"emulated {sum(s.events for s in summaries):,} events ({acked:,} records acknowledged) in "
            f"{self.phases['emulate']:.1f} s; lake and stream tables caught up {self.phases['catch_up']:.1f} s later"
        )
        return summaries

    def _batch(self) -> BatchSummary:
        from pinpipe.batch import run_batch

        return run_batch(self.settings, None, "duckdb", progress=lambda m: self.say(f"batch: {m}"))

    def _finish(
        self, summaries: list[Summary], batch: BatchSummary, status: PipelineStatus, url: str, began: float
    ) -> DemoResult:
        from pinpipe.insights.store import load_insights
        from pinpipe.report.page import write_report

        settings = self.settings
        snapshot = status.snapshot()
        stream_job = read_json(report_file(settings, STREAM_JOB_FILE))
        ingest_s = self.phases.get("emulate", 0.0)
        acked = sum(s.records_acknowledged for s in summaries)
        summary: dict[str, Any] = {
            "finished_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
            "home": str(settings.home),
            "gateway": url,
            "events_per_route": self.options.events,
            "seed": self.options.seed,
            "emulators": [s.as_dict() for s in summaries],
            "topics": snapshot["topics"],
            "streams": snapshot["streams"],
            "stream_job": stream_job,
            "batch": {
                "engine": batch.engine,
                "scope": batch.scope,
                "records_read": batch.records_read,
                "records_total": sum(batch.records_read.values()),
                "rows_written": batch.rows_written,
                "dead_letters": batch.dead_letters,
                "insight_rows": batch.insight_rows,
                "seconds": round(batch.durations.get("total", 0.0), 2),
            },
            "dead_letters": snapshot["dead_letters"],
            "throughput": {
                "records_acknowledged": acked,
                "ingest_records_per_s": round(acked / ingest_s, 1) if ingest_s > 0 else None,
                "end_to_end_records_per_s": round(acked / (ingest_s + self.phases.get("catch_up", 0.0)), 1)
                if ingest_s > 0
                else None,
            },
            "phases": self.phases,
            "seconds": round(time.monotonic() - began, 2),
        }
        write_json(report_file(settings, LAST_RUN_FILE), summary)
        report = write_report(settings, status=status)
        return DemoResult(summary=summary, report=report, insights=load_insights(settings), url=url, notes=self.notes)

    def _serve(self, tree: ProcessTree, gateway: Child, url: str) -> None:
        """Keep the pipeline up until Ctrl-C (a normal end here) or until a child stops on its own."""
        self.say(
            f"serving: dashboard at {url}/ — post more events with `pinpipe emulate batch --api {url}`; Ctrl-C stops"
        )
        try:
            while True:
                tree.check()
                with contextlib.suppress(Exception):
                    gateway.proc.wait(timeout=1.0)
        except KeyboardInterrupt:
            self.say("stopping the gateway, sink and stream job")


@contextlib.contextmanager
def _status_logs(settings: Settings, status: PipelineStatus) -> Iterator[None]:
    """Open this process's own read handles on the logs (the gateway created them) for the status."""
    from pinpipe.log import open_log

    log = open_log(settings.log_url or "", settings)
    stream_log = (
        log if settings.stream_log_url == settings.log_url else open_log(settings.stream_log_url or "", settings)
    )
    status.log, status.stream_log = log, stream_log
    try:
        yield
    finally:
        for each in {id(log): log, id(stream_log): stream_log}.values():
            with contextlib.suppress(Exception):
                each.close()


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _lag(entries: list[dict[str, Any]]) -> str:
    lags = [e["lag"] for e in entries]
    return "?" if any(lag is None for lag in lags) else f"{sum(lags):,}"


def _caught_up(snapshot: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> bool:
    return all(e["lag"] == 0 and e["records"] is not None for entries in snapshot for e in entries)


def _show_positions(progress: Progress, task: TaskID, entries: list[dict[str, Any]]) -> None:
    records = sum(e["records"] or 0 for e in entries)
    behind = sum(e["lag"] if e["lag"] is not None else (e["records"] or 0) for e in entries)
    progress.update(task, total=max(records, 1), completed=records - behind, note=f"lag {behind:,}")
