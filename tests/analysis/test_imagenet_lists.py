"""The embedded ImageNet class lists equal the published files, and wnids map to 1k indices."""

import pytest

from vmix.analysis.imagenet import (
    IMAGENET_1K_WNIDS,
    IMAGENET_A_INDICES,
    IMAGENET_A_WNIDS,
    IMAGENET_R_INDICES,
    IMAGENET_R_WNIDS,
    imagenet_indices,
)


def test_lists_are_sorted_and_sized():
    assert len(IMAGENET_1K_WNIDS) == 1000 and list(IMAGENET_1K_WNIDS) == sorted(IMAGENET_1K_WNIDS)
    for indices in (IMAGENET_A_INDICES, IMAGENET_R_INDICES):
        assert len(indices) == 200 and list(indices) == sorted(set(indices))
    assert IMAGENET_A_INDICES[:5] == (6, 11, 13, 15, 17) and IMAGENET_R_INDICES[:5] == (1, 2, 4, 6, 8)


def test_lists_equal_shared_files(shared_data):
    folder = shared_data / "imagenet"
    assert tuple((folder / "imagenet_1k_wnids.txt").read_text().split()) == IMAGENET_1K_WNIDS
    assert tuple(int(i) for i in (folder / "imagenet_a_indices.txt").read_text().split()) == IMAGENET_A_INDICES
    assert tuple(int(i) for i in (folder / "imagenet_r_indices.txt").read_text().split()) == IMAGENET_R_INDICES
    assert tuple((folder / "imagenet_a_wnids.txt").read_text().split()) == IMAGENET_A_WNIDS
    assert tuple((folder / "imagenet_r_wnids.txt").read_text().split()) == IMAGENET_R_WNIDS


def test_imagenet_indices():
    assert imagenet_indices(IMAGENET_A_WNIDS) == list(IMAGENET_A_INDICES)
    with pytest.raises(ValueError, match="n99999999"):
        imagenet_indices(["n01440764", "n99999999"])
