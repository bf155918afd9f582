"""Make datasets/digits.npz from scikit-learn's bundled copy of the UCI digits (no download).

Run from the repository root: ``python datasets/make_digits.py``; then update the sha256 in
``datasets/manifest.json`` if scikit-learn ever changes its copy (it prints the new one).
"""

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from kit.datasets import sha256, write_npz

OUT = Path(__file__).resolve().parent / "digits.npz"

if __name__ == "__main__":
    data = load_digits()
    images = data.images.astype(np.uint8)  # integer pixel counts 0..16
    target = data.target.astype(np.uint8)
    assert images.shape == (1797, 8, 8) and images.max() == 16
    write_npz(OUT, images=images, target=target)
    print(f"{OUT.name}: {images.shape[0]} images, sha256 {sha256(OUT)}")
