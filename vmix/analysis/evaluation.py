"""Top-1/top-5 evaluation of a classifier: clean, ImageNet-A/R (200-class masking), ImageNet-C, on-the-fly corruption.

Every entry point reduces to :func:`evaluate`, which takes any iterable of ``(images, labels)`` batches, so a user's
own ``DataLoader`` works as well as the dataset adapters below. ImageNet-A and ImageNet-R follow their authors'
protocol: the 1000-way logits are restricted to the subset's 200 columns before the argmax. A dataset whose classes
are a subset of ImageNet's wnids (Imagenette, a user's ImageFolder named by wnid) is scored the same way, masked to its
own classes. ImageNet-C-style robustness of any dataset corrupts each image on the fly with ``imagecorruptions``
(the maintained ``imagecorruptions-imaug`` distribution), after the resize and crop, as ImageNet-C itself was made.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from vmix._shapecheck import shapecheck
from vmix.analysis.imagenet import IMAGENET_1K_WNIDS, IMAGENET_A_INDICES, IMAGENET_R_INDICES, imagenet_indices
from vmix.analysis.robustness import ALL_CORRUPTIONS, STANDARD_CORRUPTIONS, CorruptionReport, corruption_report

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Accuracy:
    """Top-1 and top-5 accuracy (fractions in [0, 1]) over ``count`` images."""

    top1: float
    top5: float
    count: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain JSON-ready data.

        Example:
            >>> Accuracy(0.5, 0.75, 4).to_dict()
            {'top1': 0.5, 'top5': 0.75, 'count': 4}
        """
        return asdict(self)


def progress(iterable: Iterable, *, desc: str, total: int | None = None, enabled: bool = True) -> Iterable:
    """Wrap ``iterable`` in a tqdm progress bar when tqdm is installed and ``enabled``; otherwise return it as is.

    Example:
        >>> list(progress(range(3), desc="demo", enabled=False))
        [0, 1, 2]
    """
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress bars are a nicety of the `analysis` extra, never a requirement
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)


@shapecheck
def masked_logits(logits: Float[Tensor, "b k"], class_indices: Sequence[int] | None) -> Float[Tensor, "b m"]:
    """Keep only the logit columns of ``class_indices`` (ImageNet-A/R protocol); all of them when ``None``.

    After masking, class ``j`` of the result is ``class_indices[j]`` of the model, so labels must be positions in
    ``class_indices``.

    Args:
        logits: the model's outputs over its ``k`` classes.
        class_indices: model class indices to keep, e.g. ``IMAGENET_A_INDICES``.

    Raises:
        ValueError: an index is outside the model's ``k`` classes.

    Example:
        >>> masked_logits(torch.eye(4), [1, 3]).tolist()
        [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]
    """
    if class_indices is None:
        return logits
    index = torch.as_tensor(class_indices, dtype=torch.long, device=logits.device)
    if index.numel() == 0 or int(index.min()) < 0 or int(index.max()) >= logits.shape[-1]:
        raise ValueError(f"class indices must lie in [0, {logits.shape[-1]}) for a {logits.shape[-1]}-way model")
    return logits.index_select(-1, index)


@shapecheck
def topk_correct(logits: Float[Tensor, "b m"], labels: Int[Tensor, " b"], k: int) -> int:
    """Number of rows whose label is among the ``k`` largest logits (``k`` is capped at the number of classes).

    Example:
        >>> topk_correct(torch.tensor([[0.1, 0.9, 0.0]]), torch.tensor([0]), k=2)
        1
    """
    top = logits.topk(min(k, logits.shape[-1]), dim=-1).indices
    return int((top == labels[:, None]).any(-1).sum())


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    *,
    class_indices: Sequence[int] | None = None,
    device: str | torch.device | None = None,
    desc: str = "eval",
    total: int | None = None,
    show_progress: bool = True,
) -> Accuracy:
    """Top-1/top-5 accuracy of ``model`` over ``(images, labels)`` batches, optionally masked to a class subset.

    Args:
        model: a classifier mapping ``(b, 3, h, w)`` images to ``(b, k)`` logits; put in eval mode here.
        batches: any iterable of ``(images, labels)`` (a ``DataLoader``, :func:`image_batches`); labels are positions
            in ``class_indices`` when it is given, model classes otherwise.
        class_indices: model classes to keep before the argmax (ImageNet-A/R: their 200 1k-indices).
        device: where to run (default: the model's device).
        desc: label of the progress bar.
        total: number of batches, for the progress bar.
        show_progress: show a progress bar (needs tqdm).

    Returns:
        Top-1/top-5 accuracy and the number of images.

    Raises:
        ValueError: the batches were empty.

    Example:
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
        >>> acc = evaluate(model, [(torch.randn(2, 3, 4, 4), torch.tensor([0, 1]))], show_progress=False)
        >>> acc.count
        2
    """
    model.eval()
    if device is None:
        device = next(model.parameters(), torch.empty(0)).device
    top1 = top5 = count = 0
    for images, labels in progress(batches, desc=desc, total=total, enabled=show_progress):
        logits = masked_logits(model(images.to(device)).float(), class_indices)
        labels = labels.to(logits.device)
        top1 += topk_correct(logits, labels, 1)
        top5 += topk_correct(logits, labels, 5)
        count += labels.numel()
    if count == 0:
        raise ValueError(f"{desc}: no images to evaluate (the dataset or the batch iterable is empty)")
    return Accuracy(top1 / count, top5 / count, count)


# ---------------------------------------------------------------------------------------------------------------------
# Datasets: a labelled list of images from a local ImageFolder, a parquet folder or a Hugging Face hub id.


@dataclass
class LabeledImages:
    """Images (loaded on demand as RGB PIL images) with integer labels and the class names behind them.

    Attributes:
        load: ``load(i)`` returns ``(PIL image, label)`` of item ``i``.
        length: number of items.
        classes: class names in label order (wnids for ImageNet-style sets).
        source: where the images came from.
    """

    load: Callable[[int], tuple[object, int]]
    length: int
    classes: list[str]
    source: str

    def __len__(self) -> int:
        return self.length


def _image_folder(root: Path) -> LabeledImages:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [
        (f, label)
        for label, name in enumerate(classes)
        for f in sorted((root / name).iterdir())
        if f.suffix.lower() in _IMAGE_SUFFIXES
    ]
    if not files:
        raise FileNotFoundError(f"{root}: expected an ImageFolder (<class>/<image>), found no images in class folders")

    def load(i: int) -> tuple[object, int]:
        from PIL import Image

        path, label = files[i]
        with Image.open(path) as image:
            return image.convert("RGB"), label

    return LabeledImages(load, len(files), classes, str(root))


def _hub_split(spec: str, split: str) -> LabeledImages:
    import datasets

    ds = datasets.load_dataset(spec, split=split)  # a hub id, or a local folder of parquet shards in the hub's layout
    features = ds.features
    image_key = next((k for k, f in features.items() if isinstance(f, datasets.Image)), None)
    label_key = next((k for k, f in features.items() if isinstance(f, datasets.ClassLabel)), None)
    if image_key is None:
        raise ValueError(f"{spec}: expected an Image column, found features {dict(features)}")
    if label_key is not None:
        classes = list(features[label_key].names)
        labels = ds[label_key]
    elif "wnid" in features:  # ImageNet-R on the hub names each image's class by wnid only
        classes = sorted(set(ds["wnid"]))
        position = {w: i for i, w in enumerate(classes)}
        labels = [position[w] for w in ds["wnid"]]
    else:
        raise ValueError(f"{spec}: expected a ClassLabel column or a 'wnid' column, found features {dict(features)}")

    def load(i: int) -> tuple[object, int]:
        return ds[i][image_key].convert("RGB"), labels[i]

    return LabeledImages(load, len(ds), classes, spec)


def load_images(spec: str | Path, *, split: str = "validation") -> LabeledImages:
    """Open one split of an image-classification set for evaluation.

    Args:
        spec: a folder of class folders (``<class>/<image>``, e.g. one ImageNet-C ``<corruption>/<severity>`` folder),
            a folder of parquet shards in the hub's layout (``val.parquet``), or a Hugging Face hub id.
        split: the split of a parquet folder or hub set.

    Returns:
        The labelled images.

    Raises:
        FileNotFoundError: a local path that does not exist or holds no images.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "n01440764").mkdir()
        >>> Image.new("RGB", (8, 8)).save(root / "n01440764" / "a.png")
        >>> load_images(root).classes
        ['n01440764']
    """
    path = Path(spec).expanduser()
    if path.is_dir() and any(p.is_dir() for p in path.iterdir()) and not any(path.glob("*.parquet")):
        return _image_folder(path)
    if path.is_dir() or path.exists():
        return _hub_split(str(path), split)
    if str(spec).startswith((".", "/", "~")):
        raise FileNotFoundError(f"dataset folder {str(spec)!r} does not exist")
    return _hub_split(str(spec), split)


def center_crop(image, size: int, crop_pct: float = 0.875):
    """Resize the shorter side to ``size / crop_pct`` (bilinear) and take the central ``size × size`` square.

    This is the evaluation view of the robustness papers (Resize(256) → CenterCrop(224)).

    Example:
        >>> from PIL import Image
        >>> center_crop(Image.new("RGB", (300, 200)), 64).size
        (64, 64)
    """
    from PIL import Image

    short = round(size / crop_pct)
    w, h = image.size
    scale = short / min(w, h)
    image = image.resize((max(short, round(w * scale)), max(short, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def to_tensor(image: np.ndarray | object) -> Float[Tensor, "3 h w"]:
    """An RGB image (PIL or ``h × w × 3`` uint8 array) as a float tensor normalised with ImageNet's mean and std.

    Example:
        >>> to_tensor(np.zeros((2, 2, 3), dtype=np.uint8)).shape
        torch.Size([3, 2, 2])
    """
    array = np.asarray(image, dtype=np.float32) / 255.0
    x = torch.from_numpy(array).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (x - mean) / std


def corrupt(image: np.ndarray, corruption: str, severity: int, *, seed: int) -> np.ndarray:
    """Apply one ImageNet-C corruption to an ``h × w × 3`` uint8 image, reproducibly for a given ``seed``.

    Args:
        image: the image, already resized and cropped.
        corruption: one of the 19 ImageNet-C corruption names.
        severity: 1 to 5.
        seed: seeds NumPy's and Python's global generators, which the corruption library draws from.

    Returns:
        The corrupted image, uint8, same shape.

    Raises:
        ValueError: unknown corruption or severity outside 1-5.
        ImportError: ``imagecorruptions`` is missing (``pip install 'vmix[analysis]'``).

    Example:
        >>> out = corrupt(np.full((32, 32, 3), 128, dtype=np.uint8), "fog", 3, seed=0)
        >>> out.shape, out.dtype
        ((32, 32, 3), dtype('uint8'))
    """
    if corruption not in ALL_CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; expected one of {list(ALL_CORRUPTIONS)}")
    if severity not in (1, 2, 3, 4, 5):
        raise ValueError(f"severity must be 1, 2, 3, 4 or 5, got {severity!r}")
    try:
        from imagecorruptions import corrupt as _corrupt
    except ImportError as err:
        raise ImportError(
            "on-the-fly corruption needs the `imagecorruptions` module from the imagecorruptions-imaug distribution: "
            "pip install 'vmix[analysis]'"
        ) from err
    np.random.seed(seed)
    random.seed(seed)
    out = _corrupt(np.ascontiguousarray(image), corruption_name=corruption, severity=severity)
    return np.asarray(out, dtype=np.uint8)


def image_batches(
    images: LabeledImages,
    *,
    batch_size: int = 64,
    size: int = 224,
    crop_pct: float = 0.875,
    corruption: tuple[str, int] | None = None,
    label_map: Sequence[int] | None = None,
    limit: int | None = None,
    seed: int = 0,
) -> Iterator[tuple[Float[Tensor, "b 3 s s"], Int[Tensor, " b"]]]:
    """Batches of evaluation tensors from ``images``: resize, centre crop, optional corruption, normalise.

    Args:
        images: the labelled images.
        batch_size: images per batch.
        size: side of the square crop.
        crop_pct: crop fraction of the resized shorter side (1.0: resize straight to ``size``).
        corruption: ``(name, severity)`` to corrupt every image with, after the crop.
        label_map: new label of each dataset label (e.g. position in a 200-class subset).
        limit: evaluate only the first ``limit`` images.
        seed: base seed of the corruption noise; image ``i`` uses ``seed + i``, so runs are repeatable.

    Yields:
        ``(images, labels)`` with images ``(b, 3, size, size)``.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "cls").mkdir()
        >>> Image.new("RGB", (40, 30)).save(root / "cls" / "a.png")
        >>> x, y = next(image_batches(load_images(root), size=16))
        >>> x.shape, y.tolist()
        (torch.Size([1, 3, 16, 16]), [0])
    """
    n = len(images) if limit is None else min(limit, len(images))
    for start in range(0, n, batch_size):
        xs, ys = [], []
        for i in range(start, min(start + batch_size, n)):
            image, label = images.load(i)
            array = np.asarray(center_crop(image, size, crop_pct), dtype=np.uint8)
            if corruption is not None:
                array = corrupt(array, corruption[0], corruption[1], seed=seed + i)
            xs.append(to_tensor(array))
            ys.append(label if label_map is None else label_map[label])
        yield torch.stack(xs), torch.tensor(ys, dtype=torch.long)


def _num_batches(images: LabeledImages, batch_size: int, limit: int | None) -> int:
    n = len(images) if limit is None else min(limit, len(images))
    return -(-n // batch_size)


def class_subset(classes: Sequence[str], num_logits: int, subset: Sequence[int] | None = None):
    """How to score a ``num_logits``-way model on a dataset with ``classes``: ``(class_indices, label_map)``.

    - ``subset`` given (ImageNet-A/R): logits are restricted to ``subset`` and each dataset class (a wnid) is mapped
      to its position in ``subset``.
    - the model has as many outputs as the dataset has classes: no masking.
    - a 1000-way ImageNet model on a dataset whose classes are ImageNet wnids (Imagenette): logits restricted to
      those wnids' classes.

    Raises:
        ValueError: the classes and the model's outputs cannot be matched (the message says how they differ).

    Example:
        >>> class_subset(["n01440764", "n02102040"], 1000)
        ([0, 217], None)
    """
    if subset is not None:
        position = {IMAGENET_1K_WNIDS[k]: j for j, k in enumerate(subset)}
        outside = [c for c in classes if c not in position]
        if outside:
            raise ValueError(f"dataset classes not in the evaluated 200-class subset: {outside[:10]}")
        return list(subset), [position[c] for c in classes]
    if num_logits == len(classes):
        return None, None
    if num_logits == len(IMAGENET_1K_WNIDS):
        return imagenet_indices(classes), None
    raise ValueError(
        f"a {num_logits}-way model cannot be scored on a dataset of {len(classes)} classes: expected as many outputs "
        "as classes, or a 1000-way ImageNet model and classes named by ImageNet wnids"
    )


def _num_logits(model: nn.Module) -> int:
    num_classes = getattr(model, "num_classes", None)
    if isinstance(num_classes, int) and num_classes > 0:
        return num_classes
    raise ValueError("the model needs an integer `num_classes` attribute to match its outputs to the dataset's classes")


def evaluate_dataset(
    model: nn.Module,
    dataset: str | Path | LabeledImages,
    *,
    split: str = "validation",
    subset: Sequence[int] | None = None,
    batch_size: int = 64,
    size: int = 224,
    crop_pct: float = 0.875,
    limit: int | None = None,
    device: str | torch.device | None = None,
    show_progress: bool = True,
) -> Accuracy:
    """Clean top-1/top-5 of ``model`` on a dataset (hub id, local folder or :class:`LabeledImages`).

    Args:
        model: a classifier with a ``num_classes`` attribute.
        dataset: what :func:`load_images` accepts, or already loaded images.
        split: split of a hub set or parquet folder.
        subset: 1k class indices to restrict the logits to (see :func:`class_subset`).
        batch_size: images per batch.
        size: evaluation resolution.
        crop_pct: centre-crop fraction.
        limit: evaluate the first ``limit`` images only.
        device: where to run.
        show_progress: show a progress bar.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for c in ("a", "b"):
        ...     (root / c).mkdir()
        ...     Image.new("RGB", (8, 8)).save(root / c / "x.png")
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
        >>> model.num_classes = 2
        >>> evaluate_dataset(model, root, size=8, show_progress=False).count
        2
    """
    images = dataset if isinstance(dataset, LabeledImages) else load_images(dataset, split=split)
    class_indices, label_map = class_subset(images.classes, _num_logits(model), subset)
    batches = image_batches(
        images, batch_size=batch_size, size=size, crop_pct=crop_pct, label_map=label_map, limit=limit
    )
    total = _num_batches(images, batch_size, limit)
    return evaluate(
        model,
        batches,
        class_indices=class_indices,
        device=device,
        desc=images.source,
        total=total,
        show_progress=show_progress,
    )


def evaluate_imagenet_a(model: nn.Module, dataset: str | Path | LabeledImages, **kwargs) -> Accuracy:
    """Top-1 on ImageNet-A: logits masked to its 200 classes (Hendrycks et al. 2021, natural-adv-examples).

    Args:
        model: a 1000-way ImageNet classifier.
        dataset: ImageNet-A as a folder of wnid class folders, a parquet folder or a hub id (e.g.
            ``barkermrl/imagenet-a`` with ``split="train"``).
        **kwargs: as for :func:`evaluate_dataset`.

    Example:
        >>> evaluate_imagenet_a  # doctest: +ELLIPSIS
        <function evaluate_imagenet_a at ...>
    """
    return evaluate_dataset(model, dataset, subset=IMAGENET_A_INDICES, **kwargs)


def evaluate_imagenet_r(model: nn.Module, dataset: str | Path | LabeledImages, **kwargs) -> Accuracy:
    """Top-1 on ImageNet-R: logits masked to its 200 classes (Hendrycks et al. 2021, imagenet-r).

    Args:
        model: a 1000-way ImageNet classifier.
        dataset: ImageNet-R as a folder of wnid class folders, or a hub id (``axiong/imagenet-r``, ``split="test"``).
        **kwargs: as for :func:`evaluate_dataset`.

    Example:
        >>> evaluate_imagenet_r  # doctest: +ELLIPSIS
        <function evaluate_imagenet_r at ...>
    """
    return evaluate_dataset(model, dataset, subset=IMAGENET_R_INDICES, **kwargs)


@dataclass(frozen=True)
class CorruptionResult:
    """Accuracy per corruption and severity, and the mCE report when every standard corruption was run.

    Attributes:
        accuracy: corruption → severity → top-1/top-5.
        errors: corruption → top-1 error averaged over the severities run.
        report: CE per corruption and mCE (relative mCE too when a clean accuracy was given), or ``None`` when some
            standard corruption was not run.
    """

    accuracy: dict[str, dict[int, Accuracy]]
    errors: dict[str, float]
    report: CorruptionReport | None

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready data.

        Example:
            >>> CorruptionResult({}, {}, None).to_dict()
            {'accuracy': {}, 'errors': {}, 'report': None}
        """
        return {
            "accuracy": {c: {s: a.to_dict() for s, a in by_s.items()} for c, by_s in self.accuracy.items()},
            "errors": self.errors,
            "report": None if self.report is None else self.report.to_dict(),
        }


def _corruption_result(accuracy: dict[str, dict[int, Accuracy]], clean: Accuracy | None) -> CorruptionResult:
    errors = {c: sum(1 - a.top1 for a in by_s.values()) / len(by_s) for c, by_s in accuracy.items()}
    complete = all(c in errors for c in STANDARD_CORRUPTIONS)
    report = corruption_report(errors, None if clean is None else 1 - clean.top1) if complete else None
    return CorruptionResult(accuracy, errors, report)


def _check_corruptions(corruptions: Sequence[str], severities: Sequence[int]) -> None:
    unknown = [c for c in corruptions if c not in ALL_CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {unknown}; expected names among {list(ALL_CORRUPTIONS)}")
    bad = [s for s in severities if s not in (1, 2, 3, 4, 5)]
    if bad or not severities:
        raise ValueError(f"severities must be a non-empty subset of 1-5, got {list(severities)}")


def evaluate_corrupted(
    model: nn.Module,
    dataset: str | Path | LabeledImages,
    *,
    corruptions: Sequence[str] = ALL_CORRUPTIONS,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    clean: Accuracy | None = None,
    split: str = "validation",
    batch_size: int = 64,
    size: int = 224,
    crop_pct: float = 0.875,
    limit: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    show_progress: bool = True,
) -> CorruptionResult:
    """ImageNet-C-style robustness of ``model`` on any dataset, corrupting each image on the fly.

    The mCE of such a run is comparable between models evaluated on the same data, not with published ImageNet-C
    numbers (AlexNet's errors normalise it, but they were measured on ImageNet-C itself).

    Args:
        model: a classifier with ``num_classes``.
        dataset: what :func:`load_images` accepts, or loaded images.
        corruptions: corruption names (default: all 19).
        severities: severities to run (default: 1-5).
        clean: the model's clean accuracy on the same images, for relative mCE.
        split, batch_size, size, crop_pct, limit, device, show_progress: as for :func:`evaluate_dataset`.
        seed: base seed of the corruption noise.

    Returns:
        Accuracies per corruption and severity, and the mCE report when all 15 standard corruptions were run.

    Example:
        >>> evaluate_corrupted  # doctest: +ELLIPSIS
        <function evaluate_corrupted at ...>
    """
    _check_corruptions(corruptions, severities)
    images = dataset if isinstance(dataset, LabeledImages) else load_images(dataset, split=split)
    class_indices, label_map = class_subset(images.classes, _num_logits(model))
    total = _num_batches(images, batch_size, limit)
    accuracy: dict[str, dict[int, Accuracy]] = {}
    for name in corruptions:
        for severity in severities:
            batches = image_batches(
                images,
                batch_size=batch_size,
                size=size,
                crop_pct=crop_pct,
                corruption=(name, severity),
                label_map=label_map,
                limit=limit,
                seed=seed,
            )
            accuracy.setdefault(name, {})[severity] = evaluate(
                model,
                batches,
                class_indices=class_indices,
                device=device,
                desc=f"{name} s{severity}",
                total=total,
                show_progress=show_progress,
            )
    return _corruption_result(accuracy, clean)


def _imagenet_c_folder(root: Path, corruption: str) -> Path | None:
    # The released tars unpack to <corruption>/<severity>/<wnid>; some copies keep the group folder (noise/, blur/...).
    for candidate in (root / corruption, *root.glob(f"*/{corruption}")):
        if candidate.is_dir():
            return candidate
    return None


def evaluate_imagenet_c(
    model: nn.Module,
    root: str | Path,
    *,
    corruptions: Sequence[str] | None = None,
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    clean: Accuracy | None = None,
    batch_size: int = 64,
    size: int = 224,
    crop_pct: float = 0.875,
    limit: int | None = None,
    device: str | torch.device | None = None,
    show_progress: bool = True,
) -> CorruptionResult:
    """Top-1 per corruption and severity on a released ImageNet-C folder, and mCE when all 15 standard ones are there.

    Args:
        model: a 1000-way ImageNet classifier (or one whose classes match the folders).
        root: the ImageNet-C folder: ``<corruption>/<severity>/<wnid>/<image>`` (a ``<group>/`` level above the
            corruption is accepted).
        corruptions: corruptions to run (default: every corruption present under ``root``).
        severities, clean, batch_size, size, crop_pct, limit, device, show_progress: as for
            :func:`evaluate_corrupted`. ImageNet-C images are 224×224 already; AugMix's protocol resizes them to 256
            and crops 224, the default here.

    Raises:
        FileNotFoundError: ``root`` holds none of the requested corruptions or a severity folder is missing.

    Example:
        >>> evaluate_imagenet_c  # doctest: +ELLIPSIS
        <function evaluate_imagenet_c at ...>
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"ImageNet-C folder {root} does not exist")
    wanted = list(ALL_CORRUPTIONS if corruptions is None else corruptions)
    _check_corruptions(wanted, severities)
    folders = {c: _imagenet_c_folder(root, c) for c in wanted}
    if corruptions is not None and any(f is None for f in folders.values()):
        missing = [c for c, f in folders.items() if f is None]
        raise FileNotFoundError(f"{root}: no folder for corruption(s) {missing} (expected {root}/<corruption>/<1-5>)")
    folders = {c: f for c, f in folders.items() if f is not None}
    if not folders:
        raise FileNotFoundError(f"{root}: no ImageNet-C corruption folders (expected {root}/<corruption>/<1-5>/...)")
    accuracy: dict[str, dict[int, Accuracy]] = {}
    for name, folder in folders.items():
        for severity in severities:
            if not (folder / str(severity)).is_dir():
                raise FileNotFoundError(f"{folder}: severity folder {severity}/ is missing")
            accuracy.setdefault(name, {})[severity] = evaluate_dataset(
                model,
                folder / str(severity),
                batch_size=batch_size,
                size=size,
                crop_pct=crop_pct,
                limit=limit,
                device=device,
                show_progress=show_progress,
            )
    return _corruption_result(accuracy, clean)
