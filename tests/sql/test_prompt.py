"""`pinpipe sql` without a query: the prompt, fed on stdin; statements, dot commands, errors, freshness."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pinpipe.cli import main
from pinpipe.insights import INSIGHTS
from pinpipe.sql import statement_complete
from tests.sql.conftest import STREAM_EVENTS
from tests.sql.test_sql import append_copies

Step = str | Callable[[], None]


class FedStdin:
    """stdin of lines; a callable among them runs when the prompt reads past it (a commit between statements)."""

    def __init__(self, *steps: Step, tty: bool = False) -> None:
        self.steps = list(steps)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def readline(self) -> str:
        while self.steps and callable(self.steps[0]):
            self.steps.pop(0)()
        return f"{self.steps.pop(0)}\n" if self.steps else ""


def prompt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *steps: Step, args: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", FedStdin(*steps))
    code = main(["sql", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("text", "complete"),
    [
        ("SELECT 1;", True),
        ("SELECT 1", False),
        ("SELECT 1\n  FROM t;  ", True),
        ("SELECT ';", False),
        ("SELECT ';' AS semi", False),
        ("SELECT 'it''s';", True),
        ('SELECT 1 AS "a;b"', False),
        ("SELECT 1; -- done;", True),
        ("SELECT 1 -- not yet;", False),
    ],
)
def test_a_statement_ends_at_a_semicolon_outside_quotes_and_comments(text: str, complete: bool) -> None:
    assert statement_complete(text) is complete


def test_statements_span_lines_and_the_last_needs_no_semicolon(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = prompt(
        monkeypatch,
        capsys,
        "",
        "SELECT count(*) AS n",
        "  FROM stream_pin;",
        "SELECT ';' AS semi;",
        "SELECT 42 AS answer",
        args=("--format", "csv"),
    )
    assert (code, err) == (0, "")
    assert out == f"n\n{STREAM_EVENTS}\nsemi\n;\nanswer\n42\n"


def test_errors_are_said_and_the_prompt_goes_on_until_quit(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = prompt(
        monkeypatch,
        capsys,
        "SELECT nope FROM stream_pin;",
        ".bogus",
        "SELECT 1 AS still_here;",
        ".quit",
        "SELECT 2 AS never_run;",
        args=("--format", "csv"),
    )
    assert out == "still_here\n1\n"
    binder, unknown = err.splitlines()
    assert binder.startswith('error: Binder Error: Referenced column "nope" not found in FROM clause!')
    assert unknown == "error: unknown command .bogus (.help lists them)"
    assert code == 1  # stdin is no terminal: a script whose statements failed fails


def test_dot_tables_and_results_print_as_tables(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = prompt(monkeypatch, capsys, ".tables", "SELECT count(*) AS n FROM stream_geo;")
    assert code == 0
    assert "stream_pin" in out and "median_followers_by_age_group" in out and f"{7 + len(INSIGHTS)} rows" in out
    assert f"\n{STREAM_EVENTS}" in out.replace(" ", "") and out.rstrip().endswith("1 row")


def test_every_statement_sees_the_tables_as_they_are_now(
    own_warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    users = own_warehouse / "stream" / "user"
    kept = shutil.move(users, own_warehouse.parent / "user-table")
    count_pins, count_users = "SELECT count(*) AS n FROM stream_pin;", "SELECT count(*) AS n FROM stream_user;"
    code, out, err = prompt(
        monkeypatch,
        capsys,
        count_pins,
        lambda: append_copies(str(own_warehouse / "stream" / "pin"), 3, 1000),
        count_pins,
        count_users,
        lambda: shutil.move(kept, users),  # the table is written while the prompt is open
        count_users,
        args=("--format", "csv"),
    )
    assert out == f"n\n{STREAM_EVENTS}\nn\n{STREAM_EVENTS + 3}\nn\n{STREAM_EVENTS}\n"
    assert err.count("\n") == 1 and "stream_user is not in the warehouse yet" in err
    assert code == 1


def test_a_terminal_gets_prompts_and_a_banner(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", FedStdin("SELECT 1 AS a", ";", ".help", tty=True))
    code = main(["sql", "--format", "csv"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == "pinpipe>      ...> a\n1\npinpipe> pinpipe> "
    assert captured.err.startswith(f"pinpipe sql: {7 + len(INSIGHTS)} tables of {warehouse.as_uri()}")
    assert ".tables" in captured.err
