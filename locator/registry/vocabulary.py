"""The registry's words in Thai and English: point sources, pin-check flags, point kinds.

Defined once here and shown everywhere the same way: the web pages get them embedded in
the page (``locator.api.routers.web``), the kinds' names come from
``data/point_kinds.yaml`` (``locator.registry.kinds``). The codes are the database's
(the check constraints of ``locator.registry.models``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from locator.registry.kinds import point_kinds

Words = tuple[str, str]
"""Thai, then English."""

SOURCE_WORDS: dict[str, Words] = {
    "pinned": ("สำนักงานจริง ปักหมุดโดยหน่วยงาน", "Real office, pinned by its agency"),
    "imported": (
        "สำนักงานจริง นำเข้าจากแหล่งข้อมูลภายนอก",
        "Real office, imported from an outside source",
    ),
    "generated": (
        "จุดสมมุติสำหรับการสาธิต ไม่ใช่สำนักงานจริง: ชื่อ ที่ตั้ง เบอร์โทร และเวลาทำการเป็นข้อมูลสมมุติ",
        "Generated for the demo, not a fact: not a real office; its name, place, phones and "
        "hours are invented",
    ),
}
"""Where a point comes from (``service_point.source``); ``provenance`` says what of it
is real."""
POINT_SOURCES = tuple(SOURCE_WORDS)

QA_FLAG_WORDS: dict[str, Words] = {
    "outside_tambon": ("หมุดอยู่นอกตำบลตามที่อยู่", "pin outside the address's tambon"),
    "postcode_mismatch": ("รหัสไปรษณีย์ไม่ใช่ของตำบลที่หมุดอยู่", "postcode not the tambon's"),
    "wrong_province": ("หมุดอยู่คนละจังหวัดกับที่อยู่", "pin in another province than the address"),
    "duplicate": ("อาจซ้ำกับจุดบริการอื่น", "possible duplicate"),
    "tao_misaddressed": ("ที่อยู่ อบต. ไม่ตรงกับชื่อ", "TAO addressed to another tambon"),
}
"""What the pin check (``locator.registry.pincheck``) finds; migration 0008 holds the
same list."""
QA_FLAGS = tuple(QA_FLAG_WORDS)


def kind_words(catalogue_dir: Path) -> dict[str, Words]:
    """Each kind's Thai and English name."""
    return {code: (k.name_th, k.name_en) for code, k in point_kinds(catalogue_dir).items()}


def page_vocabulary() -> dict[str, Any]:
    """The words the web pages show for codes in the API's answers (JSON-ready)."""
    return {
        "sources": {code: list(words) for code, words in SOURCE_WORDS.items()},
        "qa_flags": {code: list(words) for code, words in QA_FLAG_WORDS.items()},
    }
