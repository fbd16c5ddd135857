"""Evaluation: 200-class masking of ImageNet-A/R, label mapping, the dataset adapters and on-the-fly corruption."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vmix.analysis.evaluation import (
    Accuracy,
    _corruption_result,
    center_crop,
    class_subset,
    corrupt,
    evaluate,
    evaluate_corrupted,
    evaluate_dataset,
    evaluate_imagenet_a,
    evaluate_imagenet_c,
    evaluate_imagenet_r,
    load_images,
    masked_logits,
)
from vmix.analysis.imagenet import IMAGENET_1K_WNIDS, IMAGENET_A_INDICES, IMAGENET_R_INDICES
from vmix.analysis.robustness import STANDARD_CORRUPTIONS


class ConstantLogits(nn.Module):
    """A 1000-way "model" whose logits are the same for every image: ranks classes by ``scores``."""

    def __init__(self, scores: dict[int, float], num_classes: int = 1000):
        super().__init__()
        logits = torch.zeros(num_classes)
        for k, v in scores.items():
            logits[k] = v
        self.register_buffer("logits", logits)
        self.num_classes = num_classes

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1)


@pytest.mark.parametrize("indices", [IMAGENET_A_INDICES, IMAGENET_R_INDICES], ids=["A", "R"])
def test_masking_ignores_classes_outside_the_subset(indices):
    outside = next(k for k in range(1000) if k not in indices)
    target = 17  # position in the 200-class list
    logits = torch.zeros(2, 1000)
    logits[:, outside] = 10.0  # the unmasked argmax, not a class of the subset
    logits[:, indices[target]] = 5.0
    logits[:, indices[target + 1]] = 4.0  # second choice: in the top 5, not the top 1
    labels = torch.tensor([target, target + 1])
    masked = masked_logits(logits, indices)
    assert masked.shape == (2, 200)
    assert masked.argmax(-1).tolist() == [target, target]
    acc = evaluate(nn.Identity(), [(logits, labels)], class_indices=indices, show_progress=False)
    assert acc == Accuracy(top1=0.5, top5=1.0, count=2)


def test_masking_rejects_indices_outside_the_model():
    with pytest.raises(ValueError, match="10-way"):
        masked_logits(torch.zeros(1, 10), [3, 10])


def test_class_subset_maps_wnids():
    a_wnids = [IMAGENET_1K_WNIDS[k] for k in IMAGENET_A_INDICES]
    indices, label_map = class_subset([a_wnids[5], a_wnids[0]], 1000, IMAGENET_A_INDICES)
    assert indices == list(IMAGENET_A_INDICES) and label_map == [5, 0]
    assert class_subset(["n01440764", "n02102040"], 1000) == ([0, 217], None)
    assert class_subset(["a", "b"], 2) == (None, None)
    with pytest.raises(ValueError, match="not in the evaluated 200-class subset"):
        class_subset(["n01440764"], 1000, IMAGENET_A_INDICES)  # tench is not an ImageNet-A class
    with pytest.raises(ValueError, match="10-way model"):
        class_subset(["a", "b"], 10)


def _write_folder(root: Path, classes: list[str], per_class: int = 2) -> Path:
    from PIL import Image

    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (40, 30), (40 * i, 80, 120)).save(root / c / f"{i}.png")
    return root


def test_imagenet_a_on_a_folder(tmp_path):
    pytest.importorskip("PIL")
    a = [IMAGENET_1K_WNIDS[k] for k in IMAGENET_A_INDICES]
    root = _write_folder(tmp_path, [a[0], a[3]])
    model = ConstantLogits({0: 9.0, IMAGENET_A_INDICES[3]: 1.0})  # class 0 (tench) is masked out
    acc = evaluate_imagenet_a(model, root, size=16, show_progress=False)
    assert acc.top1 == 0.5 and acc.count == 4
    with pytest.raises(ValueError, match="not in the evaluated"):
        evaluate_imagenet_r(model, root, size=16, show_progress=False)


def test_clean_eval_on_real_photos(shared_data):
    pytest.importorskip("PIL")
    model = ConstantLogits({0: 1.0})  # always tench: right on 3 of the 30 photos (3 per class)
    acc = evaluate_dataset(model, shared_data / "imagenette2-224-samples", size=32, show_progress=False)
    assert acc == Accuracy(top1=0.1, top5=0.5, count=30)


def test_parquet_folder(shared_data):
    pytest.importorskip("datasets")
    images = load_images(shared_data / "imagenette2", split="validation")
    assert len(images.classes) == 10 and images.classes[0] == "n01440764"
    acc = evaluate_dataset(ConstantLogits({0: 1.0}), images, size=16, limit=8, show_progress=False)
    assert acc.count == 8


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_images(tmp_path / "nowhere")
    (tmp_path / "cls").mkdir()
    with pytest.raises(FileNotFoundError, match="ImageFolder"):
        load_images(tmp_path)


def test_corruption_of_a_real_image(shared_data):
    pytest.importorskip("imagecorruptions")
    from PIL import Image

    photo = next((shared_data / "imagenette2-224-samples" / "n01440764").iterdir())
    with Image.open(photo) as image:
        clean = np.asarray(center_crop(image.convert("RGB"), 224))
    for name in ("gaussian_noise", "motion_blur", "fog", "contrast", "jpeg_compression", "spatter"):
        mild, strong = (corrupt(clean, name, s, seed=1) for s in (1, 5))
        assert mild.shape == clean.shape and mild.dtype == np.uint8
        change = [np.abs(x.astype(float) - clean).mean() for x in (mild, strong)]
        assert 0 < change[0] < change[1], name
    np.testing.assert_array_equal(corrupt(clean, "shot_noise", 3, seed=7), corrupt(clean, "shot_noise", 3, seed=7))
    with pytest.raises(ValueError, match="gaussian_nois'"):
        corrupt(clean, "gaussian_nois", 1, seed=0)
    with pytest.raises(ValueError, match="severity"):
        corrupt(clean, "fog", 6, seed=0)


def test_corrupted_eval_runs_and_reports(tmp_path):
    pytest.importorskip("imagecorruptions")
    root = _write_folder(tmp_path, ["n01440764", "n02102040"], per_class=1)
    result = evaluate_corrupted(
        ConstantLogits({0: 1.0}), root, corruptions=["fog", "pixelate"], severities=[1, 5], size=32,
        show_progress=False,
    )  # fmt: skip
    assert set(result.accuracy) == {"fog", "pixelate"} and set(result.accuracy["fog"]) == {1, 5}
    assert result.errors == {"fog": 0.5, "pixelate": 0.5}
    assert result.report is None  # not all 15 standard corruptions were run
    with pytest.raises(ValueError, match="severities"):
        evaluate_corrupted(ConstantLogits({}), root, severities=[0], show_progress=False)


def test_complete_run_gets_mce_and_relative_mce():
    accuracy = {c: {s: Accuracy(0.5, 0.9, 10) for s in (1, 2, 3, 4, 5)} for c in STANDARD_CORRUPTIONS}
    result = _corruption_result(accuracy, clean=Accuracy(0.8, 0.95, 10))
    assert result.report.errors["fog"] == pytest.approx(0.5)
    assert result.report.relative_mce is not None
    assert result.to_dict()["report"]["mce"] == pytest.approx(result.report.mce)


def test_imagenet_c_folder_layout(tmp_path):
    pytest.importorskip("PIL")
    for severity in (1, 2):
        _write_folder(tmp_path / "weather" / "fog" / str(severity), ["n01440764", "n02102040"], per_class=1)
    result = evaluate_imagenet_c(ConstantLogits({217: 1.0}), tmp_path, severities=[1, 2], size=16, show_progress=False)
    assert result.errors == {"fog": 0.5}
    with pytest.raises(FileNotFoundError, match="severity folder 3"):
        evaluate_imagenet_c(ConstantLogits({}), tmp_path, severities=[3], show_progress=False)
    with pytest.raises(FileNotFoundError, match="snow"):
        evaluate_imagenet_c(ConstantLogits({}), tmp_path, corruptions=["snow"], show_progress=False)
