"""Generated posting events with the real data's shape (DESIGN.md, "The source database").

Why it is built this way:

- **Deterministic**: every draw comes from one ``random.Random(seed)``, in a fixed order, so a seed names
  a dataset. Word and name lists come from Faker's bundled providers (static data of the pinned Faker),
  never from per-call Faker methods, which are slow and would tie the output to Faker's own RNG.
- **Fast and small**: pools (posters, persons, places, texts) are built once; each event then costs a
  handful of draws. Events are produced in chunks, so memory stays flat at any ``rows``.
- **Shaped like the seed's data**: the rates below are those measured on the original sample, and the
  relations matter as much as the rates — story rows carry several placeholders at once, a poster keeps
  its follower count across pins, a person (name + date_joined) repeats under many ``ind``s, coordinate
  triples repeat, and posters with many followers skew young, so the insights have something to find.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from faker.providers.address.en_US import Provider as _Address
from faker.providers.lorem.en_US import Provider as _LoremEn
from faker.providers.lorem.ru_RU import Provider as _LoremRu
from faker.providers.person.en_US import Provider as _PersonEn
from faker.providers.person.ru_RU import Provider as _PersonRu

from pinpipe.source.defaults import DEFAULT_ROWS, DEFAULT_SEED

Row = dict[str, Any]

DEFAULT_CHUNK = 20_000

CATEGORIES: tuple[str, ...] = (
    "art",
    "beauty",
    "christmas",
    "diy-and-crafts",
    "education",
    "event-planning",
    "finance",
    "home-decor",
    "mens-fashion",
    "quotes",
    "tattoos",
    "travel",
    "vehicles",
)

# The placeholder strings, stored exactly so (the cleaning step turns them into NULL).
NO_TITLE = "No Title Data Available"
NO_DESCRIPTION_STORY = "No description available Story format"
NO_DESCRIPTION = "No description available"
UNTITLED = "Untitled"
USER_INFO_ERROR = "User Info Error"
NO_TAGS = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
IMAGE_SRC_ERROR = "Image src error."

IMAGE, VIDEO, STORY = "image", "video", "multi-video(story page format)"

#: Placeholders a pin can carry, as the pin fields they overwrite (the scraper's own gap markers);
#: read-only by type (plain dicts: the per-event lookups stay on the fast path).
Gap = Mapping[str, Any]
GAP_TITLE: Gap = {"title": NO_TITLE}
GAP_POSTER: Gap = {"poster_name": USER_INFO_ERROR, "follower_count": USER_INFO_ERROR}
GAP_TAGS: Gap = {"tag_list": NO_TAGS}
GAP_IMAGE: Gap = {"image_src": IMAGE_SRC_ERROR, "downloaded": 0}
GAP_DESCRIPTION: Gap = {"description": NO_DESCRIPTION}
GAP_UNTITLED: Gap = {"description": UNTITLED}
NO_GAP: Gap = {}

# The rates of the seed's sample, as tables over one uniform draw each (a draw in [0, 1) and the
# first row whose bound is above it wins). The draws are taken in a fixed order per event, so a
# seed keeps naming the same dataset.

#: A pin's media: 7 % story pages, 90 % images, 3 % videos.
MEDIA: tuple[tuple[float, str], ...] = ((0.07, STORY), (0.97, IMAGE), (1.0, VIDEO))
#: An image or video pin has at most one gap (about 4.4 % have one); above the last bound, none.
PIN_GAPS: tuple[tuple[float, Gap], ...] = (
    (0.003, GAP_TITLE),
    (0.006, GAP_POSTER),
    (0.0125, GAP_TAGS),
    (0.0205, GAP_IMAGE),
    (0.0420, GAP_DESCRIPTION),
    (0.0440, GAP_UNTITLED),
)
#: A story page's description is always a placeholder, and 30 % of them (~2 % of all rows) lack more...
STORY_BROKEN_SHARE = 0.30
#: ...several gaps at once: one more draw, and each gap covers its own open interval of it
#: (``None``: from 0), so the intervals overlap as the seed's broken story pages do.
STORY_GAPS: tuple[tuple[float | None, float, Gap], ...] = (
    (None, 1 / 3, GAP_TITLE),
    (1 / 6, 0.5, GAP_POSTER),
    (None, 2 / 3, GAP_TAGS),
    (None, 0.84, GAP_IMAGE),
)

#: Age buckets (inclusive ranges) and their share of user rows, as measured on the seed's sample.
AGE_BUCKETS: tuple[tuple[int, int], ...] = ((20, 24), (25, 35), (36, 50), (51, 60))
AGE_SHARES: tuple[float, ...] = (0.45 / 0.99, 0.27 / 0.99, 0.19 / 0.99, 0.08 / 0.99)
#: Age buckets of posters with many followers (>= 100k): younger than the whole.
AGE_SHARES_HIGH: tuple[float, ...] = (0.62, 0.24, 0.11, 0.03)
#: Share of (non-error) posters with >= 100k followers: every `M` and the top third of the log-uniform `k`.
_HIGH_SHARE = (0.07 + 0.72 / 3) / 0.99
#: The low-follower age mix that keeps the overall mix at AGE_SHARES.
AGE_SHARES_LOW: tuple[float, ...] = tuple(
    (m - _HIGH_SHARE * h) / (1 - _HIGH_SHARE) for m, h in zip(AGE_SHARES, AGE_SHARES_HIGH, strict=True)
)

TIMESTAMP_RANGE = (datetime(2017, 10, 1), datetime(2022, 10, 31, 23, 59, 59))
DATE_JOINED_RANGE = (datetime(2015, 10, 1), datetime(2017, 10, 31, 23, 59, 59))

#: The event quoted in many public write-ups of the original project, reproduced exactly.
CANONICAL_IND = 7528
CANONICAL_PIN: Row = {
    "index": 7528,
    "unique_id": "fbe53c66-3442-4773-b19e-d3ec6f54dddf",
    "title": NO_TITLE,
    "description": NO_DESCRIPTION_STORY,
    "poster_name": USER_INFO_ERROR,
    "follower_count": USER_INFO_ERROR,
    "tag_list": NO_TAGS,
    "is_image_or_video": STORY,
    "image_src": IMAGE_SRC_ERROR,
    "downloaded": 0,
    "save_location": "Local save in /data/mens-fashion",
    "category": "mens-fashion",
}
CANONICAL_GEO: Row = {
    "ind": 7528,
    "timestamp": datetime(2020, 8, 28, 3, 52, 47),
    "latitude": -89.9787,
    "longitude": -173.293,
    "country": "Albania",
}
CANONICAL_USER: Row = {
    "ind": 7528,
    "first_name": "Abigail",
    "last_name": "Ali",
    "age": 20,
    "date_joined": datetime(2015, 10, 24, 11, 23, 51),
}

_EMOJI = ("✨", "❤️", "😍", "🎄", "🔥", "💄", "🏡", "✈️", "🚗", "💰", "🎨", "🙌", "🌿", "📚", "👔", "💍", "🖤", "👉")

_TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "art": ("art", "painting", "drawing", "sketch", "watercolor", "canvas", "artist", "abstract"),
    "beauty": ("makeup", "skincare", "hair", "nails", "beauty", "lipstick", "eyeshadow", "glow"),
    "christmas": ("christmas", "holiday", "xmas", "tree", "ornaments", "santa", "festive", "wreath"),
    "diy-and-crafts": ("diy", "crafts", "handmade", "sewing", "crochet", "upcycle", "paper", "glue"),
    "education": ("learning", "teacher", "classroom", "math", "reading", "kids", "study", "science"),
    "event-planning": ("wedding", "party", "birthday", "event", "decor", "planning", "venue", "bridal"),
    "finance": ("money", "budget", "saving", "investing", "debt", "finance", "income", "frugal"),
    "home-decor": ("home", "decor", "living", "room", "interior", "kitchen", "bedroom", "cozy"),
    "mens-fashion": ("men", "style", "outfit", "suit", "fashion", "casual", "streetwear", "sneakers"),
    "quotes": ("quotes", "inspiration", "life", "love", "motivation", "words", "wisdom", "happiness"),
    "tattoos": ("tattoo", "ink", "tattoos", "sleeve", "minimalist", "design", "linework", "flash"),
    "travel": ("travel", "trip", "beach", "adventure", "wanderlust", "destinations", "vacation", "road"),
    "vehicles": ("car", "cars", "truck", "motorcycle", "classic", "vintage", "engine", "jeep"),
}


def _countries() -> tuple[str, ...]:
    """~217 Faker-style country names (Faker's list, de-duplicated, a fixed subset), as in the seed's data."""
    names = list(dict.fromkeys(_Address.countries))
    keep = {"Albania", "Antarctica (the territory South of 60 deg S)", "Korea"}
    droppable = [n for n in names if n not in keep]
    dropped = set(random.Random(217).sample(droppable, len(names) - 217))
    return tuple(n for n in names if n not in dropped)


COUNTRIES: tuple[str, ...] = _countries()
_WORDS_EN: tuple[str, ...] = tuple(_LoremEn.word_list)
_WORDS_RU: tuple[str, ...] = tuple(_LoremRu.word_list)
_FIRST_EN: tuple[str, ...] = tuple(_PersonEn.first_names)
_LAST_EN: tuple[str, ...] = tuple(_PersonEn.last_names)
_FIRST_RU: tuple[str, ...] = tuple(_PersonRu.first_names_male) + tuple(_PersonRu.first_names_female)
_LAST_RU: tuple[str, ...] = tuple(_PersonRu.last_names_male)


@dataclass(frozen=True)
class EventChunk:
    """Consecutive events: the three tables' rows, in ``ind`` order (one of each per event)."""

    pins: list[Row]
    geos: list[Row]
    users: list[Row]


def _span(rng: random.Random, bounds: tuple[datetime, datetime]) -> datetime:
    start, end = bounds
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds()) + 1))


class _Pools:
    """Everything drawn once per dataset; events then sample from it."""

    def __init__(self, rng: random.Random, rows: int) -> None:
        self.rng = rng
        text_size = max(40, min(rows, 52_000) // len(CATEGORIES))
        self.titles = {c: [self._title(c) for _ in range(text_size)] for c in CATEGORIES}
        self.descriptions = {c: [self._description(c) for _ in range(text_size)] for c in CATEGORIES}
        self.tag_lists = {c: [self._tag_list(c) for _ in range(text_size)] for c in CATEGORIES}
        self.posters = [(self._poster_name(), self._follower_count()) for _ in range(max(20, rows // 5))]
        self.posters[0] = (self._poster_name(), f"{rng.randint(8, 15)}M")  # the dataset's star
        self.persons = self._persons(max(40, rows // 4))
        self.places = [
            (round(rng.uniform(-90, 90), 4), round(rng.uniform(-180, 180), 4), rng.choice(COUNTRIES))
            for _ in range(max(20, rows // 4))
        ]
        self.places[0] = (CANONICAL_GEO["latitude"], CANONICAL_GEO["longitude"], CANONICAL_GEO["country"])

    # -- texts ---------------------------------------------------------------------------------
    def _words(self, category: str, n: int) -> list[str]:
        rng, topic = self.rng, _TOPIC_WORDS[category]
        return [rng.choice(topic) if rng.random() < 0.35 else rng.choice(_WORDS_EN) for _ in range(n)]

    def _title(self, category: str) -> str:
        rng = self.rng
        if rng.random() < 0.03:
            words = rng.choices(_WORDS_RU, k=rng.randint(2, 6))
            text = " ".join(words).capitalize()
        else:
            words = self._words(category, rng.randint(2, 9))
            style = rng.random()
            text = " ".join(w.capitalize() for w in words) if style < 0.5 else " ".join(words).capitalize()
            if style > 0.93:
                text = text.upper()
        if rng.random() < 0.08:
            text += " " + "".join(rng.choices(_EMOJI, k=rng.randint(1, 3)))
        if rng.random() < 0.05:
            text += " " * rng.randint(1, 2)
        return text

    def _description(self, category: str) -> str:
        rng = self.rng
        sentences = []
        for _ in range(rng.randint(1, 4)):
            pool_ru = rng.random() < 0.03
            words = (
                rng.choices(_WORDS_RU, k=rng.randint(5, 14)) if pool_ru else self._words(category, rng.randint(5, 16))
            )
            sentence = " ".join(words).capitalize() + rng.choice((".", ".", ".", "!", "?"))
            if rng.random() < 0.06:
                sentence += " " + rng.choice(_EMOJI)
            sentences.append(sentence)
        text = " ".join(sentences)
        if len(text) > 60 and rng.random() < 0.25:  # the scraper's cut: text … + no-break space
            text = text[: rng.randint(40, len(text) - 10)].rstrip() + "…\u00a0"
        elif rng.random() < 0.04:
            text += " "
        return text

    def _tag_list(self, category: str) -> str:
        rng = self.rng
        tags: list[str] = []
        for _ in range(rng.randint(3, 10)):
            words = self._words(category, rng.randint(1, 3))
            tags.append(" ".join(w.capitalize() for w in words))
        return ",".join(dict.fromkeys(tags))

    # -- people ----------------------------------------------------------------------------------
    def _poster_name(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.40:
            name = f"{rng.choice(_FIRST_EN)} {rng.choice(_LAST_EN)}"
        elif kind < 0.65:
            name = " ".join(w.capitalize() for w in rng.choices(_WORDS_EN, k=rng.randint(1, 3)))
            name += " " + rng.choice(("Blog", "Studio", "Home", "Style", "Co.", "Designs", "Magazine", "| DIY"))
        elif kind < 0.80:
            name = "".join(rng.choices(_WORDS_EN, k=2)) + str(rng.randint(1, 999))
        elif kind < 0.90:
            name = f"{rng.choice(_FIRST_EN)} {rng.choice(_EMOJI)}"
        else:
            name = f"{rng.choice(_FIRST_RU)} {rng.choice(_LAST_RU)}"
        if rng.random() < 0.05:
            name += " "
        return name

    def _follower_count(self) -> str:
        """Raw text as scraped: `<n>k` ~72 %, plain digits ~19 %, `<n>M` ~7 % (of the non-error rows)."""
        rng = self.rng
        kind = rng.random() * 0.99
        if kind < 0.72:
            return f"{int(math.exp(rng.uniform(0, math.log(1000))))}k"
        if kind < 0.91:
            return str(rng.randint(0, 999))
        return f"{min(15, int(rng.paretovariate(1.4)))}M"

    def _persons(self, size: int) -> list[list[tuple[str, str, int, datetime]]]:
        """Persons per age bucket; a person keeps their age and date_joined under every ind."""
        rng = self.rng
        buckets = []
        for (low, high), share in zip(AGE_BUCKETS, AGE_SHARES, strict=True):
            buckets.append(
                [
                    (rng.choice(_FIRST_EN), rng.choice(_LAST_EN), rng.randint(low, high), _span(rng, DATE_JOINED_RANGE))
                    for _ in range(max(5, round(size * share)))
                ]
            )
        c = CANONICAL_USER
        buckets[0][0] = (c["first_name"], c["last_name"], c["age"], c["date_joined"])
        return buckets


def _is_high(follower_count: str) -> bool:
    return follower_count.endswith("M") or (follower_count.endswith("k") and int(follower_count[:-1]) >= 100)


def _first(draw: float, table: tuple[tuple[float, Any], ...], default: Any = None) -> Any:
    """The value of the first row of ``table`` whose bound is above ``draw``."""
    for bound, value in table:
        if draw < bound:
            return value
    return default


class _Events:
    """Draws one event at a time from the pools, in a fixed order of draws (pin, then geo, then user)."""

    def __init__(self, rng: random.Random, rows: int) -> None:
        self.rng = rng
        self.pools = _Pools(rng, rows)
        self.ts_start = TIMESTAMP_RANGE[0]
        self.ts_span = int((TIMESTAMP_RANGE[1] - TIMESTAMP_RANGE[0]).total_seconds()) + 1
        self.cum_high = _cumulative(AGE_SHARES_HIGH)
        self.cum_low = _cumulative(AGE_SHARES_LOW)

    def pin(self, ind: int) -> Row:
        rng, pools = self.rng, self.pools
        category = CATEGORIES[rng.randrange(len(CATEGORIES))]
        media = _first(rng.random(), MEDIA)
        title = _pick(rng, pools.titles[category])
        tag_list = _pick(rng, pools.tag_lists[category])
        poster_name, follower_count = pools.posters[rng.randrange(len(pools.posters))]
        broken = rng.random()
        if media == STORY:
            description, downloaded = NO_DESCRIPTION_STORY, 0
            gaps = self._story_gaps() if broken < STORY_BROKEN_SHARE else NO_GAP
        else:
            description, downloaded = _pick(rng, pools.descriptions[category]), 1
            gaps = _first(broken, PIN_GAPS, NO_GAP)
        # no address is drawn for a missing image: the order of draws is part of what a seed names
        image_src = gaps["image_src"] if "image_src" in gaps else _image_src(rng.getrandbits(128), media)
        pin: Row = {
            "index": ind,
            "unique_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "title": title,
            "description": description,
            "poster_name": poster_name,
            "follower_count": follower_count,
            "tag_list": tag_list,
            "is_image_or_video": media,
            "image_src": image_src,
            "downloaded": downloaded,
            "save_location": f"Local save in /data/{category}",
            "category": category,
        }
        if gaps:
            pin.update(gaps)
        return pin

    def _story_gaps(self) -> Gap:
        part = self.rng.random()
        gaps: dict[str, Any] = {}
        for low, high, gap in STORY_GAPS:
            if (low is None or low < part) and part < high:
                gaps.update(gap)
        return gaps

    def geo(self, ind: int) -> Row:
        rng, places = self.rng, self.pools.places
        latitude, longitude, country = places[int(len(places) * rng.random() ** 2)]  # places repeat
        return {
            "ind": ind,
            "timestamp": self.ts_start + timedelta(seconds=rng.randrange(self.ts_span)),
            "latitude": latitude,
            "longitude": longitude,
            "country": country,
        }

    def user(self, ind: int, follower_count: str) -> Row:
        """The person behind a pin: posters with many followers skew young."""
        rng = self.rng
        cumulative = self.cum_high if _is_high(follower_count) else self.cum_low
        age_draw = rng.random()
        bucket = self.pools.persons[next(i for i, c in enumerate(cumulative) if age_draw < c)]
        first_name, last_name, age, date_joined = bucket[int(len(bucket) * rng.random() ** 2)]  # people repeat
        return {"ind": ind, "first_name": first_name, "last_name": last_name, "age": age, "date_joined": date_joined}


def generate(
    rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[EventChunk]:
    """Events ``0 .. rows-1`` in chunks of ``chunk_size``; the same ``(rows, seed)`` gives the same rows.

    Every event is complete (pin, geo and user row): gaps are a property of real data that
    ``source load`` accepts, not something the generator invents.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    events = _Events(random.Random(seed), rows)
    for start in range(0, rows, chunk_size):
        chunk = EventChunk([], [], [])
        for ind in range(start, min(rows, start + chunk_size)):
            pin = events.pin(ind)
            geo = events.geo(ind)
            user = events.user(ind, pin["follower_count"])
            if ind == CANONICAL_IND:  # drawn all the same, so the events after it do not move
                pin, geo, user = dict(CANONICAL_PIN), dict(CANONICAL_GEO), dict(CANONICAL_USER)
            chunk.pins.append(pin)
            chunk.geos.append(geo)
            chunk.users.append(user)
        yield chunk


def _pick(rng: random.Random, pool: list[str]) -> str:
    return pool[int(len(pool) * rng.random())]


def _cumulative(shares: tuple[float, ...]) -> tuple[float, ...]:
    total, out = 0.0, []
    for share in shares:
        total += share
        out.append(total)
    out[-1] = 1.0 + 1e-9
    return tuple(out)


def _image_src(bits: int, media: str) -> str:
    digest = f"{bits:032x}"
    ext = "mp4" if media == VIDEO and bits & 1 else ("png" if bits % 7 == 0 else "jpg")
    return f"https://i.pinimg.com/originals/{digest[:2]}/{digest[2:4]}/{digest[4:6]}/{digest}.{ext}"
