"""What the routes and the lifespan share, and how a route asks for it: one
typed object made by ``create_app``, handed to routes as FastAPI dependencies
(no untyped ``request.app.state`` lookups in handlers)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from starlette.routing import Route

from .identity import Identity
from .profile_uploads import UploadMonitor
from .profiling import Profiling
from .readiness import ThreadStartProbe
from .settings import Settings
from .telemetry import Telemetry


@dataclass
class ServiceState:
    """The app's shared state for one process."""

    settings: Settings
    identity: Identity
    profiling: Profiling
    telemetry: Telemetry
    uploads: UploadMonitor
    # Workload requests running at once; beyond it they get 503 (routes/workload.py).
    workload_slots: asyncio.Semaphore
    thread_start_probe: ThreadStartProbe = field(default_factory=ThreadStartProbe)
    # True between the end of start-up and the start of shutdown (lifespan.py).
    ready: bool = False


def service_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


ServiceStateDep = Annotated[ServiceState, Depends(service_state)]


def workload_slots(state: ServiceStateDep) -> asyncio.Semaphore:
    return state.workload_slots


WorkloadSlotsDep = Annotated[asyncio.Semaphore, Depends(workload_slots)]


def route_template(request: Request) -> str:
    """The path template of the route the request matched (``/cpu-intensive``,
    ``/orders/{order_id}``): few values, unlike the paths themselves."""
    route = request.scope.get("route")
    if not isinstance(route, Route):
        raise LookupError("no route matched: route_template is a dependency of route handlers")
    return route.path


RouteDep = Annotated[str, Depends(route_template)]
