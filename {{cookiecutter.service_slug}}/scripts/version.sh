#!/usr/bin/env bash
# The version an image is built as, from the facts CI has; run locally too.
#
#   scripts/version.sh [TAG] [PIPELINE_NUMBER]     (defaults: $CIRCLE_TAG, $PIPELINE_NUMBER)
#
#   a release tag v1.2.3 (or v1.2.3-rc.1)  ->  1.2.3 (1.2.3-rc.1)
#   else a pipeline number 42              ->  <pyproject version>-build.42
#   else (a local build)                   ->  <pyproject version>-dev
#   and, in a git work tree with changes no commit holds (edited or new
#   files in this project), "-dirty" after it: 0.1.0-dev-dirty
#
# The pipeline number, not CIRCLE_BUILD_NUM (which numbers jobs), makes
# versions grow with every pipeline. The output is a valid Docker tag and
# Datadog tag value (no '+'). An image's commit says which code it runs only
# if nothing uncommitted went in: "-dirty" keeps that from passing unnoticed.
set -euo pipefail

tag="${1-${CIRCLE_TAG:-}}"
pipeline="${2-${PIPELINE_NUMBER:-}}"
release='^v([0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$'
project="$(dirname "$0")/.."

# Edited, deleted or new (not ignored) files under the project, if it is in a git work tree.
dirty_suffix() {
    if [[ -n "$(git -C "$project" status --porcelain --untracked-files=normal -- . 2>/dev/null)" ]]; then
        echo "-dirty"
    fi
}

if [[ -n "$tag" ]]; then
    if [[ "$tag" =~ $release ]]; then
        echo "${BASH_REMATCH[1]}$(dirty_suffix)"
        exit 0
    fi
    echo "version.sh: tag '$tag' is not a release tag vMAJOR.MINOR.PATCH[-PRERELEASE]" >&2
    exit 1
fi

pyproject="$project/pyproject.toml"
base="$(sed -n 's/^version = "\([0-9A-Za-z.-]*\)"$/\1/p' "$pyproject" | head -n 1)"
if [[ -z "$base" ]]; then
    echo "version.sh: no version = \"…\" line in $pyproject" >&2
    exit 1
fi

if [[ -n "$pipeline" ]]; then
    if [[ ! "$pipeline" =~ ^[0-9]+$ ]]; then
        echo "version.sh: pipeline number '$pipeline' is not a whole number" >&2
        exit 1
    fi
    echo "${base}-build.${pipeline}$(dirty_suffix)"
else
    echo "${base}-dev$(dirty_suffix)"
fi
