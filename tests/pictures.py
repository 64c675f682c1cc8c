"""Reading rendered pictures in tests: the node groups of an SVG, the size of a PNG."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def svg_nodes(svg: str) -> dict[str, ET.Element]:
    """Graphviz's node groups of an SVG, by title (the DOT node id)."""
    root = ET.fromstring(svg)
    return {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g")
            if g.get("class") == "node"}


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG file's bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])
