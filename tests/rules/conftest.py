"""Fixtures for rule tests."""

from __future__ import annotations

import pytest

from adaptive_deploy.live import LiveState
from tests.rules.helpers import seed_live


@pytest.fixture
def live() -> LiveState:
    """A fresh copy of the seeded emulator inventory."""
    return seed_live()
