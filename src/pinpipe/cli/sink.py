"""`pinpipe sink run`: the lake sink connector; the command itself is :mod:`pinpipe.sink.command`."""

from __future__ import annotations

from pinpipe.sink.command import app

__all__ = ["app"]
