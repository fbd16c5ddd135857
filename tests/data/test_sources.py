"""Loading real images through Hugging Face datasets: parquet shards, ImageFolder, embedded sets, bad folders."""

import shutil

import pytest

from vmix.data import load_image_dataset
from vmix.data.sources import FASHION_MNIST_DIR


def test_parquet_folder_in_the_hub_layout(imagenette_parquet):
    splits = load_image_dataset(str(imagenette_parquet))
    assert (len(splits.train), len(splits.val)) == (9469, 3925)
    assert splits.classes[0] == "n01440764" and splits.num_classes == 10
    row = splits.val[0]
    assert row[splits.image_key].size == (112, 112) and 0 <= row[splits.label_key] < 10


def test_imagefolder(imagefolder):
    splits = load_image_dataset(str(imagefolder))
    assert (len(splits.train), len(splits.val), splits.num_classes) == (20, 10, 10)
    assert splits.train[0]["image"].size == (224, 224)
    assert splits.source.startswith("imagefolder:")


def test_folder_without_train_is_refused(imagenette_samples):
    with pytest.raises(FileNotFoundError, match="train/<class>"):
        load_image_dataset(str(imagenette_samples))


def test_class_mismatch_between_train_and_val_is_refused(imagefolder):
    extra = sorted((imagefolder / "val").iterdir())[0]
    shutil.rmtree(extra)
    with pytest.raises(ValueError, match=rf"only in train: \['{extra.name}'\]"):
        load_image_dataset(str(imagefolder))


def test_missing_local_folder():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_dataset("./no/such/folder")


def test_digits_ships_with_scikit_learn():
    splits = load_image_dataset("digits")
    assert (len(splits.train), len(splits.val), splits.num_classes) == (1437, 360, 10)
    assert splits.train[0]["image"].size == (8, 8)


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_from_debian():
    splits = load_image_dataset("fashion-mnist")
    assert (len(splits.train), len(splits.val)) == (60000, 10000)
    assert splits.classes[9] == "ankle boot"
