import json

import numpy as np
import pytest
import torch
from wdecay.data import tokens

# GPT-2's pre-tokenisation pattern (tiktoken's gpt2 encoding)
GPT2_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
DOCS = [
    "Why do we need weight decay in modern deep learning?",
    "It's the optimisation dynamics, not explicit regularisation.",
    "Über-long words, numbers 12345 and tabs\tand\nnewlines.",
    "",
    "Loss stabilisation via SGD noise; bias-variance for LLMs.",
] + [f"Document number {i}: the quick brown fox jumps over the lazy dog." for i in range(15)]


def byte_encoding():
    """A real tiktoken encoding built offline: byte-level ranks, GPT-2's pattern, end-of-text id 256."""
    import tiktoken

    ranks = {bytes([i]): i for i in range(256)}
    return tiktoken.Encoding(
        "bytes-test", pat_str=GPT2_PAT, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 256}
    )


def save_text_dataset(path, texts):
    import datasets

    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(path))
    return path


def read_bin(folder, split):
    return np.fromfile(folder / f"{split}.bin", dtype=np.uint16)


def split_documents(ids: np.ndarray, eot: int) -> list[np.ndarray]:
    assert ids[-1] == eot, "every document ends with the end-of-text token"
    return np.split(ids, np.flatnonzero(ids == eot) + 1)[:-1]


# --- python_docs ------------------------------------------------------------------------------------------------


def test_python_docs_decodes_back_to_the_topics_text(tmp_path):
    from pydoc_data.topics import topics

    meta = tokens.python_docs(tmp_path / "a", val_fraction=0.1)
    train, val = read_bin(tmp_path / "a", "train"), read_bin(tmp_path / "a", "val")
    docs = tokens.python_docs_documents()  # paragraphs: every 10th is validation
    assert "".join(docs).replace("\n", "") == "".join(topics[k] for k in sorted(topics)).replace("\n", "")
    assert bytes(train.astype(np.uint8)).decode() == "".join(d for i, d in enumerate(docs) if i % 10 != 9)
    assert bytes(val.astype(np.uint8)).decode() == "".join(docs[9::10])
    assert meta["documents"] == [len(docs) - len(docs[9::10]), len(docs[9::10])] and len(docs) > 1000
    assert 0.05 < len(val) / (len(train) + len(val)) < 0.15
    assert tokens.read_meta(tmp_path / "a") == meta
    assert meta["vocab_size"] == 256 and meta["tokenizer"] == "bytes" and meta["eot_token"] is None
    tokens.python_docs(tmp_path / "b", val_fraction=0.1)
    for name in tokens.TOKEN_FILES[:2]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(tokens.TOKEN_FILES)


# --- writing and reading ----------------------------------------------------------------------------------------


def test_write_corpus_round_trip_and_size_mismatch(tmp_path):
    rng = np.random.default_rng(0)
    train, val = rng.integers(0, 50257, 1000).astype(np.uint16), rng.integers(0, 50257, 100).astype(np.uint16)
    meta = {"vocab_size": 50257, "tokenizer": "gpt2", "source": "test", "eot_token": 50256}
    written = tokens.write_corpus(tmp_path, train, val, meta)
    assert tokens.read_meta(tmp_path) == written == json.loads((tmp_path / "meta.json").read_text())
    assert written["train_tokens"] == 1000 and written["val_tokens"] == 100
    np.testing.assert_array_equal(np.memmap(tmp_path / "train.bin", dtype=np.uint16, mode="r"), train)
    assert not list(tmp_path.glob(".*.tmp")), "atomic writes leave no temporary files"

    with open(tmp_path / "val.bin", "ab") as f:
        f.write(b"\0\0")
    with pytest.raises(ValueError, match="val.bin.*100 tokens"):
        tokens.read_meta(tmp_path)
    (tmp_path / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match="meta.json"):
        tokens.read_meta(tmp_path)


def test_a_token_file_that_disagrees_with_meta_is_named_with_what_to_do(tmp_path):
    tokens.python_docs(tmp_path)
    path = tmp_path / "train.bin"
    count = path.stat().st_size // 2
    with open(path, "r+b") as f:
        f.truncate(2 * count - 6)
    with pytest.raises(ValueError) as error:
        tokens.read_meta(tmp_path)
    assert str(error.value) == (
        f"{path}: {2 * count - 6} bytes, but meta.json records {count} tokens ({2 * count} bytes); the file is damaged "
        f"or cut short. Delete it and rerun, or add `--forcerun {path}` to the snakemake command: that reruns the job "
        "that wrote it (the corpus job, rule prepare_corpus) and the jobs that read it."
    )


def test_the_corpus_job_checks_its_token_files_before_it_writes_meta(tmp_path):
    """The corpus job's last step: a .bin that does not hold what was counted stops it without a meta.json."""
    train = np.arange(100, dtype=np.uint16)
    train[:50].tofile(tmp_path / "train.bin")  # half of what the job counted reached the disk
    train[:10].tofile(tmp_path / "val.bin")
    meta = {"vocab_size": 256, "tokenizer": "bytes", "source": "test", "eot_token": None}
    with pytest.raises(ValueError) as error:
        tokens.finish_corpus(tmp_path, meta | {"train_tokens": 100, "val_tokens": 10})
    assert str(error.value).startswith(
        f"{tmp_path / 'train.bin'} holds 100 bytes, but the corpus job wrote 100 tokens (200 bytes) into it; "
        "meta.json was not written."
    )
    assert "free space and rerun" in str(error.value) and not (tmp_path / "meta.json").exists()
    (tmp_path / "val.bin").unlink()
    with pytest.raises(ValueError, match=r"val\.bin is missing, but the corpus job wrote 10 tokens"):
        tokens.finish_corpus(tmp_path, meta | {"train_tokens": 50, "val_tokens": 10})
    (tmp_path / "val.bin").write_bytes(b"\0" * 20)
    assert tokens.finish_corpus(tmp_path, meta | {"train_tokens": 50, "val_tokens": 10})["train_tokens"] == 50
    assert tokens.read_meta(tmp_path)["val_tokens"] == 10


def test_write_corpus_checks_dtype_and_vocabulary(tmp_path):
    meta = {"vocab_size": 256, "tokenizer": "bytes", "source": "test", "eot_token": None}
    with pytest.raises(ValueError, match="int64"):
        tokens.write_corpus(tmp_path, np.zeros(4, np.int64), np.zeros(4, np.uint16), meta)
    with pytest.raises(ValueError, match="val split.*300"):
        tokens.write_corpus(tmp_path, np.zeros(4, np.uint16), np.full(4, 300, np.uint16), meta)


# --- sampling ---------------------------------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path):
    """Every token id appears once (so a window's first id gives its offset); ids above 32767 test the int16 trick."""
    stream = ((np.arange(60000) * 7919) % 65536).astype(np.uint16)
    meta = {"vocab_size": 65536, "tokenizer": "test", "source": "test", "eot_token": None}
    tokens.write_corpus(tmp_path, stream, stream[:5], meta)
    return tmp_path, stream


def test_sample_gives_shifted_real_windows(corpus):
    folder, stream = corpus
    ts = tokens.TokenStream.open(folder, "train", "cpu")
    assert ts.resident and len(ts) == len(stream)
    x, y = ts.sample(32, 64, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (32, 64) and x.dtype == y.dtype == torch.int64
    assert x.is_contiguous() and y.is_contiguous()
    assert torch.equal(x[:, 1:], y[:, :-1])
    position = np.zeros(65536, np.int64)
    position[stream] = np.arange(len(stream))
    for row_x, row_y in zip(x.numpy(), y.numpy(), strict=True):
        o = position[row_x[0]]
        np.testing.assert_array_equal(row_x, stream[o : o + 64])
        np.testing.assert_array_equal(row_y, stream[o + 1 : o + 65])
    assert x.max() > 32767, "ids above the int16 range come back unsigned"


def test_resident_and_memmap_draw_the_same_batches(corpus):
    folder, _ = corpus
    resident = tokens.TokenStream.open(folder, "train", "cpu")
    mapped = tokens.TokenStream.open(folder, "train", "cpu", resident_max_bytes=0)
    assert resident.resident and not mapped.resident and isinstance(mapped.tokens, np.memmap)
    g = torch.Generator().manual_seed(7)
    state = g.get_state()
    a = [resident.sample(16, 128, g) for _ in range(3)]
    g.set_state(state)
    b = [mapped.sample(16, 128, g) for _ in range(3)]
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_resident_and_pinned_memmap_agree_with_cpu(corpus):
    folder, _ = corpus
    streams = [
        tokens.TokenStream.open(folder, "train", d, resident_max_bytes=m) for d in ("cpu", "cuda") for m in (0, 2**30)
    ]
    batches = []
    for ts in streams:
        g = torch.Generator().manual_seed(3)
        batches.append([tuple(t.cpu() for t in ts.sample(8, 256, g)) for _ in range(4)])
    for other in batches[1:]:
        for (xa, ya), (xb, yb) in zip(batches[0], other, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_offsets_are_drawn_uniformly_with_replacement(tmp_path):
    """A 20-token stream with context 4 has 16 windows (offsets 0..15, both ends included); 16000 draws put about
    1000 on each."""
    meta = {"vocab_size": 256, "tokenizer": "bytes", "source": "test", "eot_token": None}
    tokens.write_corpus(tmp_path, np.arange(20, dtype=np.uint16), np.arange(5, dtype=np.uint16), meta)
    ts = tokens.TokenStream.open(tmp_path, "train", "cpu", resident_max_bytes=0)
    g = torch.Generator().manual_seed(0)
    x, _ = ts.sample(16000, 4, g)
    counts = np.bincount(x[:, 0].numpy(), minlength=16)
    assert len(counts) == 16 and counts.min() > 850 and counts.max() < 1150


def test_fixed_batches_are_deterministic_and_independent_of_the_training_generator(corpus):
    folder, _ = corpus
    ts = tokens.TokenStream.open(folder, "train", "cpu")
    g = torch.Generator().manual_seed(0)
    first = ts.fixed_batches(10, 32, batch_size=4, seed=1)
    state = g.get_state()
    ts.sample(8, 32, g)
    second = ts.fixed_batches(10, 32, batch_size=4, seed=1)
    assert [len(x) for x, _ in first] == [4, 4, 2]
    for (xa, ya), (xb, yb) in zip(first, second, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(ts.fixed_batches(10, 32, batch_size=4, seed=2)[0][0], first[0][0])
    g.set_state(state)
    ts.fixed_batches(10, 32, batch_size=4, seed=1)
    assert torch.equal(g.get_state(), state), "evaluation batches do not consume the training generator"
    mapped = tokens.TokenStream.open(folder, "train", "cpu", resident_max_bytes=0).fixed_batches(10, 32, 4, 1)
    assert all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(first, mapped, strict=True))


def test_a_split_shorter_than_the_context_is_an_error(corpus):
    folder, stream = corpus
    ts = tokens.TokenStream.open(folder, "val", "cpu")
    x, y = ts.sample(3, 4, torch.Generator())
    assert torch.equal(x, torch.as_tensor(stream[:4], dtype=torch.int64).expand(3, 4))
    with pytest.raises(ValueError, match="val split has 5 tokens.*6"):
        ts.sample(3, 5, torch.Generator())
    with pytest.raises(ValueError, match="val split"):
        ts.fixed_batches(4, 8, 2, seed=0)


# --- openwebtext (nanoGPT's recipe on a real saved dataset) -----------------------------------------------------


@pytest.mark.parametrize("num_proc", [1, 2])
def test_openwebtext_tokenises_a_saved_dataset(tmp_path, num_proc):
    source = save_text_dataset(tmp_path / "owt", DOCS)
    before = sorted(p.name for p in source.iterdir())
    enc = byte_encoding()
    meta = tokens.openwebtext(tmp_path / "out", str(source), val_fraction=0.2, seed=0, num_proc=num_proc, encoder=enc)
    assert meta == tokens.read_meta(tmp_path / "out")
    assert meta["vocab_size"] == 257 and meta["eot_token"] == 256 and meta["tokenizer"] == "bytes-test"
    assert (meta["train_documents"], meta["val_documents"]) == (16, 4)
    decoded = {}
    for split in ("train", "val"):
        ids = read_bin(tmp_path / "out", split)
        assert len(ids) == meta[f"{split}_tokens"]
        decoded[split] = [enc.decode(doc[:-1].tolist()) for doc in split_documents(ids, 256)]
    assert len(decoded["val"]) == 4 and sorted(decoded["train"] + decoded["val"]) == sorted(DOCS)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(tokens.TOKEN_FILES)
    assert sorted(p.name for p in source.iterdir()) == before, "no cache files in the source dataset"

    again = tokens.openwebtext(tmp_path / "again", str(source), val_fraction=0.2, seed=0, num_proc=1, encoder=enc)
    assert (again["train_tokens"], again["val_tokens"]) == (meta["train_tokens"], meta["val_tokens"])
    for name in tokens.TOKEN_FILES[:2]:
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()


# --- dispatch ---------------------------------------------------------------------------------------------------


def test_prepare_dispatches_on_the_source(tmp_path, monkeypatch):
    import tiktoken

    meta = tokens.prepare({"source": "python_docs", "val_fraction": 0.2}, tmp_path / "docs")
    assert meta["source"] == "python_docs" and 0.1 < meta["val_tokens"] / meta["train_tokens"] < 0.4

    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: byte_encoding())  # no BPE download
    source = save_text_dataset(tmp_path / "owt", DOCS)
    spec = {"source": "openwebtext", "path": str(source), "val_fraction": 0.1, "seed": 5, "num_proc": 1}
    meta = tokens.prepare(spec, tmp_path / "owt_tokens")
    assert meta["source"] == str(source) and meta["val_documents"] == 2 and meta["seed"] == 5
    assert meta["train_tokens"] + meta["val_tokens"] == sum(len(d.encode()) + 1 for d in DOCS)

    with pytest.raises(ValueError, match="'bogus'"):
        tokens.prepare({"source": "bogus"}, tmp_path / "x")
