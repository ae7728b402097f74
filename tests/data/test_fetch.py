"""Fetching raw datasets: a real HTTP server on localhost (and file:// URLs) serving miniature files in the true
formats; checksum matches and mismatches, broken transfers, no network, and what each error tells the user."""

import base64
import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT
from raw_datasets import closed_port, serve, write_cifar5m, zip_tiny_imagenet
from wdecay.data import images, raw
from wdecay.data.fetch import FetchError, fetch, server_md5


@pytest.fixture
def server(tmp_path):
    """(base URL, served folder, md5s the server reports) of an HTTP server on localhost."""
    served = tmp_path / "served"
    served.mkdir()
    with serve(served) as (url, md5s):
        yield url, served, md5s


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_file_url_with_matching_md5_is_saved_atomically(tmp_path):
    source = tmp_path / "blob.bin"
    source.write_bytes(b"x" * 3_000_000)
    dest = tmp_path / "out" / "blob.bin"
    got = fetch(source.as_uri(), dest, md5=md5_of(source.read_bytes()))
    assert got == md5_of(source.read_bytes()) and dest.read_bytes() == source.read_bytes()
    assert leftovers(dest.parent) == []


def test_http_with_matching_md5_and_a_killed_fetch_left_behind(server, tmp_path):
    url, served, _ = server
    (served / "a.bin").write_bytes(b"payload")
    dest = tmp_path / "a.bin"
    (tmp_path / ".a.bin.k1ll3d.tmp").write_bytes(b"half of a large file")  # what a SIGKILL leaves
    (tmp_path / ".b.bin.x.tmp").write_bytes(b"another file's")
    assert fetch(f"{url}/a.bin", dest, md5=md5_of(b"payload")) == md5_of(b"payload")
    assert dest.read_bytes() == b"payload" and leftovers(tmp_path) == [".b.bin.x.tmp"]


def test_md5_mismatch_names_url_and_file_and_keeps_what_was_there(server, tmp_path):
    url, served, _ = server
    (served / "a.bin").write_bytes(b"not what was published")
    dest = tmp_path / "a.bin"
    dest.write_bytes(b"old")
    with pytest.raises(FetchError) as error:
        fetch(f"{url}/a.bin", dest, md5="0" * 32)
    message = str(error.value)
    assert message.startswith(f"could not fetch {url}/a.bin to {dest}: md5 {md5_of(b'not what was published')} ")
    assert f"differs from expected {'0' * 32}" in message
    assert message.endswith(f"Download {url}/a.bin (md5 {'0' * 32}) yourself, put it at {dest}, and rerun.")
    assert dest.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_the_server_md5_is_checked_when_none_is_given(server, tmp_path):
    url, served, md5s = server
    (served / "a.bin").write_bytes(b"served bytes")
    md5s["a.bin"] = hashlib.md5(b"served bytes").digest()
    assert fetch(f"{url}/a.bin", tmp_path / "a.bin") == md5_of(b"served bytes")
    md5s["a.bin"] = hashlib.md5(b"other bytes").digest()  # the object the server describes is not the one sent
    with pytest.raises(FetchError, match=f"differs from the server's {md5_of(b'other bytes')}"):
        fetch(f"{url}/a.bin", tmp_path / "b.bin")
    assert not (tmp_path / "b.bin").exists()


def test_server_md5_reads_google_and_content_md5_headers():
    from email.message import Message

    headers = Message()
    headers["x-goog-hash"] = "crc32c=n03x6A=="
    headers["x-goog-hash"] = "md5=" + base64.b64encode(bytes(range(16))).decode()
    assert server_md5(headers) == bytes(range(16)).hex()
    headers = Message()
    headers["Content-MD5"] = base64.b64encode(b"\x01" * 16).decode()
    assert server_md5(headers) == "01" * 16
    assert server_md5(Message()) is None


def test_missing_file_broken_transfer_and_no_network_are_named(server, tmp_path):
    url, served, _ = server
    dest = tmp_path / "a.bin"
    with pytest.raises(FetchError, match=rf"could not fetch {url}/nothing.bin to {dest}: HTTP 404 .*Download "):
        fetch(f"{url}/nothing.bin", dest)
    (served / "a.bin").write_bytes(b"y" * 100_000)
    with pytest.raises(FetchError, match=rf"could not fetch {url}/cut/a.bin to {dest}: .*(broke off|IncompleteRead)"):
        fetch(f"{url}/cut/a.bin", dest)
    port = closed_port()
    with pytest.raises(FetchError, match=rf"could not fetch http://127.0.0.1:{port}/a.bin to {dest}: .*no network"):
        fetch(f"http://127.0.0.1:{port}/a.bin", dest)
    assert not dest.exists() and leftovers(tmp_path) == []


def test_cifar5m_part_is_fetched_and_checked(server, tmp_path):
    url, served, md5s = server
    parts = write_cifar5m(served / "made")
    for part in range(6):  # published as part<i>.npz
        (served / "made" / f"cifar5m_part{part}.npz").rename(served / f"part{part}.npz")
        md5s[f"part{part}.npz"] = hashlib.md5((served / f"part{part}.npz").read_bytes()).digest()
    root = tmp_path / "resources" / "cifar5m"
    for part in range(6):
        raw.fetch_cifar5m_part(f"{url}/part{{part}}.npz", root, part)
    data = images.read_cifar5m(root)
    np.testing.assert_array_equal(data["test"][0], parts[5][0])
    np.testing.assert_array_equal(data["train"][1], np.concatenate([y for _, y in parts[:5]]))
    assert raw.missing_cifar5m_parts(str(root)) == []


def test_a_cifar5m_part_that_is_no_npz_is_not_kept(server, tmp_path):
    url, served, _ = server
    (served / "part0.npz").write_text("<html>Sign in to continue</html>")
    with pytest.raises(FetchError) as error:
        raw.fetch_cifar5m_part(f"{url}/part{{part}}.npz", tmp_path / "c5m", 0)
    assert "the downloaded file is not what was expected" in str(error.value)
    assert "not an .npz archive" in str(error.value)
    assert f"put it at {tmp_path}/c5m/cifar5m_part0.npz" in str(error.value)
    assert list((tmp_path / "c5m").iterdir()) == []


def test_tiny_imagenet_is_fetched_checked_and_unzipped_into_place(server, tmp_path):
    url, served, _ = server
    archive, want = zip_tiny_imagenet(served)
    root = tmp_path / "resources" / "tiny-imagenet"
    (root / ".tiny-imagenet-200.k1ll3d" / "unzipped").mkdir(parents=True)  # what a killed download leaves
    raw.fetch_tiny_imagenet(f"{url}/tiny-imagenet-200.zip", md5_of(archive.read_bytes()), root)
    assert sorted(p.name for p in root.iterdir()) == ["tiny-imagenet-200"]  # no archive, no staging left
    data = images.read_tiny_imagenet(root)
    for split in ("train", "test"):
        assert list(data[split][1]) == [label for _, label, _ in want[split]]
        assert data[split][0].shape == (len(want[split]), 64, 64, 3)


def test_tiny_imagenet_of_another_md5_is_not_unpacked(server, tmp_path):
    url, served, _ = server
    zip_tiny_imagenet(served)
    root = tmp_path / "tin"
    with pytest.raises(FetchError) as error:
        raw.fetch_tiny_imagenet(f"{url}/tiny-imagenet-200.zip", raw.TINY_IMAGENET_MD5, root)
    message = str(error.value)
    assert f"differs from expected {raw.TINY_IMAGENET_MD5}" in message
    assert message.endswith(
        f"Download {url}/tiny-imagenet-200.zip (md5 {raw.TINY_IMAGENET_MD5}) yourself, unzip it into {root}/ "
        f"(giving {root}/tiny-imagenet-200/wnids.txt), and rerun."
    )
    assert list(root.iterdir()) == []


def test_instructions_say_what_to_download_from_where_to_where():
    c5m = raw.instructions("c5m", {"source": "cifar5m", "root": "/data/c5m/"}, "presets.p.datasets.c5m")
    assert c5m.startswith(
        "dataset 'c5m' (cifar5m): not found under its root /data/c5m: missing /data/c5m/cifar5m_part0"
    )
    assert "https://storage.googleapis.com/gresearch/cifar5m/part5.npz and save part<i>.npz as " in c5m
    assert "/data/c5m/cifar5m_part<i>.npz" in c5m and "point presets.p.datasets.c5m.root at the folder" in c5m
    tin = raw.instructions("tin", {"source": "tiny_imagenet", "root": "/data/tin"}, "t")
    assert f"download {raw.TINY_IMAGENET_URL} (md5 {raw.TINY_IMAGENET_MD5}) and unzip it into /data/tin/" in tin
    c100 = raw.instructions("c100", {"source": "cifar100", "root": "/data/c"}, "c")
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (md5 eb9058c3a382ffc7106e4002c42a8d85)" in c100
    assert "(giving /data/c/cifar-100-python/)" in c100


def test_a_failed_cifar_download_says_what_to_fetch_by_hand():
    message = raw.cifar_failed("cifar10", RuntimeError("File not found or corrupted."))
    assert message == (
        "could not download cifar10 into resources/cifar with torchvision (RuntimeError: File not found or "
        "corrupted.). Download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (md5 "
        "c58f30108f718f92721af3b95e74349a) yourself, unpack it into resources/cifar/ (giving "
        "resources/cifar/cifar-10-batches-py/), and rerun."
    )


def test_default_roots_are_the_schema_defaults_and_download_keys_do_not_reach_the_prepare_job():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    defaults = {}
    for case in schema["$defs"]["dataset"]["allOf"]:
        sources = case["if"]["properties"]["source"]
        root = case["then"]["properties"].get("root", {}).get("default")
        for source in sources.get("enum", [sources.get("const")]):
            if root:
                defaults[source] = root
    assert defaults == raw.DEFAULT_ROOTS
    spec = {"source": "tiny_imagenet", "root": "resources/tiny-imagenet", "url": "http://mirror/t.zip", "md5": "0"}
    assert raw.downloadable(spec) and not raw.downloadable(spec | {"root": "/data/tin"})
    assert raw.prepared_spec(spec) == {"source": "tiny_imagenet", "root": "resources/tiny-imagenet"}
