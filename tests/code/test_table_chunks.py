"""Chunked reading and atomic chunked writing of tables."""

from __future__ import annotations

import pandas as pd
import pytest

from features.problems import DataError
from features.tables import ChunkWriter, count_rows, iter_table, read_table


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunks_cover_the_table_with_global_row_numbers(tmp_path, suffix):
    frame = pd.DataFrame(
        {"item_id": [f"u{i}" for i in range(10)], "x": [str(i) for i in range(10)]}
    )
    path = tmp_path / f"t{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    chunks = list(iter_table(path, chunksize=4))
    assert [len(c) for c in chunks] == [4, 4, 2]
    assert [list(c.index) for c in chunks][2] == [8, 9]
    assert pd.concat(chunks)["item_id"].tolist() == frame["item_id"].tolist()
    assert count_rows(path) == 10


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_writer_commits_all_chunks(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with ChunkWriter(path) as writer:
        writer.write(pd.DataFrame({"a": ["x", None], "b": [1.0, 2.0]}))
        writer.write(pd.DataFrame({"a": ["y", "z"], "b": [3.0, float("nan")]}))
        assert not path.exists()
        writer.commit()
    back = read_table(path)
    assert len(back) == 4
    assert back["a"].tolist()[2:] == ["y", "z"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_parquet_writer_types_an_all_empty_first_chunk_as_text(tmp_path):
    path = tmp_path / "out.parquet"
    with ChunkWriter(path) as writer:
        writer.write(pd.DataFrame({"note": [None, None]}, dtype=object))
        writer.write(pd.DataFrame({"note": ["later", None]}, dtype=object))
        writer.commit()
    assert read_table(path)["note"].tolist()[2] == "later"


def test_writer_leaves_the_old_file_alone_on_failure(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n1\n")
    with pytest.raises(RuntimeError), ChunkWriter(path) as writer:
        writer.write(pd.DataFrame({"a": [1]}))
        raise RuntimeError("interrupted")
    assert path.read_text() == "old\n1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_bad_chunked_input_is_named(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        list(iter_table(tmp_path / "missing.csv"))
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"nope")
    with pytest.raises(DataError, match="cannot be parsed"):
        list(iter_table(bad))
