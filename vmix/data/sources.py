"""Where images come from: a Hugging Face hub id, a local folder (parquet shards or ImageFolder), or an embedded set.

Hub ids, parquet shards and the embedded sets go through Hugging Face ``datasets``, so one code path serves ImageNet
on the hub, a local copy of it and the small sets of the README's comparison. An ImageFolder needs nothing beyond
Pillow: it is a list of files (:class:`ImageFiles`), so it also works where ``datasets`` is not installed. Local data
never touches the network.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
]
_VAL_SPLITS = ("validation", "val", "test")
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class ImageFiles:
    """Image files and their labels as a sequence of ``{"image": PIL image, "label": int}`` rows, read on access.

    The rows a ``datasets.Dataset`` gives, for an ImageFolder, without ``datasets``; images are converted to RGB.

    Args:
        files: image paths.
        labels: the integer label of each file.

    Example:
        >>> rows = ImageFiles([], [])
        >>> len(rows)
        0
    """

    def __init__(self, files: list[str], labels: list[int]):
        if len(files) != len(labels):
            raise ValueError(f"got {len(files)} files but {len(labels)} labels")
        self.files, self.labels = list(files), list(labels)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        from PIL import Image

        with Image.open(self.files[index]) as image:
            return {"image": image.convert("RGB"), "label": self.labels[index]}


@dataclass
class ImageSplits:
    """A train and a validation split of an image-classification set, with the column names and class names.

    Attributes:
        train: the training split, a sequence of rows that hold a PIL image and an integer label (a
            ``datasets.Dataset``, or :class:`ImageFiles` for an ImageFolder).
        val: the validation split.
        classes: class names in label order (wnids for ImageNet-style sets).
        image_key: name of the image column.
        label_key: name of the label column.
        source: a short description of where the data came from (for ``run.json``).

    Example:
        >>> splits = load_image_dataset("digits")
        >>> len(splits.classes), splits.image_key, splits.label_key
        (10, 'image', 'label')
    """

    train: object
    val: object
    classes: list[str]
    image_key: str = "image"
    label_key: str = "label"
    source: str = ""

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)


def load_image_dataset(spec: str, *, val_split: str | None = None) -> ImageSplits:
    """Load a classification set as train/validation splits.

    ``spec`` is one of:
    - ``"digits"``: scikit-learn's 8×8 handwritten digits (1,797 images, shipped inside the scikit-learn wheel), split
      80/20 with a fixed seed, stratified by class;
    - ``"fashion-mnist"``: Zalando's Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (60,000 train and
      10,000 test images, 28×28 grayscale, 10 classes);
    - a local folder with ``train/<class>/*`` and ``val/<class>/*`` (or ``validation/``): an ImageFolder;
    - a local folder with parquet shards in the hub's layout (``train*.parquet`` and ``val*.parquet`` /
      ``validation*.parquet``, at the top or under ``data/``), such as a downloaded ImageNet or Imagenette;
    - anything else is taken as a hub id (``ILSVRC/imagenet-1k``) and needs the network and, for gated sets, a token.

    Args:
        spec: see above.
        val_split: name of the validation split of a hub set (default: the first of validation/val/test present).

    Returns:
        The two splits and their class names.

    Raises:
        FileNotFoundError: a local folder with no training data in it, or Fashion-MNIST not installed.
        ValueError: train and validation disagree on the classes.

    Example:
        >>> splits = load_image_dataset("digits")
        >>> len(splits.train), len(splits.val)
        (1437, 360)
    """
    if spec == "digits":
        return _digits()
    if spec == "fashion-mnist":
        return _fashion_mnist()
    path = Path(spec).expanduser()
    if path.is_dir():
        return _local_folder(path)
    if spec.startswith((".", "/", "~")) or path.exists():
        raise FileNotFoundError(f"data folder {spec!r} does not exist or is not a folder")
    return _hub(spec, val_split)


def _splits_from_dict(dd, val_name: str, source: str) -> ImageSplits:
    import datasets

    train, val = dd["train"], dd[val_name]
    image_key = next((k for k, f in train.features.items() if isinstance(f, datasets.Image)), None)
    label_key = next((k for k, f in train.features.items() if isinstance(f, datasets.ClassLabel)), None)
    if image_key is None or label_key is None:
        raise ValueError(
            f"{source}: expected an Image column and a ClassLabel column, found features {dict(train.features)}"
        )
    classes = list(train.features[label_key].names)
    val_classes = list(val.features[label_key].names)
    if classes != val_classes:
        _raise_class_mismatch(source, classes, val_classes)
    return ImageSplits(train, val, classes, image_key, label_key, source)


def _raise_class_mismatch(source: str, train_classes: list[str], val_classes: list[str]) -> None:
    only_train = sorted(set(train_classes) - set(val_classes))
    only_val = sorted(set(val_classes) - set(train_classes))
    raise ValueError(
        f"{source}: train and validation classes differ (only in train: {only_train[:10]}, "
        f"only in validation: {only_val[:10]}); both splits need the same class folders/names"
    )


def _local_folder(path: Path) -> ImageSplits:
    subdirs = {p.name: p for p in path.iterdir() if p.is_dir()}
    if "train" in subdirs:
        val_dir = subdirs.get("val") or subdirs.get("validation")
        if val_dir is None:
            raise FileNotFoundError(f"ImageFolder {path} has train/ but no val/ (or validation/) folder")
        train_classes = sorted(p.name for p in subdirs["train"].iterdir() if p.is_dir())
        val_classes = sorted(p.name for p in val_dir.iterdir() if p.is_dir())
        if not train_classes:
            raise FileNotFoundError(f"ImageFolder {path}/train has no class folders (expected train/<class>/<image>)")
        if train_classes != val_classes:
            _raise_class_mismatch(str(path), train_classes, val_classes)
        splits = []
        for root in (subdirs["train"], val_dir):
            files, labels = [], []
            for label, name in enumerate(train_classes):
                for f in sorted((root / name).iterdir()):
                    if f.suffix.lower() in _IMAGE_SUFFIXES:
                        files.append(str(f))
                        labels.append(label)
            splits.append(ImageFiles(files, labels))
        return ImageSplits(*splits, train_classes, source=f"imagefolder:{path}")

    import datasets

    roots = [path, path / "data"]
    shards = {split: sorted(str(f) for r in roots for f in r.glob(f"{split}[-_.]*parquet")) for split in ("train",)}
    for name in _VAL_SPLITS:
        found = sorted(str(f) for r in roots for f in r.glob(f"{name}[-_.]*parquet"))
        if found:
            shards["validation"] = found
            break
    if not shards["train"]:
        raise FileNotFoundError(
            f"data folder {path} has no training data: expected an ImageFolder (train/<class>/*, val/<class>/*) "
            f"or parquet shards named train*.parquet and validation*.parquet (at the top or under data/)"
        )
    if "validation" not in shards:
        raise FileNotFoundError(f"data folder {path} has train*.parquet but no validation/val/test*.parquet shards")
    dd = datasets.load_dataset("parquet", data_files=shards)
    return _splits_from_dict(dd, "validation", f"parquet:{path}")


def _hub(hub_id: str, val_split: str | None) -> ImageSplits:
    import datasets

    dd = datasets.load_dataset(hub_id)
    names = [val_split] if val_split else [s for s in _VAL_SPLITS if s in dd]
    if not names or names[0] not in dd:
        raise ValueError(f"hub set {hub_id!r} has splits {list(dd)}; pass the validation split's name")
    return _splits_from_dict(dd, names[0], f"hub:{hub_id}")


def _from_arrays(train: tuple, val: tuple, classes: list[str], source: str) -> ImageSplits:
    import datasets

    features = datasets.Features(image=datasets.Image(), label=datasets.ClassLabel(names=classes))
    dd = datasets.DatasetDict(
        {
            name: datasets.Dataset.from_dict({"image": list(x), "label": y.tolist()}, features=features)
            for name, (x, y) in (("train", train), ("validation", val))
        }
    )
    return _splits_from_dict(dd, "validation", source)


def _digits() -> ImageSplits:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # 0..16 gray levels -> 0..255 so the images are ordinary 8-bit pictures.
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)
    x_tr, x_va, y_tr, y_va = train_test_split(
        images, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    return _from_arrays((x_tr, y_tr), (x_va, y_va), [str(i) for i in range(10)], "sklearn:digits")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_mnist() -> ImageSplits:
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {FASHION_MNIST_DIR}; install it with "
            "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or use --data digits"
        )
    split = {
        name: (
            _read_idx(FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"),
            _read_idx(FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz"),
        )
        for name, prefix in (("train", "train"), ("val", "t10k"))
    }
    return _from_arrays(split["train"], split["val"], FASHION_MNIST_CLASSES, "debian:dataset-fashion-mnist")
