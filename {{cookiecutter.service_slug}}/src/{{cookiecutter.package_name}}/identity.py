"""Who the running code is: service, env, version, commit, repository and tags,
from the settings and the provenance baked at build time. Resolved once (by the
entry point, or by ``create_app`` when nothing else did) and handed to whatever
reports: ddtrace's environment, the tracer, the profiler, the metrics, ``/version``."""

from __future__ import annotations

from dataclasses import dataclass, field

from .build_info import BuildInfo
from .settings import TEAM, Settings


@dataclass(frozen=True)
class Identity:
    """What every profile and span says about the code that produced it."""

    service: str
    env: str
    version: str
    git_commit_sha: str
    git_repository_url: str
    tags: dict[str, str] = field(default_factory=dict)
    # Why the commit is not exactly the running code (BuildInfo.provenance_warning).
    provenance_warning: str | None = None

    def tracer_tags(self) -> dict[str, str]:
        """Tags ddtrace adds to every span and every runtime metric, so both
        can be filtered by team and by commit like the profiles."""
        return {**self.tags, "git.commit.sha": self.git_commit_sha}

    def resource_attributes(self) -> dict[str, str]:
        """OpenTelemetry resource attributes for OTLP metrics, in the names
        Datadog maps to service, env, version and source code."""
        attributes = {
            **self.tracer_tags(),
            "service.name": self.service,
            "service.version": self.version,
            "deployment.environment.name": self.env,
            "deployment.environment": self.env,  # the name older Datadog Agents read
        }
        if self.git_repository_url:
            attributes["git.repository_url"] = self.git_repository_url
        return attributes

    def profiler_tags(self) -> dict[str, str]:
        """Tags for ``Profiler(tags=...)``.

        Passing tags replaces the ones ddtrace would derive from ``DD_TAGS`` and
        the git environment, so the git metadata is merged back in here.
        """
        tags = self.tracer_tags()
        if self.git_repository_url:
            tags["git.repository_url"] = self.git_repository_url
        return tags


def resolve_identity(settings: Settings, build: BuildInfo) -> Identity:
    """Combine runtime settings with the baked provenance; the baked values win."""
    tags = {"team": TEAM, **settings.dd_tags}
    # The commit and repository must not disagree with the baked build.
    tags.pop("git.commit.sha", None)
    tags.pop("git.repository_url", None)
    return Identity(
        service=settings.dd_service,
        env=settings.dd_env,
        version=build.version,
        git_commit_sha=build.git_commit_sha,
        git_repository_url=settings.dd_git_repository_url,
        tags=tags,
        provenance_warning=build.provenance_warning,
    )
