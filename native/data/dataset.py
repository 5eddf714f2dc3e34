"""The result of ``load``: the four arrays of an MNIST-shaped dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .checksums import PRETTY
from .errors import DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """The four arrays of an MNIST-shaped dataset, all uint8 and read-only.

    ``train_images`` is (60000, 784), ``train_labels`` (60000,),
    ``test_images`` (10000, 784), ``test_labels`` (10000,). ``source`` says
    where the files were read from.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str = ""

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train {self.train_images.shape}, "
                f"test {self.test_images.shape}, from {self.source})")


def make_dataset(dataset: str, arrays: dict, source: str) -> Dataset:
    """A Dataset from the four verified arrays (keyed by file name); images
    become (N, 784) views of the file buffers, read-only like them."""
    def flat(a):
        out = a.reshape(a.shape[0], -1)  # a view: the file buffer is contiguous
        out.flags.writeable = False
        return out

    tr_x, tr_y = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    te_x, te_y = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    for x, y, split in ((tr_x, tr_y, "train"), (te_x, te_y, "t10k")):
        if x.shape[0] != y.shape[0]:
            raise DataError(f"{PRETTY[dataset]} {split}: {x.shape[0]} images "
                            f"but {y.shape[0]} labels")
    return Dataset(name=dataset, train_images=flat(tr_x), train_labels=tr_y,
                   test_images=flat(te_x), test_labels=te_y, source=source)
