"""The bad-input table: one row per case, what is sent and what the gateway must answer.

docs/RELIABILITY.md lists this same table (``python -m tests.reliability.bad_input`` prints it as
Markdown). Cases already covered by ``tests/api/test_bad_input.py`` (truncated JSON, rows not wrapped,
415 on the Kafka route, unknown topics, ``..%2F..`` names, 413 bodies, records over 1 MiB, 503/429) are
not repeated here; they are listed at the end of the table in the docs with their test names.

``outcome`` is what the log must show afterwards: ``nothing written`` (the error answer left every
end offset as it was), or ``stored verbatim`` (the record at the acknowledged offset decodes to
``stored``, the exact value sent).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

GOOD_KEY = "k-reliability-7f3a9c"
TOPIC = "pinterest.pin"
STREAM = "streaming-pinterest-pin"
T = f"/topics/{TOPIC}"
S = f"/streams/{STREAM}"
KAFKA = {"Content-Type": "application/vnd.kafka.json.v2+json"}
AMZ = {"Content-Type": "application/json"}
NOTHING = "nothing written"
VERBATIM = "stored verbatim"
UNSET = object()


def kafka_body(value: Any) -> bytes:
    return json.dumps({"records": [{"value": value}]}, ensure_ascii=False).encode()


def raw_kafka(value_json: bytes) -> bytes:
    """A Kafka REST body whose value is given as raw JSON bytes (to send what json.dumps would refuse)."""
    return b'{"records": [{"value": ' + value_json + b"}]}"


def kinesis_body(data: Any, key: str = "p") -> bytes:
    return json.dumps({"Data": data, "PartitionKey": key}, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Case:
    id: str
    what: str
    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    status: int
    outcome: str
    stored: Any = UNSET  # the value that must be at the acknowledged offset (status 200)
    api_key: str | None = GOOD_KEY
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def target(self) -> str:
        """The topic/stream whose end offsets the case may touch."""
        return STREAM if self.path.startswith("/streams/") else TOPIC

    def request_headers(self) -> dict[str, str]:
        headers = {**self.headers, **self.extra}
        if self.api_key is not None:
            headers["x-api-key"] = self.api_key
        return headers


SQL_TEXT = "Robert'); DROP TABLE records;-- \" OR 1=1 -- /* */ UNION SELECT * FROM topics; \\'"
RTL_TEXT = "\u202eevil.exe\u202c שלום مرحبا \u200f!\u200e"
ODD_TEXT = "👩\u200d👩\u200d👧 e\u0301 \ufeffBOM \uffff \U0010ffff 𝕏"
GOOD_ROW = {"index": 1, "title": "ok"}

CASES: list[Case] = [
    # ------------------------------------------------------------ malformed JSON (400)
    Case("json-trailing-garbage", "a valid document followed by garbage", "POST", T,
         kafka_body(1) + b" x", KAFKA, 400, NOTHING),
    Case("json-nan-literal", "NaN, which JSON does not have", "POST", T, raw_kafka(b"NaN"), KAFKA, 400, NOTHING),
    Case("json-empty-body", "an empty body with a JSON content type", "POST", T, b"", KAFKA, 400, NOTHING),
    Case("json-depth-5000", "arrays nested 5,000 deep", "POST", T,
         raw_kafka(b"[" * 5000 + b"]" * 5000), KAFKA, 400, NOTHING),
    Case("json-raw-nul", "a raw NUL byte inside a string (control characters must be escaped)", "POST", T,
         raw_kafka(b'"a\x00b"'), KAFKA, 400, NOTHING),
    Case("kinesis-not-json", "a Kinesis body that is not JSON", "PUT", f"{S}/record", b"Data=1&PartitionKey=p",
         AMZ, 400, NOTHING),
    # ------------------------------------------------------------ unicode edge cases
    Case("utf8-invalid-bytes", "bytes 0xFF 0xFE inside a string (not UTF-8)", "POST", T,
         raw_kafka(b'"\xff\xfe"'), KAFKA, 400, NOTHING),
    Case("utf8-overlong-slash", "overlong UTF-8 encoding of '/' (0xC0 0xAF)", "POST", T,
         raw_kafka(b'"..\xc0\xaf..\xc0\xafetc"'), KAFKA, 400, NOTHING),
    Case("utf8-encoded-surrogate", "a surrogate encoded as UTF-8 bytes (0xED 0xA0 0x80)", "POST", T,
         raw_kafka(b'"\xed\xa0\x80"'), KAFKA, 400, NOTHING),
    Case("json-lone-surrogate", 'a lone surrogate escape "\\ud800"', "PUT", f"{S}/record",
         b'{"Data": {"t": "\\ud800"}, "PartitionKey": "p"}', AMZ, 400, NOTHING),
    Case("nul-escaped", 'an escaped NUL "a\\u0000b" (valid JSON)', "POST", T,
         raw_kafka(b'{"title": "a\\u0000b"}'), KAFKA, 200, VERBATIM, stored={"title": "a\x00b"}),
    Case("rtl-and-bidi", "right-to-left override, Hebrew, Arabic, bidi marks", "POST", T,
         kafka_body({"title": RTL_TEXT}), KAFKA, 200, VERBATIM, stored={"title": RTL_TEXT}),
    Case("astral-zwj-bom", "ZWJ emoji, combining accent, BOM, U+FFFF, U+10FFFF", "PUT", f"{S}/record",
         kinesis_body({"title": ODD_TEXT}), AMZ, 200, VERBATIM, stored={"title": ODD_TEXT}),
    # ------------------------------------------------------------ wrong shapes and types (422)
    Case("records-null", '{"records": null}', "POST", T, b'{"records": null}', KAFKA, 422, NOTHING),
    Case("partition-negative", "partition -1", "POST", T,
         b'{"records": [{"value": 1, "partition": -1}]}', KAFKA, 422, NOTHING),
    Case("partition-float", "partition 0.5", "POST", T,
         b'{"records": [{"value": 1, "partition": 0.5}]}', KAFKA, 422, NOTHING),
    Case("partition-bool", "partition true", "POST", T,
         b'{"records": [{"value": 1, "partition": true}]}', KAFKA, 422, NOTHING),
    Case("kinesis-records-object", '"Records" an object, not a list', "PUT", f"{S}/records",
         b'{"Records": {"Data": 1, "PartitionKey": "p"}}', AMZ, 422, NOTHING),
    Case("kinesis-key-too-long", "PartitionKey of 300 characters (limit 256)", "PUT", f"{S}/record",
         kinesis_body({"a": 1}, "p" * 300), AMZ, 422, NOTHING),
    Case("kinesis-key-empty", "empty PartitionKey", "PUT", f"{S}/record", kinesis_body({"a": 1}, ""), AMZ, 422,
         NOTHING),
    Case("kinesis-shards-0", "create a stream with ShardCount 0", "POST", "/streams/rel-shards-0",
         b'{"ShardCount": 0}', AMZ, 422, NOTHING),
    Case("kinesis-shards-huge", "create a stream with ShardCount 100000", "POST", "/streams/rel-shards-big",
         b'{"ShardCount": 100000}', AMZ, 422, NOTHING),
    Case("value-null", "a record whose value is null (fits the envelope; dead-lettered downstream)", "POST", T,
         kafka_body(None), KAFKA, 200, VERBATIM, stored=None),
    Case("value-wrong-row", "a geo-shaped row on the pin topic (dead-lettered downstream, not here)", "POST", T,
         kafka_body({"ind": 5, "latitude": "north"}), KAFKA, 200, VERBATIM, stored={"ind": 5, "latitude": "north"}),
    # ------------------------------------------------------------ huge
    Case("many-small-records", "5,000 records in one request", "POST", T,
         json.dumps({"records": [{"value": {"n": i}} for i in range(5000)]}).encode(), KAFKA, 200, "all 5,000 stored"),
    Case("kinesis-batch-one-oversize", "PutRecords with one record over 1 MiB among small ones", "PUT",
         f"{S}/records", json.dumps({"Records": [{"Data": {"n": 1}, "PartitionKey": "p"},
                                                 {"Data": {"b": "x" * (1 << 20)}, "PartitionKey": "p"}]}).encode(),
         AMZ, 422, NOTHING),
    Case("kinesis-data-b64-2mib", "Data as base64 of 2 MiB", "PUT", f"{S}/record",
         kinesis_body(base64.b64encode(b"x" * (2 << 20)).decode()), AMZ, 422, NOTHING),
    # ------------------------------------------------------------ names: traversal, overlong, SQL-looking
    Case("name-encoded-slash-traversal", "topic a%2F..%2F..%2Fb (decoded: a/../../b)", "POST",
         "/topics/a%2F..%2F..%2Fb", kafka_body(1), KAFKA, 400, NOTHING),
    Case("name-backslash-traversal", "topic ..\\..\\b", "POST", "/topics/..%5C..%5Cb", kafka_body(1), KAFKA, 400,
         NOTHING),
    Case("name-single-dot", "stream '.' (encoded %2E)", "PUT", "/streams/%2E/record", kinesis_body(1), AMZ, 400,
         NOTHING),
    Case("name-10000-chars", "topic name of 10,000 characters", "POST", "/topics/" + "x" * 10_000, kafka_body(1),
         KAFKA, 400, NOTHING),
    Case("name-sql", "topic pin';DROP TABLE records;--", "POST", "/topics/pin';DROP%20TABLE%20records;--",
         kafka_body(1), KAFKA, 400, NOTHING),
    # ------------------------------------------------------------ SQL-looking values: stored verbatim
    Case("sql-value-kafka", "SQL-looking title and category", "POST", T,
         kafka_body({"title": SQL_TEXT, "category": "'; DELETE FROM partitions; --"}), KAFKA, 200, VERBATIM,
         stored={"title": SQL_TEXT, "category": "'; DELETE FROM partitions; --"}),
    Case("sql-value-kinesis", "SQL-looking Data and PartitionKey", "PUT", f"{S}/record",
         kinesis_body({"title": SQL_TEXT}, "'); DELETE FROM topics; --"), AMZ, 200, VERBATIM,
         stored={"title": SQL_TEXT}),
    # ------------------------------------------------------------ content types (415)
    Case("ctype-xml", "application/xml on the Kafka route", "POST", T, kafka_body(1),
         {"Content-Type": "application/xml"}, 415, NOTHING),
    Case("ctype-avro", "the proxy's Avro type vnd.kafka.avro.v2+json", "POST", T, kafka_body(1),
         {"Content-Type": "application/vnd.kafka.avro.v2+json"}, 415, NOTHING),
    Case("ctype-multipart", "multipart/form-data on the Kinesis route", "PUT", f"{S}/record", kinesis_body(1),
         {"Content-Type": "multipart/form-data; boundary=x"}, 415, NOTHING),
    Case("ctype-missing-kinesis", "no Content-Type on PutRecords", "PUT", f"{S}/records",
         b'{"Records": [{"Data": 1, "PartitionKey": "p"}]}', {}, 415, NOTHING),
    # ------------------------------------------------------------ API keys (PINPIPE_API_KEYS set)
    Case("key-missing", "no x-api-key", "POST", T, kafka_body(GOOD_ROW), KAFKA, 401, NOTHING, api_key=None),
    Case("key-wrong", "a wrong key", "POST", T, kafka_body(GOOD_ROW), KAFKA, 403, NOTHING,
         api_key="k-reliability-000000"),
    Case("key-prefix", "a prefix of the right key", "PUT", f"{S}/record", kinesis_body(GOOD_ROW), AMZ, 403, NOTHING,
         api_key=GOOD_KEY[:-1]),
    Case("key-case", "the right key in upper case", "POST", T, kafka_body(GOOD_ROW), KAFKA, 403, NOTHING,
         api_key=GOOD_KEY.upper()),
    Case("key-in-query", "the right key as a query parameter", "POST", f"{T}?x-api-key={GOOD_KEY}",
         kafka_body(GOOD_ROW), KAFKA, 401, NOTHING, api_key=None),
    Case("key-as-bearer", "the right key as Authorization: Bearer", "POST", T, kafka_body(GOOD_ROW), KAFKA, 401,
         NOTHING, api_key=None, extra={"Authorization": f"Bearer {GOOD_KEY}"}),
    Case("key-missing-docs", "GET /openapi.json without a key", "GET", "/openapi.json", b"", {}, 401, NOTHING,
         api_key=None),
]  # fmt: skip

#: Not a row above: it needs its own client (tests/reliability/test_bad_input_table.py::test_slowloris…).
SLOWLORIS = (
    "slowloris-partial-body",
    "headers + 10 of 1,000 declared body bytes, then silence",
    "408 after the body timeout; other clients served meanwhile",
)


def markdown() -> str:
    lines = ["| # | case | what is sent | answer | log afterwards |", "|---|---|---|---|---|"]
    for n, case in enumerate(CASES, 1):
        lines.append(f"| {n} | `{case.id}` | {case.what} | {case.status} | {case.outcome} |")
    lines.append(f"| {len(CASES) + 1} | `{SLOWLORIS[0]}` | {SLOWLORIS[1]} | {SLOWLORIS[2]} | nothing written |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
