"""`python bench/peers/run.py`: every peer benchmark of bench/peers (issue 21) in one go, then the page.

The same runner as `make bench` (bench/run.py), given just the peers: the FastAPI floor, Kafka Connect
and Spark Structured Streaming, about a quarter of an hour on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.run import ALL, main

PEERS = [name for name in ALL if name.startswith("peers/")]

if __name__ == "__main__":
    sys.exit(main(PEERS))
