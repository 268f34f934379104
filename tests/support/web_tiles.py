"""Stand-in street tiles for the browser tests, which run offline.

``fake_tile(z, x, y)`` draws a 256x256 PNG that looks enough like a street map (land,
a park, streets on a grid) for a screenshot to show what the page looks like over
tiles, without any network. Plain ``zlib`` and ``struct``: no imaging library needed.
It is padded to the size of a real city tile (about 20 KB), so that a throttled load
spends on tiles what a phone would. ``serve_tiles()`` serves them on a loopback port.
"""

from __future__ import annotations

import random
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIZE = 256
LAND = (242, 239, 233)
PARK = (205, 235, 176)
WATER = (170, 211, 223)
ROAD = (255, 255, 255)
CASING = (200, 196, 188)
MAJOR = (252, 214, 164)
TILE_BYTES = 20_000  # an OpenStreetMap tile of a city at zoom 13-16 weighs 15-30 KB


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png(rows: list[bytes], width: int = SIZE, pad_to: int = 0) -> bytes:
    """An RGB PNG from rows of ``width * 3`` bytes, padded with a text chunk to ``pad_to``."""
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    image = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6))
    room = pad_to - len(image) - 8 - 12 - 12 - 4  # signature, IEND, tEXt framing, key
    if room > 0:
        noise = bytes(random.Random(len(rows)).choices(range(33, 127), k=room))
        image += _chunk(b"tEXt", b"pad\x00" + noise)
    return b"\x89PNG\r\n\x1a\n" + image + _chunk(b"IEND", b"")


def _pixel(px: int, py: int, x: int, y: int) -> tuple[int, int, int]:
    gx, gy = (px + x * 37) % 64, (py + y * 53) % 64
    if (px - py + x * 91) % 512 < 14:  # a diagonal avenue
        return MAJOR
    if gx < 6 or gy < 6:
        return ROAD if 1 <= gx <= 4 or 1 <= gy <= 4 else CASING
    block = ((px + x * 37) // 64 + (py + y * 53) // 64 + x + y) % 11
    if block == 0:
        return PARK
    if block == 5 and (x + y) % 3 == 0:
        return WATER
    return LAND


@lru_cache(maxsize=256)
def fake_tile(z: int, x: int, y: int) -> bytes:
    rows = []
    for py in range(SIZE):
        row = bytearray()
        for px in range(SIZE):
            row.extend(_pixel(px, py, x, y))
        rows.append(bytes(row))
    return png(rows, pad_to=TILE_BYTES)


def tile_from_url(url: str) -> bytes:
    """The stand-in tile for a ``.../{z}/{x}/{y}.png`` address."""
    m = re.search(r"/(\d+)/(\d+)/(\d+)\.png", url)
    z, x, y = (int(v) for v in m.groups()) if m else (0, 0, 0)
    return fake_tile(z, x % 64, y % 64)


class _TileHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if not re.fullmatch(r"/\d+/\d+/\d+\.png", self.path):
            self.send_error(404)
            return
        body = tile_from_url(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "public, max-age=86400")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@contextmanager
def serve_tiles() -> Iterator[str]:
    """A tile server on a free loopback port; yields its ``{z}/{x}/{y}`` URL template."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TileHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
    finally:
        server.shutdown()
        server.server_close()
