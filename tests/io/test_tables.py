import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from wdecay.io import tables
from wdecay.io.files import atomic_path


def claim_row(**kw):
    row = {
        "claim": "C01",
        "check": "x",
        "scope": "s",
        "status": "reproduced",
        "claim_status": "inconclusive",
        "effect": 3.1,
        "low": 1.2,
        "high": 5.0,
        "threshold": 2.0,
        "null": 0.0,
        "kind": ">=",
        "unit": "pp",
        "n_seeds": 2,
        "seeds": [0, 1],
        "interval": "t over seeds",
        "effect_text": "+3.1 pp [1.2, 5] (t over 2 seeds) vs >= 2 pp",
        "measured": "1",
        "expected": "2",
        "preset": "tiny",
        "protocol": "as_run",
        "code_version": "v",
    }
    return row | kw


def test_rows_must_match_the_schema_exactly():
    tables.to_table([claim_row()], tables.CLAIMS)
    with pytest.raises(tables.SchemaError, match=r"missing \['scope'\]"):
        tables.to_table([{k: v for k, v in claim_row().items() if k != "scope"}], tables.CLAIMS)
    with pytest.raises(tables.SchemaError, match=r"unexpected \['extra'\]"):
        tables.to_table([claim_row(extra=1)], tables.CLAIMS)


def test_write_read_round_trip_and_schema_check_on_read(tmp_path):
    path = tmp_path / "claims.parquet"
    tables.write(tables.to_table([claim_row(), claim_row(claim="C02")], tables.CLAIMS), tables.CLAIMS, path)
    table = tables.read(path, tables.CLAIMS)
    assert table.column("claim").to_pylist() == ["C01", "C02"]
    assert pq.read_schema(path).field("status").metadata[b"description"].startswith(b"reproduced")
    pq.write_table(pa.table({"claim": ["C01"]}), tmp_path / "bad.parquet")
    with pytest.raises(tables.SchemaError, match="bad.parquet"):
        tables.read(tmp_path / "bad.parquet", tables.CLAIMS)
    assert len(tables.concat([path, path], tables.CLAIMS)) == 4


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_tables_open_as_one_dataset_with_pandas(tmp_path):
    for claim in ("C01", "C02"):
        tables.write(
            tables.to_table([claim_row(claim=claim)], tables.CLAIMS),
            tables.CLAIMS,
            tmp_path / "folder" / f"{claim}.parquet",
        )
    frame = pd.read_parquet(tmp_path / "folder")
    assert sorted(frame.claim) == ["C01", "C02"]
