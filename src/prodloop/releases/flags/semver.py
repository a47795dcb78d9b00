"""A small semantic-version parser and comparison (semver.org 2.0 precedence)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


@dataclass(frozen=True, slots=True)
class Version:
    """MAJOR.MINOR.PATCH and the pre-release identifiers; build metadata is ignored."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """A sort key with semver precedence: a pre-release sorts before its release."""
        pre = tuple(
            (0, part, "") if isinstance(part, int) else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)


def parse_version(text: str) -> Version | None:
    """The version in `text` ("1.2.3", "v1.2", "2.0.0-rc.1+build.5"), or None."""
    match = _SEMVER.match(text.strip())
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    prerelease: tuple[int | str, ...] = ()
    if pre:
        prerelease = tuple(int(p) if p.isdigit() else p for p in pre.split("."))
    return Version(int(major), int(minor or 0), int(patch or 0), prerelease)


def compare(left: Version, right: Version) -> int:
    """-1, 0 or 1 as `left` sorts before, with or after `right`."""
    a, b = left.key(), right.key()
    return (a > b) - (a < b)
