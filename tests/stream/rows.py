"""Raw rows as the emulators send them, for feeding the streams directly in tests."""

from __future__ import annotations

from typing import Any

import orjson

from pinpipe.log import EventLog, OutRecord
from pinpipe.settings import Settings

CATEGORIES = ("art", "beauty", "travel", "mens-fashion")


def pin_row(ind: int) -> dict[str, Any]:
    category = CATEGORIES[ind % len(CATEGORIES)]
    story = ind % 7 == 0
    return {
        "index": ind,
        "unique_id": f"00000000-0000-4000-8000-{ind:012d}",
        "title": "No Title Data Available" if story else f"Title {ind} ✨",
        "description": "No description available Story format" if story else f"Описание {ind}",
        "poster_name": "User Info Error" if story else f"poster {ind % 13}",
        "follower_count": "User Info Error" if story else (f"{ind % 90 + 1}k" if ind % 3 else f"{ind % 9 + 1}M"),
        "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e" if story else "a,b,c",
        "is_image_or_video": "multi-video(story page format)" if story else "image",
        "image_src": "Image src error." if story else f"https://i.example/{ind}.jpg",
        "downloaded": 0 if story else 1,
        "save_location": f"Local save in /data/{category}",
        "category": category,
    }


def geo_row(ind: int) -> dict[str, Any]:
    return {
        "ind": ind,
        "timestamp": f"2020-08-{ind % 28 + 1:02d} 03:52:47",
        "latitude": -89.9787 + ind % 100,
        "longitude": -173.293 + ind % 300,
        "country": "Albania" if ind % 2 else "Korea",
    }


def user_row(ind: int) -> dict[str, Any]:
    return {
        "ind": ind,
        "first_name": "Abigail",
        "last_name": f"Ali{ind % 5}",
        "age": 20 + ind % 40,
        "date_joined": f"2015-10-{ind % 28 + 1:02d} 11:23:51",
    }


ROWS = {"pin": pin_row, "geo": geo_row, "user": user_row}


def append_events(log: EventLog, settings: Settings, inds: list[int]) -> int:
    """Append each event's three rows to the three streams; returns records appended."""
    total = 0
    for kind, make in ROWS.items():
        records = [OutRecord(orjson.dumps(make(i)), key=str(i).encode()) for i in inds]
        log.append(settings.stream(kind), records)
        total += len(records)
    return total
