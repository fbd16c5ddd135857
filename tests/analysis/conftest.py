"""Fixtures of the analysis tests: the shared data folder beside the repository, skipped when absent."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """``<repo>/../shared/data``: ImageNet class lists, AlexNet errors and sample photos (not in the repository)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (the photos' terms keep them out of the repository)")
    return SHARED_DATA
