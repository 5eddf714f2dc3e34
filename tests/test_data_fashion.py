"""Fashion-MNIST from the Debian package's folder."""


import numpy as np
import pytest

from test_data_support import (  # noqa: F401  (fixtures are used by name)
    NAMES, assert_same_arrays, data, debian, forbid, isolated_environment, registry,
    sha, synthetic_files, write_dir)


def test_fashion_is_copied_from_the_system_folder_into_its_own_cache(tmp_path, monkeypatch):
    files = synthetic_files(seed=5)
    for name, raw in files.items():
        monkeypatch.setitem(data.FASHION_SHA256, name, sha(raw))
    monkeypatch.setattr(debian, "FASHION_SYSTEM_DIR", write_dir(tmp_path / "sys", files, gz=True))
    monkeypatch.setattr(registry, "fetch", forbid("registry"))
    ds = data.load("fashion", cache_dir=tmp_path / "cache")
    assert ds.name == "fashion"
    assert_same_arrays(ds, files)
    assert (tmp_path / "cache" / "train-images-idx3-ubyte").read_bytes() == files["train-images-idx3-ubyte"]


def test_fashion_without_the_debian_package_names_the_apt_command(tmp_path, monkeypatch):
    monkeypatch.setattr(debian, "FASHION_SYSTEM_DIR", tmp_path / "absent")
    with pytest.raises(data.DataError) as info:
        data.load("fashion", cache_dir=tmp_path / "cache")
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
    assert "--data-dir" in str(info.value)


@pytest.mark.skipif(not (debian.FASHION_SYSTEM_DIR / "train-labels-idx1-ubyte.gz").exists(),
                    reason="Debian package dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_the_debian_package_matches_its_checksums(tmp_path):
    ds = data.load("fashion", cache_dir=tmp_path / "cache")
    assert ds.train_images.shape == (60000, 784) and ds.test_images.shape == (10000, 784)
    assert np.bincount(ds.train_labels).tolist() == [6000] * 10
    for name in NAMES:
        assert sha((tmp_path / "cache" / name).read_bytes()) == data.FASHION_SHA256[name]


def test_unknown_dataset_name_is_a_value_error():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        data.load("cifar")
