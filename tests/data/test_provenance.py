"""The sales ledger: CSV, Parquet and a database table; every verification outcome."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from features.problems import DataError
from features.provenance import PROVENANCE_REASONS, SalesLedger, load_ledger

LEDGER = pd.DataFrame(
    {
        "order_id": ["O-1", "O-1", "O-2", None],
        "serial_number": ["sn-100", "SN-101", "SN-200", "SN-300"],
        "brand": ["Acme", "Acme", "Globex", None],
        "purchase_date": ["2025-01-05", "2025-01-05", "2025-03-10", "2024-12-24"],
    }
)


def check_outcomes(ledger: SalesLedger) -> None:
    assert len(ledger) == 4
    v = ledger.verify
    assert v("O-1", "SN-100") == (True, "provenance_verified")
    assert v(" O-1 ", " sn-101") == (True, "provenance_verified")  # trimmed, serial case-free
    assert v("O-2", None) == (True, "provenance_verified")
    assert v(None, "SN-300") == (True, "provenance_verified")
    assert v(None, None) == (False, "provenance_missing")
    assert v("", "  ") == (False, "provenance_missing")
    assert v("O-9", "SN-100") == (False, "order_not_found")
    assert v("O-1", "SN-999") == (False, "serial_not_found")
    assert v("O-2", "SN-100") == (False, "serial_not_on_order")
    assert v("O-1", "SN-100", open_serials={"sn-100 "}) == (False, "serial_on_open_case")
    assert v("O-1", "SN-100", open_serials={"SN-101"}) == (True, "provenance_verified")
    assert v("O-1", "SN-100", brand="ACME") == (True, "provenance_verified")
    assert v("O-1", "SN-100", brand="Initech") == (False, "brand_mismatch")
    assert v(None, "SN-300", brand="Initech") == (True, "provenance_verified")  # none recorded


def test_csv_ledger(tmp_path):
    path = tmp_path / "ledger.csv"
    LEDGER.to_csv(path, index=False)
    check_outcomes(load_ledger(path))


def test_parquet_ledger(tmp_path):
    path = tmp_path / "ledger.parquet"
    LEDGER.to_parquet(path, index=False)
    check_outcomes(SalesLedger.from_file(path))


def test_sqlite_table_through_sqlalchemy(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    frame = LEDGER.assign(purchase_date=pd.to_datetime(LEDGER["purchase_date"]).dt.date)
    frame.to_sql("sales", engine, index=False)
    check_outcomes(load_ledger(engine, table="sales"))
    check_outcomes(load_ledger(url, table="sales"))
    engine.dispose()


def test_integer_order_ids_from_a_database(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    pd.DataFrame({"order_id": [1001], "serial_number": ["X1"]}).to_sql("s", engine, index=False)
    assert SalesLedger.from_sql(engine, "s").verify("1001", "x1") == (True, "provenance_verified")
    engine.dispose()


def test_verify_many_matches_verify():
    ledger = SalesLedger(LEDGER)
    verified, codes = ledger.verify_many(
        ["O-1", "O-9", None], ["SN-100", "SN-100", "SN-101"], open_serials=["SN-101"]
    )
    assert verified.tolist() == [True, False, False]
    assert codes.tolist() == ["provenance_verified", "order_not_found", "serial_on_open_case"]
    assert set(codes) <= set(PROVENANCE_REASONS)


def test_missing_table_and_columns_are_reported(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    with pytest.raises(DataError, match=r"table .sales.*table not found"):
        load_ledger(engine, table="sales")
    pd.DataFrame({"order_id": ["O-1"]}).to_sql("sales", engine, index=False)
    with pytest.raises(DataError, match="column 'serial_number': required column is missing"):
        load_ledger(engine, table="sales")
    engine.dispose()
    with pytest.raises(DataError, match="needs a table name"):
        load_ledger("sqlite:///x.db")


def test_bad_rows_name_file_row_and_column(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text(
        "order_id,serial_number,purchase_date\nO-1,S1,2025-01-01\n,,2025-01-02\nO-3,S3,soon\n"
    )
    with pytest.raises(DataError) as info:
        load_ledger(path)
    text = str(info.value)
    assert f"{path}, row 2: neither order_id nor serial_number" in text
    assert f"{path}, row 3, column 'purchase_date'" in text
    with pytest.raises(DataError, match="file not found"):
        load_ledger(tmp_path / "absent.csv")
