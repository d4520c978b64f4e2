"""A service baked from this checkout with the default answers, and its locked
environment installed with uv: what the benchmarks and the demo measure and
run (the tests bake through pytest-cookies, from a tagged release of the
checkout, and install with the same environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


class BakeError(RuntimeError):
    """Installing a baked service failed; the message carries uv's output."""


def uv_environment() -> dict[str, str]:
    """uv must use this machine's Python and trust its CA bundle (TLS-inspecting proxies)."""
    environment = dict(os.environ)
    environment.setdefault("UV_PYTHON_DOWNLOADS", "never")
    if CA_BUNDLE.exists():
        environment.setdefault("SSL_CERT_FILE", str(CA_BUNDLE))
    # A baked project gets its own virtual environment, never the caller's.
    environment.pop("VIRTUAL_ENV", None)
    # Baked services find the perf tool as a user's do (their Makefile's pin),
    # never through an override a developer's shell might hold.
    for name in ("PERF_GATE", "PERF_GATE_INDEX", "TEMPLATE_REPOSITORY"):
        environment.pop(name, None)
    return environment


def uv() -> str:
    """``$UV``, else uv beside the running Python (the template's ``.venv``), else on PATH."""
    found = os.environ.get("UV") or shutil.which("uv", path=os.path.dirname(sys.executable)) or shutil.which("uv")
    if found is None:
        raise BakeError("uv is not installed; install the template's requirements-dev.txt")
    return found


@dataclass(frozen=True)
class BakedService:
    """A baked project on disk."""

    project: Path

    @property
    def package(self) -> str:
        """Its Python package: the folder under ``src/`` that runs as ``python -m``."""
        return next(path.name for path in (self.project / "src").iterdir() if (path / "__main__.py").is_file())

    @property
    def python(self) -> Path:
        """The Python of its own environment (there once ``sync`` ran)."""
        return self.project / ".venv" / "bin" / "python"

    def sync(self, *, dev: bool = True) -> None:
        """``uv sync --locked``: its locked dependencies, without the test tools unless ``dev``."""
        command = [uv(), "sync", "--locked", "--quiet", *([] if dev else ["--no-dev"])]
        result = subprocess.run(
            command, cwd=self.project, env=uv_environment(), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BakeError(
                f"{' '.join(command)} exited {result.returncode} in {self.project}:\n{result.stderr[-4000:]}"
            )


def bake(output_dir: Path, template: Path = TEMPLATE_DIR) -> BakedService:
    """A service with the default answers, baked from ``template`` into ``output_dir``."""
    return BakedService(Path(cookiecutter(str(template), no_input=True, output_dir=str(output_dir))))
