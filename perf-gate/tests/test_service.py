"""Starting, reading and stopping a service as a local process: a real child
Python serving HTTP on the port it is given."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from perf_gate.service import RunError, ServiceProcess, process_cpu_seconds, rss_mib

# Serves /healthz after burning a little CPU; on SIGTERM writes a marker and exits 0.
SERVER = """
import http.server, os, signal, sys, time
def stop(*_):
    open(os.environ["STOPPED_MARKER"], "w").write("stopped")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
deadline = time.process_time() + 0.2
while time.process_time() < deadline:
    pass
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
print("serving", flush=True)
http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Health).serve_forever()
"""


def test_a_process_is_served_measured_and_stopped_with_sigterm(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    core = min(os.sched_getaffinity(0))
    service = ServiceProcess(
        [sys.executable, "-c", SERVER],
        {"STOPPED_MARKER": str(marker)},
        log_path=tmp_path / "service.log",
        cores={core},
    )
    try:
        assert service.wait_until_serving(timeout=30, poll=0.01) > 0
        assert service.cpu_seconds() >= 0.15
        assert process_cpu_seconds(service.pid) == pytest.approx(service.cpu_seconds(), abs=0.05)
        assert rss_mib(service.pid) > 1
        status = Path(f"/proc/{service.pid}/status").read_text()
        assert f"Cpus_allowed_list:\t{core}\n" in status
    finally:
        service.stop()
    assert service.process.returncode == 0
    assert marker.read_text() == "stopped"
    assert "serving" in service.logs()


def test_a_service_that_dies_during_start_up_fails_at_once_with_its_log(tmp_path: Path) -> None:
    service = ServiceProcess(
        [sys.executable, "-c", "import sys; sys.exit('missing setting: DD_ENV')"],
        {},
        log_path=tmp_path / "service.log",
    )
    with pytest.raises(RunError, match=r"exited before .*/healthz answered\n.*missing setting: DD_ENV"):
        service.wait_until_serving(timeout=30)
    service.stop()  # already gone: nothing to do


def test_a_service_that_never_answers_times_out_naming_the_url(tmp_path: Path) -> None:
    service = ServiceProcess([sys.executable, "-c", "import time; time.sleep(60)"], {})
    try:
        with pytest.raises(RunError, match=r"/ready did not answer 200 within 1 s"):
            service.wait_until_serving("/ready", timeout=1)
    finally:
        service.stop()
