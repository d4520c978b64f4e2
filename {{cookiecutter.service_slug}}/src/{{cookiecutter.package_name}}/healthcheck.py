"""``python -m {{ cookiecutter.package_name }}.healthcheck``: the image HEALTHCHECK, without curl."""

from __future__ import annotations

import os
import sys
import urllib.request

TIMEOUT_SECONDS = 3


def main() -> int:
    port = os.environ.get("PORT", "{{ cookiecutter.http_port }}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
