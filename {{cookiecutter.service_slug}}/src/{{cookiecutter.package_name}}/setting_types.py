"""The value types the settings class validates with, beyond pydantic's own:
Datadog's ``DD_TAGS`` format and the URLs of the Agent and DogStatsD."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, AnyUrl, BeforeValidator, UrlConstraints
from pydantic_settings import NoDecode

# Datadog tag keys: start with a letter, then letters, digits and _ - . / :
TAG_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.\-/]{0,199}")


def parse_dd_tags(raw: str) -> dict[str, str]:
    """Parse ``DD_TAGS`` the way Datadog documents it: ``key:value`` pairs
    separated by commas or spaces."""
    tags: dict[str, str] = {}
    for item in re.split(r"[,\s]+", raw.strip()):
        if not item:
            continue
        key, separator, value = item.partition(":")
        if not separator or not value or not TAG_KEY.fullmatch(key):
            raise ValueError(f"{item!r} is not a key:value tag")
        tags[key] = value
    return tags


def names_a_socket(url: AnyUrl) -> AnyUrl:
    """What URL parsing leaves open: a udp:// URL needs a port, a unix:// one a path."""
    if url.scheme == "udp" and url.port is None:
        raise ValueError("a udp:// URL needs a port (udp://<host>:<port>)")
    if url.scheme == "unix" and not (url.path or "").strip("/"):
        raise ValueError("a unix:// URL needs the socket's path (unix:///<socket path>)")
    return url


def without_credentials(url: str) -> str:
    """Refuse a URL whose token every profile's tags would publish."""
    if url.startswith("https://") and "@" in urlsplit(url).netloc:
        raise ValueError("must not carry credentials")
    return url


AgentUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["http", "https", "unix"]), AfterValidator(names_a_socket)]
DogStatsdUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["udp", "unix"]), AfterValidator(names_a_socket)]
DdTags = Annotated[dict[str, str], NoDecode, BeforeValidator(parse_dd_tags)]
