"""Flame graphs as self-contained SVG: one profile's, or the difference
between two (red where the candidate spends more, blue where less).

Widths are the profile being shown (the candidate for a difference); a
frame's colour is its change in share of the total, so a function that takes
a bigger slice of the CPU turns red however the sampling rates differed.
Hover a frame for its numbers (an SVG <title>, no script needed).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html import escape

from .pprof import Frame, Stack

WIDTH = 1200
ROW = 17
FONT = 11
MIN_WIDTH_PX = 0.3  # frames narrower than this are not drawn


@dataclass
class Node:
    frame: Frame | None
    value: float = 0.0
    baseline: float = 0.0
    children: dict[Frame, Node] = field(default_factory=dict)


def _tree(stacks: Counter[Stack], baseline: Counter[Stack] | None) -> Node:
    root = Node(frame=None)
    total = sum(stacks.values()) or 1
    base_total = sum(baseline.values()) if baseline else 0
    for source, scale, attribute in (
        (stacks, 1 / total, "value"),
        (baseline or Counter(), 1 / (base_total or 1), "baseline"),
    ):
        for stack, value in source.items():
            node = root
            setattr(node, attribute, getattr(node, attribute) + value * scale)
            for frame in stack:
                node = node.children.setdefault(frame, Node(frame=frame))
                setattr(node, attribute, getattr(node, attribute) + value * scale)
    return root


def _colour(share: float, baseline_share: float | None) -> str:
    if baseline_share is None:  # a plain flame graph: warm colours by depth of share
        heat = min(1.0, share * 4)
        return f"rgb(240,{int(160 - 90 * heat)},{int(60 - 40 * heat)})"
    delta = share - baseline_share
    strength = min(1.0, abs(delta) / max(baseline_share, share, 1e-9) * 2)
    fade = int(230 - 180 * strength)
    if delta > 0:
        return f"rgb(250,{fade},{fade})"
    if delta < 0:
        return f"rgb({fade},{fade},250)"
    return "rgb(220,220,220)"


def _depth(node: Node, depth: int = 0) -> int:
    visible = [child for child in node.children.values() if child.value * WIDTH >= MIN_WIDTH_PX]
    return max((_depth(child, depth + 1) for child in visible), default=depth)


def render(stacks: Counter[Stack], title: str, unit: str, baseline: Counter[Stack] | None = None) -> str:
    """An SVG document; ``baseline`` given, a differential one."""
    root = _tree(stacks, baseline)
    height = (_depth(root) + 2) * ROW
    rows: list[str] = []

    def draw(node: Node, x: float, depth: int) -> None:
        width = node.value * WIDTH
        if width < MIN_WIDTH_PX:
            return
        if node.frame is not None:
            # Root at the bottom, callees above, as flame graphs are read.
            y = height - depth * ROW
            label = node.frame.label()
            share = node.value * 100
            tip = f"{label}: {share:.2f}% of {unit}"
            if baseline is not None:
                tip += f" (baseline {node.baseline * 100:.2f}%, change {share - node.baseline * 100:+.2f} points)"
            fill = _colour(node.value, None if baseline is None else node.baseline)
            text = escape(label[: int(width / (FONT * 0.6))]) if width > 3 * FONT else ""
            rows.append(
                f'<g><title>{escape(tip)}</title><rect x="{x:.2f}" y="{y}" width="{width:.2f}" '
                f'height="{ROW - 1}" fill="{fill}" rx="2"/><text x="{x + 3:.2f}" y="{y + ROW - 5}">{text}</text></g>'
            )
        child_x = x
        for child in sorted(node.children.values(), key=lambda n: n.frame.label() if n.frame else ""):
            draw(child, child_x, depth + 1)
            child_x += child.value * WIDTH

    draw(root, 0.0, 0)
    legend = "red: more than baseline, blue: less" if baseline is not None else f"width: share of {unit}"
    body = "\n".join(rows)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height + ROW}" '
        f'viewBox="0 0 {WIDTH} {height + ROW}" font-family="monospace" font-size="{FONT}">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n'
        f'<text x="4" y="{ROW - 4}" font-size="{FONT + 2}">{escape(title)} — {escape(legend)}</text>\n'
        f"{body}\n</svg>\n"
    )
