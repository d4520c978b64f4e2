"""`python3 dev.py demo`, as the README's first screen has a newcomer run it:
a default bake stamped with this checkout's commit, the service beside a real
ddapm-test-agent, and what the profiles it uploaded say."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from .conftest import TEMPLATE_DIR, run

SHA = re.compile(r"^\s+git\.commit\.sha\s+(\S+)$", re.MULTILINE)
WORKLOAD_ROW = re.compile(r"^\s+\d+ms\s+[\d.]+%\s+hash_chain\s+workload\.py\s+GET /cpu-intensive$", re.MULTILINE)
SPANS_AGAINST_PROFILE = re.compile(
    r"measured on the trace's spans: (\d+) ms of thread CPU in workload\.hash_chain.*; the profile credits (\d+) ms"
)
PROFILE_FOLDER = re.compile(r"the profiles stay in (\S+)/:")


def checkout_commit() -> str:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=TEMPLATE_DIR, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "0" * 40


def test_the_demo_shows_provenance_endpoints_and_where_the_cpu_went() -> None:
    output = run([sys.executable, "dev.py", "demo"], cwd=TEMPLATE_DIR, timeout=600).stdout
    folder = PROFILE_FOLDER.search(output)
    try:
        assert SHA.findall(output) == [checkout_commit()], output
        assert "  version              0.1.0-demo" in output, output
        assert WORKLOAD_ROW.search(output), f"no hash_chain row labelled with its endpoint:\n{output}"
        # The demo's calls are long (~100 ms): the profile's figure holds for them.
        figures = SPANS_AGAINST_PROFILE.search(output)
        assert figures is not None, output
        measured, credited = map(int, figures.groups())
        assert measured > 0 and 0.5 * measured <= credited <= 1.5 * measured, figures.group(0)
        assert "for the truth about short work" in output, output
        assert folder is not None and any((TEMPLATE_DIR / folder.group(1)).glob("*.pprof")), output
    finally:
        if folder is not None:  # printed relative to the checkout when it is inside it
            shutil.rmtree(TEMPLATE_DIR / folder.group(1), ignore_errors=True)
