"""What the lifespan does before the first request and after the last one."""

from __future__ import annotations

import gc
from collections.abc import Callable

from fastapi.testclient import TestClient


def test_start_up_objects_are_frozen_out_of_full_collections_while_serving(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    assert client.get("/healthz").status_code == 200
    frozen_while_serving = gc.get_freeze_count()
    client.__exit__(None, None, None)

    assert frozen_while_serving > 10_000, f"expected the start-up heap frozen, {frozen_while_serving} objects were"
    assert gc.get_freeze_count() == 0, "shutdown should hand the frozen objects back to the collector"
