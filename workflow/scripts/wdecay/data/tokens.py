"""Token corpora for the language-model runs, in nanoGPT's layout, and the batch sampler that reads them.

Layout (one folder per corpus): ``train.bin`` and ``val.bin`` hold flat uint16 token ids (no header, readable with
``np.memmap``), and ``meta.json`` holds vocab_size, tokenizer, train_tokens, val_tokens, source and eot_token (the
end-of-text id that follows every document, or null). meta.json is written last, after both .bin files have
been checked against the token counts.

Sources:
- ``python_docs`` (offline, the tiny preset): the English documentation shipped with every Python
  (``pydoc_data.topics``, ~466 KB), one document per topic in sorted key order, each followed by a blank line,
  encoded as UTF-8 bytes (vocab_size 256). Validation is the tail that starts at the document boundary nearest
  ``1 - val_fraction`` of the bytes.
- ``openwebtext`` (the paper's GPT-2 runs): nanoGPT's recipe. A Hugging Face dataset (a hub name, or a local folder
  written by ``save_to_disk``), a seeded train/val split, GPT-2 BPE (tiktoken) with the end-of-text token appended
  to every document, streamed into the .bin files batch by batch.

Batches are sampled with replacement as in nanoGPT: uniform random start offsets, input x = tokens[o:o+T] and target
y = tokens[o+1:o+T+1]. A split that fits in ``resident_max_bytes`` lives on the device and is gathered by tensor ops;
a larger one stays memory-mapped and is gathered by numpy. Offsets are always drawn on the CPU from the caller's
generator, so the batches (and a resumed run) are the same whatever the residency.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..io.files import atomic_path, damaged, rebuild_hint
from ..io.provenance import code_version

TOKEN_FILES = ("train.bin", "val.bin", "meta.json")
SPLITS = ("train", "val")
DTYPE = np.uint16  # token ids < 65536 (GPT-2: 50257)
_WRITE_BATCH = 1 << 14  # documents per batch when streaming a tokenised dataset into a .bin


# --- writing ----------------------------------------------------------------------------------------------------


def _check_tokens(tokens: np.ndarray, vocab_size: int, what: str) -> None:
    if tokens.dtype != DTYPE:
        raise ValueError(f"{what}: tokens are {tokens.dtype}, expected uint16")
    if tokens.size and int(tokens.max()) >= vocab_size:
        raise ValueError(f"{what}: token id {int(tokens.max())} is out of the vocabulary (vocab_size {vocab_size})")


def _size_problems(folder: Path, meta: dict) -> list[tuple[Path, int, int]]:
    """(bin file, its bytes, the tokens meta records) of each split whose .bin does not hold 2 bytes per token."""
    problems = []
    for split in SPLITS:
        path, count = folder / f"{split}.bin", meta[f"{split}_tokens"]
        size = path.stat().st_size if path.is_file() else -1
        if size != 2 * count:
            problems.append((path, size, count))
    return problems


def finish_corpus(out_dir: str | os.PathLike, meta: dict) -> dict:
    """The corpus job's last step: check that each .bin holds the tokens counted while writing it, then write
    meta.json (with the code version); returns the meta written. A disagreement stops the job before meta.json
    exists, so that no training job ever reads the corpus."""
    out_dir = Path(out_dir)
    for path, size, count in _size_problems(out_dir, meta):
        found = "is missing" if size < 0 else f"holds {size} bytes"
        raise ValueError(
            f"{path} {found}, but the corpus job wrote {count} tokens ({2 * count} bytes) into it; meta.json was not "
            "written. Something cut the file short or changed it while the job ran (a full disk?): free space and "
            "rerun (Snakemake reruns the prepare_corpus job)."
        )
    meta = {**meta, "code_version": code_version()}
    with atomic_path(out_dir / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def write_corpus(out_dir: str | os.PathLike, train: np.ndarray, val: np.ndarray, meta: dict) -> dict:
    """Write both splits and meta.json (token counts filled in), each file atomically; returns the meta written."""
    out_dir = Path(out_dir)
    for split, tokens in (("train", train), ("val", val)):
        _check_tokens(tokens, meta["vocab_size"], f"{split} split")
        with atomic_path(out_dir / f"{split}.bin") as tmp:
            np.ascontiguousarray(tokens).tofile(tmp)
    return finish_corpus(out_dir, {**meta, "train_tokens": int(train.size), "val_tokens": int(val.size)})


# --- python_docs (offline) --------------------------------------------------------------------------------------


def python_docs_documents() -> list[str]:
    """The paragraphs of this Python's documentation topics (sorted by key; blocks between blank lines), each
    followed by a blank line."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key].strip("\n") for key in sorted(topics))
    return [p.strip("\n") + "\n\n" for p in text.split("\n\n") if p.strip("\n")]


def python_docs(out_dir: str | os.PathLike, val_fraction: float = 0.1) -> dict:
    """Byte-level corpus of Python's documentation; every k-th paragraph (k = 1 / ``val_fraction``, rounded) is
    validation, so that both splits come from the same text, as a random split of OpenWebText's documents does
    (a split by topic would give validation text of another kind). Deterministic for a given Python version."""
    docs = [np.frombuffer(doc.encode(), dtype=np.uint8) for doc in python_docs_documents()]
    k = max(2, round(1 / val_fraction))
    parts = [[d for i, d in enumerate(docs) if i % k != k - 1], docs[k - 1 :: k]]
    train, val = (np.concatenate(part).astype(DTYPE) for part in parts)
    meta = {"vocab_size": 256, "tokenizer": "bytes", "source": "python_docs", "eot_token": None}
    return write_corpus(out_dir, train, val, meta | {"documents": [len(parts[0]), len(parts[1])]})


# --- openwebtext (nanoGPT's recipe) -----------------------------------------------------------------------------


def _load_text_dataset(source: str, num_proc: int):
    import datasets

    if Path(source).is_dir():
        return datasets.load_from_disk(source)
    return datasets.load_dataset(source, split="train", num_proc=num_proc)


def _stream_to_bin(dset, path: Path, vocab_size: int) -> int:
    """Write the ``ids`` of a tokenised dataset into ``path`` through a memmap sized from the summed ``len``
    column, batch by batch in dataset order; returns the token count."""
    import pyarrow.compute as pc

    table = dset.with_format("arrow")
    total = int(pc.sum(table.select_columns(["len"])[:]["len"]).as_py() or 0)
    with atomic_path(path) as tmp:
        arr = np.memmap(tmp, dtype=DTYPE, mode="w+", shape=(max(total, 1),))  # a memmap cannot be empty
        idx = 0
        for batch in table.select_columns(["ids"]).iter(batch_size=_WRITE_BATCH):
            ids = pc.list_flatten(batch["ids"]).to_numpy(zero_copy_only=False).astype(DTYPE, copy=False)
            _check_tokens(ids, vocab_size, path.name)
            arr[idx : idx + len(ids)] = ids
            idx += len(ids)
        arr.flush()
        del arr
        if idx != total:
            raise RuntimeError(f"{path.name}: wrote {idx} tokens, but the len column sums to {total}")
        os.truncate(tmp, 2 * total)
    return total


def openwebtext(
    out_dir: str | os.PathLike,
    source: str = "Skylion007/openwebtext",
    val_fraction: float = 0.0005,
    seed: int = 2357,
    num_proc: int = 8,
    encoding: str = "gpt2",
    encoder=None,
) -> dict:
    """Tokenise a text dataset (a ``text`` column) as nanoGPT does for OpenWebText. ``encoder`` is any object with
    ``encode_ordinary``, ``eot_token`` and ``n_vocab`` (default: tiktoken's ``encoding``)."""
    import datasets

    if encoder is None:
        import tiktoken

        encoder = tiktoken.get_encoding(encoding)
    if encoder.n_vocab > np.iinfo(DTYPE).max + 1:
        raise ValueError(f"vocabulary of {encoder.n_vocab} tokens does not fit uint16")
    out_dir = Path(out_dir)
    scratch = out_dir / ".tokenize-cache"  # datasets' cache files, kept out of the source folder, removed at the end
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    split = _load_text_dataset(source, num_proc).train_test_split(
        test_size=val_fraction,
        seed=seed,
        shuffle=True,
        train_indices_cache_file_name=str(scratch / "train-indices.arrow"),
        test_indices_cache_file_name=str(scratch / "val-indices.arrow"),
    )
    eot = encoder.eot_token

    def tokenize(batch):
        ids = [encoder.encode_ordinary(text) + [eot] for text in batch["text"]]
        return {"ids": ids, "len": [len(x) for x in ids]}

    features = datasets.Features({"ids": datasets.List(datasets.Value("uint16")), "len": datasets.Value("int64")})
    meta = {"vocab_size": encoder.n_vocab, "tokenizer": getattr(encoder, "name", encoding), "source": source}
    meta |= {"eot_token": eot, "seed": seed, "val_fraction": val_fraction}
    for name, dset in (("train", split["train"]), ("val", split["test"])):
        tokenized = dset.map(
            tokenize,
            batched=True,
            remove_columns=dset.column_names,
            features=features,
            num_proc=num_proc if num_proc > 1 else None,
            cache_file_name=str(scratch / f"{name}.arrow"),
            desc=f"tokenizing {name}",
        )
        meta[f"{name}_tokens"] = _stream_to_bin(tokenized, out_dir / f"{name}.bin", encoder.n_vocab)
        meta[f"{name}_documents"] = len(tokenized)
    meta = finish_corpus(out_dir, meta)
    shutil.rmtree(scratch, ignore_errors=True)
    return meta


def prepare(spec: dict, out_dir: str | os.PathLike) -> dict:
    """Build the corpus of a config spec (``source`` python_docs or openwebtext; ``path`` is the dataset to read,
    the other keys are keyword arguments of the builder)."""
    kwargs = {k: v for k, v in spec.items() if k != "source"}
    if "path" in kwargs:
        kwargs["source"] = kwargs.pop("path")
    builders = {"python_docs": python_docs, "openwebtext": openwebtext}
    if spec["source"] not in builders:
        raise ValueError(f"unknown corpus source {spec['source']!r} (expected one of {sorted(builders)})")
    return builders[spec["source"]](out_dir, **kwargs)


# --- reading ----------------------------------------------------------------------------------------------------


def read_meta(folder: str | os.PathLike) -> dict:
    """meta.json of a corpus, after checking that each .bin holds the number of tokens meta.json records."""
    folder = Path(folder)
    path = folder / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"token corpus: missing {path}")
    meta = json.loads(path.read_text())
    for bin_path, size, count in _size_problems(folder, meta):
        if size < 0:
            raise FileNotFoundError(f"token corpus: missing {bin_path}")
        problem = f"{size} bytes, but meta.json records {count} tokens ({2 * count} bytes)"
        raise damaged(bin_path, problem, rebuild_hint(bin_path, "the corpus job, rule prepare_corpus"))
    return meta


class TokenStream:
    """The tokens of one split, from which (x, y) int64 batches of shape (batch, context) are sampled on ``device``.

    Tokens are held as int16 (the uint16 bits) and widened after the gather: half the memory and transfer of int32."""

    def __init__(self, tokens: np.ndarray, device, split: str = "tokens", resident: bool = True):
        self.split, self.device, self.n = split, torch.device(device), len(tokens)
        tokens = tokens.view(np.int16)
        self.resident, self.meta = resident, None
        if resident:
            self.tokens = torch.from_numpy(np.array(tokens)).to(self.device)
        else:
            self.tokens = tokens
        self._pinned, self._copied = None, None  # reused pinned host buffer, and the event of its last copy

    @classmethod
    def open(cls, folder, split: str, device, resident_max_bytes: int = 2**30) -> "TokenStream":
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} (expected one of {SPLITS})")
        meta = read_meta(folder)
        path = Path(folder) / f"{split}.bin"
        tokens = np.memmap(path, dtype=DTYPE, mode="r") if meta[f"{split}_tokens"] else np.zeros(0, DTYPE)
        stream = cls(tokens, device, split, resident=tokens.nbytes <= resident_max_bytes)
        stream.meta = meta
        return stream

    def __len__(self) -> int:
        return self.n

    def _offsets(self, n_sequences: int, context: int, generator: torch.Generator) -> torch.Tensor:
        if self.n < context + 1:
            raise ValueError(f"{self.split} split has {self.n} tokens, fewer than context + 1 = {context + 1}")
        return torch.randint(self.n - context, (n_sequences,), generator=generator)

    def _gather(self, offsets: torch.Tensor, context: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.resident:
            # rows of the sliding-window view; on CPU ~10x faster than indexing with offsets[:, None] + arange
            windows = self.tokens.unfold(0, context + 1, 1).index_select(0, offsets.to(self.device))
        else:
            windows = self._host_windows(offsets.numpy(), context + 1)
        x, y = windows[:, :-1].long(), windows[:, 1:].long()
        return x.bitwise_and_(0xFFFF), y.bitwise_and_(0xFFFF)  # back to the uint16 ids

    def _host_windows(self, offsets: np.ndarray, width: int) -> torch.Tensor:
        """Gather rows of the memmap's sliding windows; to CUDA through a reused pinned buffer, asynchronously."""
        windows = np.lib.stride_tricks.sliding_window_view(self.tokens, width)
        if self.device.type != "cuda":
            return torch.from_numpy(windows[offsets])
        shape = (len(offsets), width)
        if self._pinned is None or tuple(self._pinned.shape) != shape:
            self._pinned, self._copied = torch.empty(shape, dtype=torch.int16, pin_memory=True), None
        if self._copied is not None:
            self._copied.synchronize()  # the previous batch has left the buffer
        np.take(windows, offsets, axis=0, out=self._pinned.numpy())
        batch = self._pinned.to(self.device, non_blocking=True)
        self._copied = torch.cuda.Event()
        self._copied.record()
        return batch

    def sample(self, batch_size: int, context: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch with random offsets drawn from ``generator`` (a CPU generator)."""
        return self._gather(self._offsets(batch_size, context, generator), context)

    def fixed_batches(self, n_sequences: int, context: int, batch_size: int, seed: int) -> list:
        """Evaluation batches: ``n_sequences`` windows drawn once from ``seed``, the same at every call."""
        offsets = self._offsets(n_sequences, context, torch.Generator().manual_seed(seed))
        return [self._gather(chunk, context) for chunk in offsets.split(batch_size)]
