"""CIFAR-5m and Tiny ImageNet readers, on miniature copies written in the true on-disk formats."""

import numpy as np
import pytest
from PIL import Image
from raw_datasets import GRAY, PART_SIZES, TRAIN_K, VAL, save_jpeg, write_cifar5m, write_tiny_imagenet
from wdecay.data import images

# --- CIFAR-5m: cifar5m_part{0..5}.npz, each with X uint8 (N, 32, 32, 3) and Y integer labels (N,) ----------------


def concat(parts, n=None):
    return np.concatenate([x for x, _ in parts])[:n], np.concatenate([y for _, y in parts])[:n]


def test_cifar5m_reads_every_part_by_default(tmp_path):
    parts = write_cifar5m(tmp_path)
    got = images.read_cifar5m(tmp_path, None, None)
    for split, pool in (("train", parts[:5]), ("test", parts[5:])):
        x, y = got[split]
        want_x, want_y = concat(pool)
        np.testing.assert_array_equal(x, want_x)
        np.testing.assert_array_equal(y, want_y)
        assert x.dtype == np.uint8 and x.flags.c_contiguous and y.dtype == np.int64
    assert len(got["train"][1]) == sum(PART_SIZES[:5]) and len(got["test"][1]) == PART_SIZES[5]


@pytest.mark.parametrize("compressed,label_dtype", [(False, np.int64), (True, np.uint8), (False, ">i4")])
def test_cifar5m_caps_train_across_parts_and_takes_test_from_the_last(tmp_path, compressed, label_dtype):
    parts = write_cifar5m(tmp_path, compressed=compressed, label_dtype=label_dtype)
    for unused in (2, 3, 4):  # 45 training images need parts 0 and 1 only
        (tmp_path / f"cifar5m_part{unused}.npz").unlink()
    got = images.read_cifar5m(tmp_path, train_size=45, test_size=7)
    (x, y), (tx, ty) = got["train"], got["test"]
    np.testing.assert_array_equal(x, concat(parts[:2], 45)[0])
    np.testing.assert_array_equal(y, concat(parts[:2], 45)[1])
    assert list(x[:, 0, 0, 0]) == [0] * 30 + [1] * 15 and list(x[28:32, 0, 0, 1]) == [28, 29, 0, 1]
    np.testing.assert_array_equal(tx, parts[5][0][:7])
    np.testing.assert_array_equal(ty, parts[5][1][:7])
    assert set(tx[:, 0, 0, 0]) == {5} and ty.dtype == np.int64


def test_cifar5m_stops_at_a_part_boundary(tmp_path):
    parts = write_cifar5m(tmp_path)
    (tmp_path / "cifar5m_part1.npz").unlink()
    x, _ = images.read_cifar5m(tmp_path, train_size=30, test_size=None)["train"]
    np.testing.assert_array_equal(x, parts[0][0])


def test_cifar5m_reads_arrays_stored_in_fortran_order(tmp_path):
    parts = write_cifar5m(tmp_path)
    x, y = parts[0]
    np.savez(tmp_path / "cifar5m_part0.npz", X=np.asfortranarray(x), Y=y)
    got_x, got_y = images.read_cifar5m(tmp_path, train_size=12, test_size=1)["train"]
    np.testing.assert_array_equal(got_x, x[:12])
    np.testing.assert_array_equal(got_y, y[:12])


def _rewrite(root, part, **arrays):
    np.savez(root / f"cifar5m_part{part}.npz", **arrays)


GOOD_X, GOOD_Y = np.zeros((25, 32, 32, 3), np.uint8), np.zeros(25, np.int64)


@pytest.mark.parametrize(
    "arrays,error,match",
    [
        (None, FileNotFoundError, r"missing .*cifar5m_part1\.npz"),
        ({"X": GOOD_X}, ValueError, r"cifar5m_part1\.npz: no array 'Y'"),
        ({"X": GOOD_X.astype(np.float32), "Y": GOOD_Y}, ValueError, r"cifar5m_part1\.npz: X is float32"),
        ({"X": GOOD_X[:, :, :, :1], "Y": GOOD_Y}, ValueError, r"cifar5m_part1\.npz: X is uint8 \(25, 32, 32, 1\)"),
        ({"X": GOOD_X.transpose(0, 3, 1, 2), "Y": GOOD_Y}, ValueError, r"cifar5m_part1\.npz: X is"),
        ({"X": GOOD_X, "Y": GOOD_Y[:24]}, ValueError, r"cifar5m_part1\.npz: Y is int64 \(24,\)"),
        ({"X": GOOD_X, "Y": GOOD_Y.astype(np.float64)}, ValueError, r"cifar5m_part1\.npz: Y is float64"),
        ({"X": GOOD_X, "Y": np.full(25, 10)}, ValueError, r"cifar5m_part1\.npz: labels span 10\.\.10"),
        ({"X": GOOD_X, "Y": np.full(25, -1)}, ValueError, r"cifar5m_part1\.npz: labels span -1\.\.-1"),
    ],
)
def test_cifar5m_names_the_bad_part(tmp_path, arrays, error, match):
    write_cifar5m(tmp_path)
    (tmp_path / "cifar5m_part1.npz").unlink()
    if arrays is not None:
        _rewrite(tmp_path, 1, **arrays)
    with pytest.raises(error, match=match):
        images.read_cifar5m(tmp_path, train_size=40, test_size=None)


def test_cifar5m_rejects_a_file_that_is_not_an_archive(tmp_path):
    write_cifar5m(tmp_path)
    (tmp_path / "cifar5m_part5.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"cifar5m_part5\.npz: not an \.npz archive"):
        images.read_cifar5m(tmp_path, train_size=10, test_size=5)


def test_cifar5m_rejects_sizes_beyond_the_pools(tmp_path):
    write_cifar5m(tmp_path)
    with pytest.raises(ValueError, match="train_size 116 exceeds the 115 images of part0, part1"):
        images.read_cifar5m(tmp_path, train_size=116, test_size=None)
    with pytest.raises(ValueError, match="test_size 41 exceeds the 40 images of part5"):
        images.read_cifar5m(tmp_path, train_size=None, test_size=41)


# --- Tiny ImageNet: tiny-imagenet-200/{wnids.txt, words.txt, train/<wnid>/..., val/..., test/images} --------------


def test_tiny_imagenet_labels_order_and_pixels(tmp_path):
    want = write_tiny_imagenet(tmp_path)
    got = images.read_tiny_imagenet(tmp_path)
    for split in ("train", "test"):
        x, y = got[split]
        rgbs, labels, paths = zip(*want[split], strict=True)
        assert x.shape == (len(labels), 64, 64, 3) and x.dtype == np.uint8 and y.dtype == np.int64
        np.testing.assert_array_equal(y, labels)
        flat = np.broadcast_to(np.array(rgbs, np.int16)[:, None, None, :], x.shape)
        assert np.abs(x.astype(np.int16) - flat).max() <= 3, "each image decodes to its own flat colour"
        for img, path in zip(x, paths, strict=True):  # exactly PIL's RGB decoding of the file
            np.testing.assert_array_equal(img, np.asarray(Image.open(path).convert("RGB")))
    assert [path.name for *_, path in want["train"][:3]] == ["n01_0.JPEG", "n01_1.JPEG", "n01_10.JPEG"]
    assert [path.name for *_, path in want["test"]] == ["val_0.JPEG", "val_1.JPEG", "val_10.JPEG", "val_3.JPEG"]
    np.testing.assert_array_equal(got["test"][1], [1, 0, 0, 2])


def test_tiny_imagenet_grayscale_becomes_three_equal_channels(tmp_path):
    write_tiny_imagenet(tmp_path)
    got = images.read_tiny_imagenet(tmp_path)
    gray_train = got["train"][0][3 + TRAIN_K.index(GRAY[1])]  # n02 is label 1
    gray_val = got["test"][0][3]  # val_3 sorts last
    for img in (gray_train, gray_val):
        assert (img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all()
    assert not (got["train"][0][0][..., 0] == got["train"][0][0][..., 1]).all()


def test_tiny_imagenet_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing folder .*tiny-imagenet-200"):
        images.read_tiny_imagenet(tmp_path)
    (tmp_path / "tiny-imagenet-200").mkdir()
    with pytest.raises(FileNotFoundError, match=r"missing .*wnids\.txt"):
        images.read_tiny_imagenet(tmp_path)


def test_tiny_imagenet_unknown_wnid_in_val_annotations(tmp_path):
    write_tiny_imagenet(tmp_path)
    with open(tmp_path / "tiny-imagenet-200" / "val" / "val_annotations.txt", "a") as f:
        f.write("val_4.JPEG\tn09\t0\t0\t10\t10\n")
    with pytest.raises(ValueError, match=r"val_annotations\.txt:5: wnid 'n09' of val_4\.JPEG is not in wnids\.txt"):
        images.read_tiny_imagenet(tmp_path)


def test_tiny_imagenet_image_of_the_wrong_size(tmp_path):
    write_tiny_imagenet(tmp_path)
    save_jpeg(tmp_path / "tiny-imagenet-200" / "train" / "n03" / "images" / "n03_1.JPEG", (9, 9, 9), size=32)
    with pytest.raises(ValueError, match=r"n03_1\.JPEG: image is 32x32, expected 64x64"):
        images.read_tiny_imagenet(tmp_path)


def test_tiny_imagenet_missing_images(tmp_path):
    write_tiny_imagenet(tmp_path)
    base = tmp_path / "tiny-imagenet-200"
    (base / "val" / "images" / "val_10.JPEG").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing image .*val_10\.JPEG"):
        images.read_tiny_imagenet(tmp_path)
    for path in (base / "train" / "n01" / "images").iterdir():
        path.unlink()
    with pytest.raises(FileNotFoundError, match="no training images .* for wnid n01"):
        images.read_tiny_imagenet(tmp_path)


# --- build + prepared round trip ----------------------------------------------------------------------------------


def test_build_and_prepared_round_trip(tmp_path):
    parts = write_cifar5m(tmp_path / "c5m")
    write_tiny_imagenet(tmp_path / "tin")
    specs = {
        "cifar5m": ({"source": "cifar5m", "root": str(tmp_path / "c5m"), "train_size": 50, "test_size": 9}, 10),
        "tiny": ({"source": "tiny_imagenet", "root": str(tmp_path / "tin")}, 3),
    }
    for name, (spec, classes) in specs.items():
        splits = images.build(spec)
        images.save_prepared(tmp_path / name, splits, {"name": name, "source": spec["source"]})
        loaded, meta = images.load_prepared(tmp_path / name)
        for split in ("train", "test"):
            np.testing.assert_array_equal(loaded[split][0], splits[split][0])
            np.testing.assert_array_equal(loaded[split][1], splits[split][1])
        assert meta["source"] == spec["source"] and meta["train_size"] == len(splits["train"][1])
        assert meta["classes"] <= classes
    np.testing.assert_array_equal(images.load_prepared(tmp_path / "cifar5m")[0]["test"][1], parts[5][1][:9])
    meta = images.load_prepared(tmp_path / "tiny")[1]
    assert meta["shape"] == [64, 64, 3] and meta["classes"] == 3 and meta["test_size"] == len(VAL)
