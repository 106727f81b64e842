"""Shared fixtures: where the reference data is."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.paths import reference_data_dir


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """`../shared/reference-data`; the tests need it (CI lays it beside the clone)."""
    path = reference_data_dir()
    if not path.is_dir():
        pytest.fail(f"reference data not found at {path}: clone beside ../shared")
    return path
