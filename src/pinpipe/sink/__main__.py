"""``python -m pinpipe.sink run [options]``: a sink worker that starts without the other verbs."""

from __future__ import annotations

import sys

from pinpipe.sink.command import main

if __name__ == "__main__":
    sys.exit(main())
