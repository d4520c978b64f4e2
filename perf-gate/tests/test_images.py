"""What a gate run leaves on the Docker engine: nothing it built, unless kept.
Against a stand-in ``docker`` on PATH that keeps its images in a JSON file, so
the order of removals and what is spared can be read back."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from perf_gate.images import BuiltImages

# A docker CLI with just what images.py asks: dangling ids, the df line, image rm.
FAKE_DOCKER = """\
import json, os, sys
state_path = os.environ["FAKE_DOCKER_STATE"]
state = json.load(open(state_path))
arguments = sys.argv[1:]
state["calls"].append(arguments)
if arguments[:1] == ["images"]:
    print("\\n".join(state["dangling"]))
elif arguments[:2] == ["system", "df"]:
    print(f"Images\\t{len(state['tags']) + len(state['dangling'])} images")
elif arguments[:2] == ["image", "rm"]:
    image = arguments[2]
    if image in state["in_use"]:
        print(f"Error response from daemon: conflict: unable to remove {image}: image is being used", file=sys.stderr)
        sys.exit(1)
    if image not in state["tags"] and image not in state["dangling"]:
        print(f"Error response from daemon: No such image: {image}", file=sys.stderr)
        sys.exit(1)
    for kind in ("tags", "dangling"):
        if image in state[kind]:
            state[kind].remove(image)
json.dump(state, open(state_path, "w"))
"""
USERS_OLD_LAYER = "sha256:" + "1" * 64
GATES_BUILD_LAYER = "sha256:" + "2" * 64
SIDES = ["svc:perf-baseline", "svc:perf-candidate"]
COUNTED = ["svc:perf-baseline-callgrind", "svc:perf-candidate-callgrind"]


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in engine's state: the user's own image and dangling layer before any run."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    docker.chmod(0o755)
    state = tmp_path / "docker-state.json"
    state.write_text(json.dumps({"tags": ["users/own:1.0"], "dangling": [USERS_OLD_LAYER], "in_use": [], "calls": []}))
    monkeypatch.setenv("FAKE_DOCKER_STATE", str(state))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return state


def build(engine: Path, tags: list[str], layers: list[str]) -> None:
    """What the run's builds add to the engine."""
    state = json.loads(engine.read_text())
    state["tags"] += tags
    state["dangling"] += layers
    engine.write_text(json.dumps(state))


def started_run(keep: bool) -> BuiltImages:
    images = BuiltImages(keep=keep)
    for tag in [*SIDES, *COUNTED]:
        images.add(tag)
    return images


def test_a_run_removes_its_images_and_new_build_layers_but_not_what_was_there(engine: Path) -> None:
    images = started_run(keep=False)
    build(engine, [*SIDES, *COUNTED], [GATES_BUILD_LAYER])
    lines: list[str] = []
    images.finish(lines.append)

    state = json.loads(engine.read_text())
    assert (state["tags"], state["dangling"]) == (["users/own:1.0"], [USERS_OLD_LAYER]), state
    removed = [call[2] for call in state["calls"] if call[:2] == ["image", "rm"]]
    # The Valgrind copies go before the images they are built on.
    assert removed == [*reversed(COUNTED), *reversed(SIDES), GATES_BUILD_LAYER], removed
    assert len(lines) == 1 and lines[0].startswith("removed the gate's images (4 tags, 1 untagged build layers"), lines


def test_kept_images_stay_and_the_run_says_how_to_free_them(engine: Path) -> None:
    images = started_run(keep=True)
    build(engine, [*SIDES, *COUNTED], [GATES_BUILD_LAYER])
    lines: list[str] = []
    images.finish(lines.append)

    state = json.loads(engine.read_text())
    assert not [call for call in state["calls"] if call[:2] == ["image", "rm"]], state["calls"]
    assert len(lines) == 1, lines
    assert "kept the gate's images" in lines[0] and f"docker image rm {' '.join([*SIDES, *COUNTED])}" in lines[0]


def test_an_interrupted_run_removes_what_it_got_to_build_and_names_what_it_could_not(engine: Path) -> None:
    images = started_run(keep=False)
    build(engine, [SIDES[0]], [])  # stopped after the baseline's build
    state = json.loads(engine.read_text())
    state["in_use"] = [SIDES[0]]
    engine.write_text(json.dumps(state))
    lines: list[str] = []
    images.finish(lines.append)

    assert lines[0].startswith("removed the gate's images"), lines
    assert lines[1:] == [
        f"could not remove {SIDES[0]}: Error response from daemon: conflict: unable to remove {SIDES[0]}: "
        "image is being used"
    ], lines
