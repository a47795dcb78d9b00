"""Route labels: request paths with their ids replaced, so metrics keep a bounded cardinality."""

from __future__ import annotations

import re

ID_SEGMENT = "{id}"
OTHER_ROUTE = "/{other}"

# A segment is an id when it carries a digit (file-abc123, 42, gpt-4o, a UUID) or is long
# or opaque; API nouns ("chat", "completions", "input_items") are short lowercase words.
_API_VERSION = re.compile(r"^v\d+((alpha|beta)\d*)?$")
_WORD = re.compile(r"^[a-z_][a-z_.-]{0,39}$")


def is_id_segment(segment: str) -> bool:
    """Whether a path segment names an instance (an id) rather than a resource."""
    if _API_VERSION.match(segment):
        return False
    return _WORD.match(segment) is None


def normalise_route(path: str) -> str:
    """The route of a request path: "/v1/files/file-abc1/content" → "/v1/files/{id}/content"."""
    segments = [s for s in path.split("/") if s]
    return "/" + "/".join(ID_SEGMENT if is_id_segment(s) else s for s in segments)


class RouteLabels:
    """Route labels with a cache and a cap on how many distinct labels there can be.

    Past `max_routes` labels, new ones collapse into "/{other}", so a client probing
    random paths cannot grow the metrics (or this cache) without bound.
    """

    def __init__(self, max_routes: int = 1000, max_cached_paths: int = 10_000) -> None:
        self._max_routes = max_routes
        self._max_cached_paths = max_cached_paths
        self._routes: set[str] = set()
        self._by_path: dict[str, str] = {}

    def __call__(self, path: str) -> str:
        """The route label of `path`."""
        label = self._by_path.get(path)
        if label is not None:
            return label
        label = normalise_route(path)
        if label not in self._routes:
            if len(self._routes) >= self._max_routes:
                label = OTHER_ROUTE
            else:
                self._routes.add(label)
        if len(self._by_path) >= self._max_cached_paths:
            self._by_path.clear()  # paths with ids rarely repeat; starting over is cheap
        self._by_path[path] = label
        return label
