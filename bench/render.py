"""Render docs/PERFORMANCE.md from bench/results/*.json (the latest run of each benchmark)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import RESULTS, ROOT

ORDER = ["source_init", "ingest", "emulate", "sink", "batch", "spark_merge", "stream",
         "peers_fastapi", "peers_connect", "peers_spark_stream"]  # fmt: skip

# Peers issue 21 names that cannot run here, said on the page in plain words (not a measurement).
NOT_MEASURED = """## Peers not measured here

- **Strimzi Kafka Bridge** (the gateway's HTTP→Kafka peer): not on Maven Central — on 2026-12-03
  `io.strimzi:kafka-bridge` had no `maven-metadata.xml` there and versions 0.28.0–0.33.1 answered 404;
  it ships as a zip on GitHub releases and as a container image, neither reachable from this machine.
  Karapace's REST proxy (not on PyPI) and kafka-pixy (refused by the Go module proxy) were tried too.
  So the gateway is compared here with the framework's floor and with the log's own append, not with
  another HTTP→Kafka proxy.
- **Kafka Connect's S3 sinks** (Confluent's, Aiven's, Camel's): not on Maven Central; the Connect
  comparison uses Kafka's own file sink instead.
"""

HEADER = """# Performance

Every figure below comes from `make bench` (which runs `bench/*.py`, writes `bench/results/*.json` and
renders this page with `bench/render.py`). Baselines are measured in the same run as the figure they
are compared with. Machine: {machine}.

"""


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.3g}"


def render() -> str:
    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    results.sort(key=lambda r: ORDER.index(r["bench"]) if r["bench"] in ORDER else len(ORDER))
    machine = "not measured yet"
    if results:
        m = results[0]["machine"]
        machine = f"{m['cpus']} cores, Python {m['python']}, {m['platform']}"
    out = [HEADER.format(machine=machine)]
    for r in results:
        out.append(f"## {r['title']}\n")
        out.append(f"`{r['command']}` — run {r['started']} at commit `{r['machine'].get('git')}`.\n")
        out.append("| metric | value | unit | target | met | baseline | ratio |")
        out.append("|---|---:|---|---|---|---|---:|")
        for m in r["metrics"]:
            met = "" if m.get("passed") is None else ("yes" if m["passed"] else "**no**")
            base = ""
            if m.get("baseline"):
                base = f"{m['baseline']} ({_fmt(m.get('baseline_value'))})"
            ratio = f"{m['ratio']:.2f}×" if m.get("ratio") is not None else ""
            out.append(
                f"| {m['name']} | {_fmt(m['value'])} | {m['unit']} | {m.get('target') or ''} | {met} "
                f"| {base} | {ratio} |"
            )
        for note in r.get("notes", []):
            out.append(f"\n{note}")
        out.append("")
    out.append(NOT_MEASURED)
    return "\n".join(out) + "\n"


def main() -> None:
    target = ROOT / "docs" / "PERFORMANCE.md"
    target.write_text(render())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
