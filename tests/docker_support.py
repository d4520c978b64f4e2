"""The Docker helpers live in ``harness.docker``. This re-export serves only
bench/perf_gate_sensitivity.py and bench/profiler_overhead.py, which still
import it from here; delete it once they import ``harness.docker``."""

from harness.docker import base_image_for as base_image_for
from harness.docker import build_image as build_image
from harness.docker import docker as docker
from harness.docker import engine_unavailable_reason as engine_unavailable_reason
