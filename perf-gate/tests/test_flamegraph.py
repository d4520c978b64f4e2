"""Flame graphs are well-formed SVG; a differential one colours growth red and
shrinkage blue."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

from perf_gate.flamegraph import render
from perf_gate.pprof import Frame, Stack, read_profiles

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Frame("main", "app.py")
HOT = Frame("hash_chain", "workload.py")
COOL = Frame("allocate", "workload.py")


def frames_by_name(svg: str) -> dict[str, str]:
    """Function label -> fill colour, read back from the SVG."""
    document = ElementTree.fromstring(svg)
    fills = {}
    for group in document.iter(f"{SVG}g"):
        title = group.find(f"{SVG}title")
        rect = group.find(f"{SVG}rect")
        assert title is not None and rect is not None and title.text is not None
        fills[title.text.split(" (")[0]] = rect.attrib["fill"]
    return fills


def test_differential_graph_marks_growth_red_and_shrinkage_blue() -> None:
    baseline: Counter[Stack] = Counter({(ROOT, HOT): 50, (ROOT, COOL): 50})
    candidate: Counter[Stack] = Counter({(ROOT, HOT): 80, (ROOT, COOL): 20})
    fills = frames_by_name(render(candidate, title="diff", unit="CPU", baseline=baseline))
    red, _, blue = fills["hash_chain"].removeprefix("rgb(").removesuffix(")").split(",")
    assert int(red) > int(blue), fills["hash_chain"]
    red, _, blue = fills["allocate"].removeprefix("rgb(").removesuffix(")").split(",")
    assert int(blue) > int(red), fills["allocate"]


def test_flame_graph_of_a_real_profile_is_valid_svg_naming_the_workload() -> None:
    profile = read_profiles([Path(__file__).parent / "fixtures" / "ddtrace-4.16-py3.13.pprof"])
    svg = render(profile.stacks["cpu-time"], title="cpu <&> test", unit="CPU time")
    document = ElementTree.fromstring(svg)  # raises on malformed XML or bad escaping
    assert document.tag == f"{SVG}svg"
    assert "hash_chain" in frames_by_name(svg)


def test_frames_too_narrow_to_see_are_left_out() -> None:
    stacks: Counter[Stack] = Counter({(ROOT, HOT): 1_000_000, (ROOT, COOL): 1})
    assert "allocate" not in frames_by_name(render(stacks, title="t", unit="CPU"))
