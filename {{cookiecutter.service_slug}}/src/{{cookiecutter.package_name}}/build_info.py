"""The version and commit this code was built from, fixed at build time.

Python has no ``-ldflags -X``: the image build writes ``_build_info.json`` next
to this module (see the Dockerfile), which makes it part of the installed
package and so immutable at run time. A runtime ``DD_VERSION`` cannot change
what a profile says the running code is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

BUILD_INFO_FILE = Path(__file__).with_name("_build_info.json")
UNBAKED_VERSION = "dev"
UNBAKED_GIT_SHA = "unknown"
# scripts/version.sh ends the version with this when the work tree had changes
# no commit holds: the image is then its commit *plus* those changes.
DIRTY_SUFFIX = "-dirty"

# Versions become Docker tags and Datadog tag values: keep them to that alphabet.
Version = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")]
GitSha = Annotated[str, Field(pattern=r"^([0-9a-f]{40}|unknown)$")]  # or UNBAKED_GIT_SHA
# What each key must be, for the one line that says it is not.
EXPECTED = {"version": "a valid version", "git_commit_sha": "40 lowercase hex digits"}


class BuildInfoError(Exception):
    """The baked file exists but does not say a valid version and commit."""


@dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid"))
class BuildInfo:
    """Provenance of the running code: exactly the two keys of the baked file."""

    version: Version
    git_commit_sha: GitSha

    @property
    def is_baked(self) -> bool:
        """False for a local checkout that no build stamped."""
        return self.git_commit_sha != UNBAKED_GIT_SHA or self.version != UNBAKED_VERSION

    @property
    def provenance_warning(self) -> str | None:
        """Why profiles of this build cannot be traced to exactly one commit, or
        None when they can. Logged once at start and shown by ``/version``."""
        if not self.is_baked:
            return (
                f"no build info baked in: version={self.version} git.commit.sha={self.git_commit_sha}; "
                "build the image with GIT_SHA and VERSION so profiles point to a commit"
            )
        if self.git_commit_sha == UNBAKED_GIT_SHA:
            return (
                f"commit unknown: version {self.version} was built without GIT_SHA, so profiles and /version "
                "cannot point to the code; build it with `make image` from a committed git checkout"
            )
        if self.version.endswith(DIRTY_SUFFIX):
            return (
                f"built from uncommitted changes: version {self.version} is commit {self.git_commit_sha} plus "
                "changes no commit holds; commit them and build again"
            )
        return None


BUILD_INFO = TypeAdapter(BuildInfo)


def build_info_error(error: ValidationError) -> BuildInfoError:
    """pydantic's first complaint as one line naming the file and the key."""
    first, name = error.errors()[0], BUILD_INFO_FILE.name
    if first["type"] == "json_invalid":
        return BuildInfoError(f"{name} is not JSON: {first['msg'].removeprefix('Invalid JSON: ')}")
    key = str(first["loc"][0]) if first["loc"] else ""
    if key not in EXPECTED or first["type"] == "missing":
        return BuildInfoError(f"{name} must hold exactly the keys version and git_commit_sha")
    return BuildInfoError(f"{name}: {key} {first['input']!r} is not {EXPECTED[key]}")


def parse_build_info(text: str) -> BuildInfo:
    """Check and read the contents of a build-info file."""
    try:
        return BUILD_INFO.validate_json(text)
    except ValidationError as error:
        raise build_info_error(error) from None


def load_build_info(path: Path = BUILD_INFO_FILE) -> BuildInfo:
    """The baked provenance, or ``dev``/``unknown`` when nothing was baked."""
    if not path.exists():
        return BuildInfo(version=UNBAKED_VERSION, git_commit_sha=UNBAKED_GIT_SHA)
    return parse_build_info(path.read_text(encoding="utf-8"))


def render_build_info(version: str, git_commit_sha: str) -> str:
    """The file contents for a build; checked by the same rules as reading."""
    text = json.dumps({"version": version, "git_commit_sha": git_commit_sha}) + "\n"
    parse_build_info(text)
    return text


# `git rev-parse HEAD` outside a git repository prints nothing: GIT_SHA is empty.
NO_COMMIT = (
    "error: GIT_SHA is empty: there is no commit to bake (built outside a git repository, or before the "
    "first commit?). Commit the code and build with `make image`, or pass GIT_SHA=unknown to build an "
    "image that says its commit is unknown."
)


def main(argv: list[str]) -> int:
    """``python -m <package>.build_info VERSION GIT_SHA``: bake, as the image build does."""
    if len(argv) != 2:
        print("usage: python -m {{ cookiecutter.package_name }}.build_info VERSION GIT_SHA", file=sys.stderr)
        return 2
    version, git_commit_sha = argv
    if not git_commit_sha.strip():
        print(NO_COMMIT, file=sys.stderr)
        return 1
    try:
        text = render_build_info(version=version, git_commit_sha=git_commit_sha)
    except BuildInfoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    BUILD_INFO_FILE.write_text(text, encoding="utf-8")
    warning = parse_build_info(text).provenance_warning
    if warning is not None:
        print(f"WARNING: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
