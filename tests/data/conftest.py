"""Fixtures for the data tests: the shared Imagenette copies, found beside the repository."""

from pathlib import Path

import pytest

pytest.importorskip("datasets", reason="needs the 'train' extra: pip install -e '.[train]'")
pytest.importorskip("kornia", reason="needs the 'train' extra: pip install -e '.[train]'")

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def imagenette_parquet() -> Path:
    """The parquet Imagenette set (skips when ../shared/data is not there)."""
    path = SHARED_DATA / "imagenette2"
    if not (path / "train.parquet").exists():
        pytest.skip(f"real-image test data not found at {path.resolve()} (../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def imagenette_samples() -> Path:
    """The 30 Imagenette photos in <wnid>/<file> folders (skips when ../shared/data is not there)."""
    path = SHARED_DATA / "imagenette2-224-samples"
    if not path.is_dir():
        pytest.skip(f"real-image test data not found at {path.resolve()} (../shared/data beside the repository)")
    return path


@pytest.fixture
def imagefolder(tmp_path, imagenette_samples) -> Path:
    """An ImageFolder (train/<wnid>/*, val/<wnid>/*) of symlinks to the sample photos: 2 train, 1 val per class."""
    for cls in sorted(p for p in imagenette_samples.iterdir() if p.is_dir()):
        files = sorted(cls.iterdir())
        for split, chosen in (("train", files[:2]), ("val", files[2:3])):
            (tmp_path / split / cls.name).mkdir(parents=True)
            for f in chosen:
                (tmp_path / split / cls.name / f.name).symlink_to(f)
    return tmp_path
