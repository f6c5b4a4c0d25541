"""Shared pytest configuration. Fixture modules live in tests/fixtures/ and are registered here."""

from __future__ import annotations

import pytest

pytest_plugins: list[str] = [
    "tests.fixtures.emulator", "tests.fixtures.sdk", "tests.fixtures.contract",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite golden output files instead of comparing against them.",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
