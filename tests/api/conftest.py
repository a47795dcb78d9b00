from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prodloop.clock import ManualClock
from tests.api.support import ControlPlane, running_control_plane


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def control(tmp_path: Path, clock: ManualClock) -> Iterator[ControlPlane]:
    """A control plane whose clock only moves when a test says so."""
    with running_control_plane(tmp_path, clock=clock) as plane:
        yield plane
