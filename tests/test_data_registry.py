"""Data sets chosen by name through one registry (infogan.data.DATASETS)."""

import pytest
from helpers import write_tiny_mnist
from PIL import Image

from infogan.config import DataConfig
from infogan.data import DATASETS, DataError, Splits, dataset, load_dataset, load_splits


def test_registry_names_and_folder_paths():
    assert {"mnist", "fashion-mnist", "svhn", "celeba", "dsprites", "chairs", "faces", "folder"} <= set(DATASETS)
    entry, path = dataset("folder:/some/images")
    assert entry is DATASETS["folder"] and path == "/some/images"
    assert dataset("mnist") == (DATASETS["mnist"], None)
    with pytest.raises(DataError, match="unknown data set 'cifar'; available: mnist"):
        dataset("cifar")
    with pytest.raises(DataError, match="split must be train, test or all, got 'extra'"):
        load_dataset("folder", "extra", "/some/images")


def test_load_splits_train_and_held_out(tmp_path, isolated_cache):
    write_tiny_mnist(tmp_path / "mnist")
    data = DataConfig(name="mnist", data_dir=str(tmp_path / "mnist"), download=False, verify=False)
    train, test = load_splits(data, (1, 8, 8))
    assert len(train) == 64 and len(test) == 32
    none, test = load_splits(data, (1, 8, 8), need_train=False)
    assert none is None and len(test) == 32


def test_celeba_without_a_split_index_trains_on_everything(tmp_path, isolated_cache):
    d = tmp_path / "celeba" / "img_align_celeba"
    d.mkdir(parents=True)
    for i in range(1, 4):
        Image.new("RGB", (178, 218), (180, 120, 90)).save(d / f"{i:06d}.jpg")
    assert DATASETS["celeba"].splits(str(tmp_path)) == Splits(
        "all", None, "no CelebA split index found; training on every image, no test split")
    notes = []
    train, test = load_splits(DataConfig(name="celeba", data_dir=str(tmp_path)), (3, 16, 16), log=notes.append)
    assert train.images.shape == (3, 3, 16, 16) and test is None
    assert notes == ["note: no CelebA split index found; training on every image, no test split"]
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 2\n")
    assert DATASETS["celeba"].splits(str(tmp_path)) == Splits("train", "test")
