"""Fixtures for the training tests: a fast configuration and the shared Imagenette parquet set."""

from pathlib import Path

import pytest

pytest.importorskip("datasets", reason="needs the 'train' extra: pip install -e '.[train]'")
pytest.importorskip("kornia", reason="needs the 'train' extra: pip install -e '.[train]'")

from vmix.train import TrainConfig  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def fast_config(tmp_path):
    """A few-second configuration on scikit-learn's digits with the full augmentation recipe."""

    def make(**overrides) -> TrainConfig:
        base = dict(
            model="toy",
            data="digits",
            output=str(tmp_path / "run"),
            img_size=16,
            batch_size=16,
            epochs=2,
            train_subset=96,
            val_subset=32,
            warmup_epochs=0.5,
            lr=1e-2,
            workers=0,
            device="cpu",
            log_every=1,
            progress=False,
            aug_backend="kornia",
        )
        return TrainConfig(**{**base, **overrides})

    return make


@pytest.fixture(scope="session")
def imagenette_parquet() -> Path:
    """The parquet Imagenette set (skips when ../shared/data is not there)."""
    path = SHARED_DATA / "imagenette2"
    if not (path / "train.parquet").exists():
        pytest.skip(f"real-image test data not found at {path.resolve()} (../shared/data beside the repository)")
    return path
