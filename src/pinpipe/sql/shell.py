"""The `pinpipe sql` prompt: statements ended by ``;`` (over as many lines as they need), dot commands.

Statements end with ``;`` as in psql and the DuckDB shell, so a long query can be typed or pasted
over several lines; a ``;`` inside quotes or after ``--`` does not count, and the end of input ends
the last statement, so ``echo "SELECT 1" | pinpipe sql`` runs it. A line starting with ``.`` when
no statement is open is a dot command (``.tables``, ``.help``, ``.quit``). A failing statement prints
its one line on stderr and the prompt goes on; the caller learns how many failed, so a script fed
on stdin can exit non-zero.
"""

from __future__ import annotations

from collections.abc import Callable

from pinpipe.errors import PinpipeError
from pinpipe.sql.errors import QueryError
from pinpipe.sql.session import Result, WarehouseSession

PROMPT = "pinpipe> "
CONTINUATION = "     ...> "
HELP = """\
end each statement with ; (it may span lines); tables are views named as in `.tables`
.tables   the tables there are, with the Delta version a query sees
.help     this text
.quit     leave (so does end of input: Ctrl-D)"""


def statement_complete(text: str) -> bool:
    """Whether ``text`` ends a statement: its last character outside quotes and comments is ``;``."""
    quote: str | None = None
    last = ""
    i = 0
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == quote:  # a doubled quote ('it''s') closes and reopens: still balanced
                quote = None
        elif char in "'\"":
            quote = last = char
        elif text.startswith("--", i):
            end = text.find("\n", i)
            if end < 0:
                break
            i = end
            continue
        elif not char.isspace():
            last = char
        i += 1
    return quote is None and last == ";"


class SqlShell:
    """Runs what a user types against one session; ``show`` prints a result, ``say`` a line on stderr."""

    def __init__(self, session: WarehouseSession, show: Callable[[Result], None], say: Callable[[str], None]) -> None:
        self.session = session
        self.show = show
        self.say = say

    def command(self, text: str) -> bool:
        """Run one statement (or several) or a dot command; errors raise. ``False`` means leave."""
        stripped = text.strip()
        if stripped.startswith("."):
            word = stripped.split()[0].lower()
            if word in (".quit", ".exit", ".q"):
                return False
            if word == ".tables":
                self.show(Result.of(self.session.listing()))
            elif word == ".help":
                self.say(HELP)
            else:
                raise QueryError(f"unknown command {word}", hint=".help lists them")
            return True
        result = self.session.run(text)
        if result is not None:
            self.show(result)
        return True

    def prompt(self, read: Callable[[str], str]) -> int:
        """Read with ``read(prompt)`` (EOFError at the end) until ``.quit``; returns the number of failures."""
        failures = 0
        lines: list[str] = []
        while True:
            try:
                line = read(CONTINUATION if lines else PROMPT)
            except EOFError:
                break
            except KeyboardInterrupt:  # Ctrl-C drops the statement being typed, as psql does
                lines.clear()
                self.say("")
                continue
            if not lines and not line.strip():
                continue
            if not lines and line.lstrip().startswith("."):
                keep_going, failed = self._attempt(line)
                failures += failed
                if not keep_going:
                    return failures
                continue
            lines.append(line)
            if statement_complete("\n".join(lines)):
                failures += self._attempt("\n".join(lines))[1]
                lines.clear()
        if lines:
            failures += self._attempt("\n".join(lines))[1]
        return failures

    def _attempt(self, text: str) -> tuple[bool, int]:
        """(go on, failures): an error is said and counted, never the end of the prompt."""
        try:
            return self.command(text), 0
        except PinpipeError as exc:
            self.say(f"error: {exc}")
        except KeyboardInterrupt:
            self.say("interrupted")
        return True, 1
