import json
import pickle

import numpy as np
import pytest
from raw_datasets import write_cifar
from wdecay.data import images


def test_digits_are_deterministic_and_shaped_like_images():
    a = images.make_digits(train_size=50, test_size=30, size=16, seed=3)
    b = images.make_digits(train_size=50, test_size=30, size=16, seed=3)
    c = images.make_digits(train_size=50, test_size=30, size=16, seed=4)
    for split in ("train", "test"):
        np.testing.assert_array_equal(a[split][0], b[split][0])
        np.testing.assert_array_equal(a[split][1], b[split][1])
    assert not np.array_equal(a["train"][0], c["train"][0])
    x, y = a["train"]
    assert x.shape == (50, 16, 16, 3) and x.dtype == np.uint8
    assert y.dtype == np.int64 and set(y) <= set(range(10))


def test_digit_pools_split_the_original_samples():
    from sklearn.datasets import load_digits

    pools = images.digits_base(seed=0)
    pooled = sorted(im.tobytes() for split in ("train", "test") for im in pools[split][0])
    original = sorted((im / 16.0).astype(np.float32).tobytes() for im in load_digits().images)
    assert len(pools["train"][0]) == 1078 and pooled == original


def test_digits_are_learnable_but_not_trivial():
    """A linear classifier on the pixels beats chance by far but stays well short of perfect on the test pool."""
    from sklearn.linear_model import LogisticRegression

    splits = images.make_digits(train_size=1000, test_size=500, size=16, seed=0)
    (xtr, ytr), (xte, yte) = splits["train"], splits["test"]
    clf = LogisticRegression(max_iter=300, C=0.1).fit(xtr.reshape(len(xtr), -1) / 255, ytr)
    accuracy = clf.score(xte.reshape(len(xte), -1) / 255, yte)
    assert 0.3 < accuracy < 0.9


@pytest.mark.parametrize("bytes_keys", [False, True])
@pytest.mark.parametrize("name,classes", [("cifar10", 10), ("cifar100", 100)])
def test_read_cifar_parses_torchvision_layout(tmp_path, name, classes, bytes_keys):
    written = write_cifar(tmp_path, name, n_per_file=7, bytes_keys=bytes_keys)
    parsed = images.read_cifar(tmp_path, name)
    for split in ("train", "test"):
        x, y = parsed[split]
        np.testing.assert_array_equal(x, written[split][0])
        np.testing.assert_array_equal(y, written[split][1])
        assert x.shape[1:] == (32, 32, 3) and x.flags.c_contiguous
    assert len(parsed["train"][1]) == (35 if name == "cifar10" else 7)


def test_read_cifar_pixel_order_is_channel_planes(tmp_path):
    """A row of a batch is 1024 red, then 1024 green, then 1024 blue values, each row-major."""
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    row = np.zeros(3072, np.uint8)
    row[0] = 10  # red, pixel (0, 0)
    row[1024 + 33] = 20  # green, pixel (1, 1)
    row[2048 + 1023] = 30  # blue, pixel (31, 31)
    for file in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / file, "wb") as f:
            pickle.dump({"data": row[None], "labels": [3]}, f, protocol=2)
    x, y = images.read_cifar(tmp_path, "cifar10")["test"]
    assert x[0, 0, 0, 0] == 10 and x[0, 1, 1, 1] == 20 and x[0, 31, 31, 2] == 30 and y[0] == 3


def test_read_cifar_names_the_missing_file(tmp_path):
    write_cifar(tmp_path, "cifar10", n_per_file=2)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        images.read_cifar(tmp_path, "cifar10")


def test_read_cifar_rejects_a_malformed_batch(tmp_path):
    write_cifar(tmp_path, "cifar10", n_per_file=2)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]}, f)
    with pytest.raises(ValueError, match="test_batch"):
        images.read_cifar(tmp_path, "cifar10")


@pytest.mark.parametrize("damage", ["cut short", "empty", "an HTML page"])
def test_read_cifar_names_a_damaged_batch_and_what_to_do(tmp_path, damage):
    write_cifar(tmp_path, "cifar10", n_per_file=20)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    data = path.read_bytes()
    path.write_bytes({"cut short": data[: len(data) // 2], "empty": b"", "an HTML page": b"<html>404</html>"}[damage])
    with pytest.raises(ValueError) as error:
        images.read_cifar(tmp_path, "cifar10")
    message = str(error.value)
    assert message.startswith(f"{path}: cannot be read as a CIFAR pickle batch (")
    assert "the file is damaged or cut short. Delete the folder " in message
    assert f"{path.parent} and rerun: under resources/cifar the download_cifar job downloads it again" in message


def test_per_class_subset_takes_the_first_examples_of_each_class_in_order():
    labels = np.array([2, 0, 2, 1, 0, 2, 1, 0, 0])
    idx = images.per_class_subset(labels, 2)
    np.testing.assert_array_equal(idx, [0, 1, 2, 3, 4, 6])
    assert all((labels[idx] == c).sum() == 2 for c in range(3))


def test_prepared_round_trip_and_subset(tmp_path):
    written = write_cifar(tmp_path / "raw", "cifar10", n_per_file=30)
    splits = images.build({"source": "cifar10", "root": str(tmp_path / "raw")})
    images.save_prepared(tmp_path / "c10", splits, {"name": "cifar10"})
    loaded, meta = images.load_prepared(tmp_path / "c10")
    np.testing.assert_array_equal(loaded["train"][0], written["train"][0])
    assert meta["classes"] == 10 and meta["shape"] == [32, 32, 3] and meta["train_size"] == 150
    sub = images.build({"source": "subset", "of": "cifar10", "per_class": 3}, tmp_path / "c10")
    x, y = sub["train"]
    assert np.bincount(y).max() <= 3 and len(y) == sum(min(3, n) for n in np.bincount(written["train"][1]))
    np.testing.assert_array_equal(sub["test"][1], written["test"][1])
    assert not list(tmp_path.glob("c10/.*.tmp")), "atomic writes leave no temporary files"
    assert json.loads((tmp_path / "c10" / "meta.json").read_text())["name"] == "cifar10"
