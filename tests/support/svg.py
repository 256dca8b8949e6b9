"""Reading the console's SVG charts in tests. ElementTree answers None for a missing element,
attribute or text; these fail instead, saying what was missing."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def text(el: ET.Element | None) -> str:
    """An element's text (a title, an axis label)."""
    assert el is not None, "no such element"
    assert el.text is not None, f"{el.tag} has no text"
    return el.text


def coords(el: ET.Element | None) -> list[str]:
    """The ``x,y`` pairs of a polyline or polygon."""
    assert el is not None, "no such element"
    value = el.get("points")
    assert value is not None, f"{el.tag} has no points"
    return value.split()
