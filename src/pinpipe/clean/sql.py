"""The cleaning rules as SQL, written once and rendered for each engine's dialect.

Why SQL with a tiny dialect table rather than two code paths: DuckDB and Spark agree on almost all
of the SQL used here (``try_cast``, ``CASE``, ``||``, ``concat_ws``, ``substr``, anchored
``regexp_replace``); the places where they differ (parsing a JSON object, listing its keys, reading
one key, testing for a key, telling UTF-8 text, matching a regex, building an array, keeping the
first row per key, quoting an identifier) are the fields of :class:`Dialect`. Everything else — which keys a topic
needs, how a value is typed, what a placeholder is, how ``follower_count`` is read, which row of an
``ind`` wins — is generated from :mod:`pinpipe.clean.schema`, so a rule changes in one place and
every engine (and the streaming job) follows.

Traps this avoids on purpose (TOOLING.md): casts are always ``try_cast`` behind a regex (DuckDB
rounds ``'1.5'`` to 2 as BIGINT, Spark ANSI raises); regexes are anchored so DuckDB's first-match
``regexp_replace`` and Spark's all-matches one agree; string literals carry no backslash or quote
(Spark unescapes backslashes in literals, DuckDB does not) — a ``[.]`` class stands for ``\\.``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pinpipe.clean.schema import ID_FIELD, NOT_UTF8_REASON, PLACEHOLDERS, RAW_FIELDS, RawType, check_kind


@dataclass(frozen=True, slots=True)
class Dialect:
    """The few spellings that differ between engines; each is a ``str.format`` template.

    A raw record is parsed once into ``m`` (``parse_object``); ``k`` (``object_keys``) lists the keys
    it holds, so a missing key (dead letter) is told from a JSON ``null`` (a NULL value). A field's
    text is read with ``field``; where a record repeats a key, the last value wins on every engine.

    Spark parses to a ``MAP<STRING,STRING>`` (its session sets ``spark.sql.mapKeyDedupPolicy`` to
    ``LAST_WIN``). DuckDB reads every declared key in one strict call (``json_transform_strict``), which
    yields NULL for exactly the records where "not an object", "absent", "null" and "repeated" can
    matter: text that is not a JSON object, a declared key missing, a key given twice. Only those are
    looked at again (``k`` and ``v``: the keys and values in reverse order, so the first match is the
    last value). So a well-formed record is parsed exactly once. A key read as a number is declared
    ``JSON`` there: its text is then the value as written back by the parser, which for a number is what a
    ``VARCHAR`` declaration gives too, but without its conversion (a third of the parse, measured on the
    geo topic's 1.3M records at 1M events); a JSON string is unquoted.
    """

    name: str
    parse_object: str  # {value}, {struct} -> m, NULL when the text is not JSON ({struct}: the declared keys)
    # how {struct} declares a key read as a number, and {x} (its value in m) -> its text
    number_type: str
    number_text: str
    object_keys: str  # {value}, {m} -> k, the object's keys (see has_key), NULL if not an object
    object_values: str | None  # {value}, {k} -> v, what field reads besides m (None: nothing)
    not_object: str  # {m}, {k} -> whether the record is not a JSON object
    field: str  # {m}, {k}, {v}, {name}, {declared} -> the text of key {name}, its last value if repeated
    declared: str  # {m}, {name} -> key {name} as m holds it
    has_key: str  # {m}, {k}, {name} -> whether the object holds key {name} ({m}: NULL for undeclared keys)
    # {value} -> whether the text is UTF-8 (None: the engine's text always is); {value} -> it shown as UTF-8
    valid_text: str | None
    shown_text: str
    matches: str  # {text}, {pattern} -> boolean, regex search (patterns anchor themselves)
    pair: str  # {first}, {second} -> array of two
    # {columns} of the rows of table {source} matching {where}, one per {key}: the first by {order}
    first_per_key: str
    position: str  # {partition}, {offset} -> what orders records as (partition, offset) does, for {order}
    quote: str  # identifier quote character

    def ident(self, name: str) -> str:
        return f"{self.quote}{name}{self.quote}"

    def match(self, text: str, pattern: str) -> str:
        return self.matches.format(text=text, pattern=literal(pattern))


DUCKDB = Dialect(
    name="duckdb",
    parse_object="try(json_transform_strict({value}, {struct}))",
    number_type="JSON",
    number_text="CASE WHEN starts_with({x}, '\"') THEN json_extract_string({x}, '$') ELSE CAST({x} AS VARCHAR) END",
    # only where m is NULL; nested CASEs: json_type must never see text that is not JSON
    object_keys=(
        "CASE WHEN {m} IS NULL THEN CASE WHEN json_valid({value}) THEN"
        " CASE WHEN json_type({value}) = 'OBJECT' THEN list_reverse(json_keys({value})) END END END"
    ),
    object_values="CASE WHEN {k} IS NOT NULL THEN list_reverse(json_extract_string({value}, '$.*')) END",
    not_object="({m} IS NULL AND {k} IS NULL)",
    field="CASE WHEN {m} IS NOT NULL THEN {declared} ELSE {v}[list_position({k}, {name})] END",
    declared="struct_extract({m}, {name})",
    has_key="({m} IS NOT NULL OR list_contains({k}, {name}))",
    valid_text=None,  # a VARCHAR is UTF-8: lines that are not never reach SQL (lake.records.text_records)
    shown_text="{value}",
    matches="regexp_matches({text}, {pattern})",
    pair="list_value({first}, {second})",
    # the winners' rowids from a hash aggregate on narrow columns, then one scan: half the cost of
    # row_number(), which sorts every wide row; rowid is unique, so a tie on {order} still yields one row
    first_per_key=(
        "SELECT {columns} FROM {source} WHERE rowid IN"
        " (SELECT arg_min(rowid, {order}) FROM {source} WHERE {where} GROUP BY {key})"
    ),
    # one number (offsets are never negative): a quarter cheaper for arg_min than the pair as a struct
    position="CAST({partition} AS HUGEINT) * 9223372036854775808 + {offset}",
    quote='"',
)
SPARK = Dialect(
    name="spark",
    # rebuilt, so a repeated key keeps its last value (from_json alone keeps both, and a lookup finds the
    # first); the session's spark.sql.mapKeyDedupPolicy=LAST_WIN says which (pinpipe.spark.session)
    parse_object="map_from_entries(map_entries(from_json({value}, 'MAP<STRING,STRING>')))",
    number_type="STRING",  # not used: a map of strings declares no key
    number_text="{x}",
    object_keys="map_keys({m})",
    object_values=None,
    not_object="{m} IS NULL",
    field="{declared}",
    declared="{m}[{name}]",
    has_key="array_contains({k}, {name})",
    # a Spark string holds whatever bytes the file had (engines.spark splits files byte for byte)
    valid_text="is_valid_utf8({value})",
    shown_text="make_valid_utf8({value})",
    matches="regexp_like({text}, {pattern})",
    pair="array({first}, {second})",
    first_per_key=(
        "SELECT {columns} FROM (SELECT {columns}, row_number() OVER (PARTITION BY {key} ORDER BY {order}) AS rn"
        " FROM {source} WHERE {where}) AS ranked WHERE rn = 1"
    ),
    position="{partition}, {offset}",
    quote="`",
)

INTEGER_PATTERN = "^-?[0-9]{1,18}$"
DOUBLE_PATTERN = "^[-+]?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]{1,3})?$"
# 'YYYY-MM-DD HH:MM:SS' as the emulators send it, and ISO 'YYYY-MM-DDTHH:MM:SS[.ffffff][Z]'.
TIMESTAMP_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?Z?$"
SAVE_LOCATION_PREFIX = "^Local save in "


def literal(text: str) -> str:
    """A SQL string literal both engines read the same way (so: no quotes, no backslashes)."""
    if "'" in text or "\\" in text:
        raise ValueError(f"literal {text!r} is outside the SQL subset both engines share")
    return f"'{text}'"


def _raw(name: str) -> str:
    """The column holding the text of declared key ``name`` (see :func:`staged_sql`)."""
    return f"r_{name}"


def _has(dialect: Dialect, kind: str, name: str) -> str:
    """Whether a ``kind`` record holds key ``name`` (a declared field of any kind), even as JSON null."""
    declared = any(f.name == name for f in RAW_FIELDS[kind])
    return dialect.has_key.format(m="m" if declared else "NULL", k="k", name=literal(name))


def _typed(dialect: Dialect, name: str, raw_type: RawType) -> str:
    """The raw text of field ``name`` read as its declared type; NULL when absent or unreadable."""
    raw = _raw(name)
    if raw_type is RawType.TEXT:
        return raw
    if raw_type is RawType.INTEGER:
        return f"CASE WHEN {dialect.match(raw, INTEGER_PATTERN)} THEN try_cast({raw} AS BIGINT) END"
    if raw_type is RawType.DOUBLE:
        return f"CASE WHEN {dialect.match(raw, DOUBLE_PATTERN)} THEN try_cast({raw} AS DOUBLE) END"
    iso = f"replace(replace({raw}, 'T', ' '), 'Z', '')"
    return f"CASE WHEN {dialect.match(raw, TIMESTAMP_PATTERN)} THEN try_cast({iso} AS TIMESTAMP) END"


def _has_all(dialect: Dialect, kind: str, fields_of: str) -> str:
    return " AND ".join(_has(dialect, kind, f.name) for f in RAW_FIELDS[fields_of])


def _reason(dialect: Dialect, kind: str) -> str:
    """Why a record does not fit ``kind`` (NULL when it fits): the dead_letter reason."""
    fields = RAW_FIELDS[kind]
    missing = "concat_ws(', ', {})".format(
        ", ".join(f"CASE WHEN NOT {_has(dialect, kind, f.name)} THEN {literal(f.name)} END" for f in fields)
    )
    whens = []
    if dialect.valid_text is not None:
        whens.append(
            f"WHEN NOT {dialect.valid_text.format(value=dialect.ident('value'))} THEN {literal(NOT_UTF8_REASON)}"
        )
    whens.append(f"WHEN {dialect.not_object.format(m='m', k='k')} THEN 'not a JSON object'")
    for other in RAW_FIELDS:
        if other != kind:
            whens.append(
                f"WHEN NOT ({_has_all(dialect, kind, kind)}) AND {_has_all(dialect, kind, other)}"
                f" THEN 'a {other} row, not a {kind} row'"
            )
    whens.append(f"WHEN NOT ({_has_all(dialect, kind, kind)}) THEN 'missing keys: ' || {missing}")
    whens.append(f"WHEN f_{ID_FIELD[kind]} IS NULL THEN '{ID_FIELD[kind]} is null or not an integer'")
    for f in fields:
        if f.type is not RawType.TEXT:
            raw = _raw(f.name)
            whens.append(
                f"WHEN {raw} IS NOT NULL AND f_{f.name} IS NULL "
                f"THEN '{f.name} is not a valid {f.type.value}: ' || substr({raw}, 1, 40)"
            )
    return "CASE " + " ".join(whens) + " END"


def _nullify(name: str) -> str:
    """Placeholders and '' become NULL."""
    values = ", ".join(literal(v) for v in ("", *PLACEHOLDERS.get(name, ())))
    return f"CASE WHEN f_{name} IN ({values}) THEN NULL ELSE f_{name} END"


def _follower_count(dialect: Dialect) -> str:
    """'12k' -> 12000, '2M' -> 2000000, '437' -> 437, anything else -> NULL (BIGINT)."""
    fc = "f_follower_count"
    head = f"try_cast(substr({fc}, 1, length({fc}) - 1) AS BIGINT)"
    return (
        f"CASE WHEN {dialect.match(fc, '^[0-9]{1,12}k$')} THEN {head} * 1000"
        f" WHEN {dialect.match(fc, '^[0-9]{1,9}M$')} THEN {head} * 1000000"
        f" WHEN {dialect.match(fc, '^[0-9]{1,18}$')} THEN try_cast({fc} AS BIGINT) END"
    )


def clean_columns(dialect: Dialect, kind: str) -> list[tuple[str, str]]:
    """(output column, expression over the typed ``f_*`` columns), in the clean table's order."""
    check_kind(kind)
    if kind == "pin":
        return [
            ("ind", "f_index"),
            ("unique_id", "f_unique_id"),
            ("title", _nullify("title")),
            ("description", _nullify("description")),
            ("follower_count", _follower_count(dialect)),
            ("poster_name", _nullify("poster_name")),
            ("tag_list", _nullify("tag_list")),
            ("is_image_or_video", "f_is_image_or_video"),
            ("image_src", _nullify("image_src")),
            ("save_location", f"regexp_replace(f_save_location, {literal(SAVE_LOCATION_PREFIX)}, '')"),
            ("category", "f_category"),
        ]
    if kind == "geo":
        pair = dialect.pair.format(first="f_latitude", second="f_longitude")
        return [
            ("ind", "f_ind"),
            ("country", "f_country"),
            ("coordinates", f"CASE WHEN f_latitude IS NULL AND f_longitude IS NULL THEN NULL ELSE {pair} END"),
            ("timestamp", "f_timestamp"),
        ]
    return [
        ("ind", "f_ind"),
        ("user_name", "f_first_name || ' ' || f_last_name"),
        ("age", "f_age"),
        ("date_joined", "f_date_joined"),
    ]


def staged_sql(dialect: Dialect, kind: str, source: str) -> str:
    """Every raw record of ``source`` (topic, partition, offset, value) with its reason and typed fields (``f_<key>``).

    The JSON is parsed once per record (DuckDB looks again only at records it could not read whole;
    see :class:`Dialect`); the raw value is kept only for records that fail (reason not NULL), since
    those are the ones dead_letter stores.
    """
    check_kind(kind)
    q = dialect.ident
    meta = f"{q('topic')}, {q('partition')}, {q('offset')}"
    fields = RAW_FIELDS[kind]
    numbers = {f.name for f in fields if f.type in (RawType.INTEGER, RawType.DOUBLE)}
    struct = literal(json.dumps({f.name: dialect.number_type if f.name in numbers else "VARCHAR" for f in fields}))
    parse = dialect.parse_object.format(value=q("value"), struct=struct)
    if dialect.valid_text is not None:
        parse = f"CASE WHEN {dialect.valid_text.format(value=q('value'))} THEN {parse} END"
    keys = dialect.object_keys.format(value=q("value"), m="m")
    parsed = f"SELECT {meta}, {q('value')}, {parse} AS m FROM {source}"
    keyed = f"SELECT {meta}, {q('value')}, m, {keys} AS k FROM ({parsed}) AS parsed"
    if dialect.object_values is not None:
        values = dialect.object_values.format(value=q("value"), k="k")
        keyed = f"SELECT *, {values} AS v FROM ({keyed}) AS keyed"

    def text_of(name: str) -> str:
        declared = dialect.declared.format(m="m", name=literal(name))
        if name in numbers:
            declared = dialect.number_text.format(x=declared)
        return dialect.field.format(m="m", k="k", v="v", name=literal(name), declared=declared)

    raws = ", ".join(f"{text_of(f.name)} AS {_raw(f.name)}" for f in fields)
    typed = ", ".join(f"{_typed(dialect, f.name, f.type)} AS f_{f.name}" for f in fields)
    shown = f"CASE WHEN reason IS NULL THEN NULL ELSE {dialect.shown_text.format(value=q('value'))} END"
    return (
        f"SELECT {meta}, {shown} AS {q('value')}, reason, {_typed_columns(kind)}"
        f" FROM (SELECT *, {_reason(dialect, kind)} AS reason"
        f" FROM (SELECT *, {typed}"
        f" FROM (SELECT {meta}, {q('value')}, m, k, {raws} FROM ({keyed}) AS fielded) AS raw) AS typed) AS checked"
    )


def _typed_columns(kind: str) -> str:
    return ", ".join(f"f_{f.name}" for f in RAW_FIELDS[kind])


def clean_sql(dialect: Dialect, kind: str, staged: str, exclude: str | None = None) -> str:
    """The clean rows of ``staged``: records that fit, one per ``ind`` — the lowest (partition, offset) wins.

    ``exclude`` names a relation of ``ind`` values whose rows are left out: those an earlier part of
    the same run already gave (an engine cleaning a big lake a part at a time, in (partition, offset)
    order, so an earlier part's record always wins).

    The clean columns are computed from the typed ones after the winners are chosen: for the replays'
    rows they would be computed for nothing, and staged they cost more room (a list per geo row).
    """
    q = dialect.ident
    cleaned = ", ".join(f"{expr} AS {q(name)}" for name, expr in clean_columns(dialect, kind))
    order = dialect.position.format(partition=q("partition"), offset=q("offset"))
    key = f"f_{ID_FIELD[kind]}"
    where = "reason IS NULL" + ("" if exclude is None else f" AND {key} NOT IN (SELECT ind FROM {exclude})")
    first = dialect.first_per_key.format(columns=_typed_columns(kind), source=staged, where=where, key=key, order=order)
    return f"SELECT {cleaned} FROM ({first}) AS first_records"


def dead_letter_sql(dialect: Dialect, staged: str) -> str:
    """The records of ``staged`` that do not fit their topic, once each."""
    q = dialect.ident
    return (
        f"SELECT DISTINCT {q('topic')}, {q('partition')}, {q('offset')}, {q('value')}, reason"
        f" FROM {staged} WHERE reason IS NOT NULL"
    )
