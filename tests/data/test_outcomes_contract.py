"""The outcomes-table contract: every failure is reported with file, row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.problems import DataError
from features.tables import check_outcomes, load_items, load_outcomes, read_table, write_table
from training.cli import app

HEADER = "item_id,category,brand,grade,sold_price,days_listed,sold,acquisition_cost,new_price"
GOOD = [
    "u1,phone,Acme,A,120,4,1,40,300",
    "u2,phone,Acme,B,,30,0,35,300",
    "u3,sneaker,,C,15.5,12,1,0,",
]


def write_csv(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "outcomes.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def only_problem(path: Path):
    _, problems = check_outcomes(path)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_clean_table_is_typed(tmp_path):
    frame = load_outcomes(write_csv(tmp_path, GOOD))
    assert list(frame["item_id"]) == ["u1", "u2", "u3"]
    assert frame["sold_price"].dtype == np.float64
    assert np.isnan(frame["sold_price"].iloc[1])
    assert frame["sold"].tolist() == [1.0, 0.0, 1.0]
    assert pd.isna(frame["brand"].iloc[2])


def test_missing_required_column(tmp_path):
    path = write_csv(tmp_path, ["u1,phone,120"], header="item_id,category,sold_price")
    problem = only_problem(path)
    assert (problem.column, problem.row) == ("grade", None)
    assert "required column is missing" in str(problem)


def test_bad_grade_letter(tmp_path):
    problem = only_problem(write_csv(tmp_path, [*GOOD, "u4,phone,Acme,D,50,3,1,10,300"]))
    assert (problem.row, problem.column) == (4, "grade")
    assert "'D' is not one of A|B|C" in problem.message


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sold_price", "-5", "negative value"),
        ("sold_price", "cheap", "not a number: 'cheap'"),
        ("acquisition_cost", "-1", "negative value"),
        ("new_price", "n/a", "not a number"),
    ],
)
def test_negative_or_non_numeric_money(tmp_path, field, value, message):
    row = dict(zip(HEADER.split(","), GOOD[0].split(","), strict=True))
    row[field] = value
    problem = only_problem(write_csv(tmp_path, [GOOD[1], ",".join(row.values())]))
    assert (problem.row, problem.column) == (2, field)
    assert message in problem.message


def test_duplicate_item_ids(tmp_path):
    problem = only_problem(write_csv(tmp_path, [*GOOD, GOOD[0]]))
    assert (problem.row, problem.column) == (4, "item_id")
    assert "first on row 1" in problem.message


@pytest.mark.parametrize(
    ("header", "row", "column", "message"),
    [
        ("item_id,category,grade,sold", "u1,phone,A,2", "sold", "must be 0 or 1"),
        ("item_id,category,grade,opened", "u1,phone,A,maybe", "opened", "not a boolean"),
        ("item_id,category,grade,listed_date", "u1,phone,A,26/11/2026", "listed_date", "ISO"),
        (
            "item_id,category,grade,conversion_rate_30d",
            "u1,phone,A,1.5",
            "conversion_rate_30d",
            "above 1",
        ),
        ("item_id,category,grade,source", "u1,phone,A,gift", "source", "not one of"),
        ("item_id,category,grade,benchmark_ebay", "u1,phone,A,-3", "benchmark_ebay", "negative"),
        ("item_id,category,grade,age_months", "u1,phone,A,old", "age_months", "not a number"),
        ("item_id,category,grade", "u1,,A", "category", "missing value"),
    ],
)
def test_wrong_types(tmp_path, header, row, column, message):
    problem = only_problem(write_csv(tmp_path, [row], header=header))
    assert (problem.row, problem.column) == (1, column)
    assert message in problem.message


def test_sold_rows_need_a_price_and_unsold_rows_none(tmp_path):
    path = write_csv(tmp_path, ["u1,phone,Acme,A,,4,1,40,300", "u2,phone,Acme,B,90,30,0,35,300"])
    _, problems = check_outcomes(path)
    assert [(p.row, p.column) for p in problems] == [(1, "sold_price"), (2, "sold_price")]


def test_every_problem_is_reported_not_just_the_first(tmp_path):
    path = write_csv(tmp_path, ["u1,phone,Acme,Z,-1,4,1,40,300", "u1,phone,Acme,A,x,4,1,40,300"])
    _, problems = check_outcomes(path)
    assert {(p.row, p.column) for p in problems} == {
        (1, "grade"),
        (1, "sold_price"),
        (2, "sold_price"),
        (2, "item_id"),
    }


def test_parquet_reads_like_csv(tmp_path):
    frame = read_table(write_csv(tmp_path, GOOD))
    parquet = tmp_path / "outcomes.parquet"
    write_table(frame, parquet)
    pd.testing.assert_frame_equal(load_outcomes(parquet), load_outcomes(tmp_path / "outcomes.csv"))


def test_parquet_with_typed_negative_cost(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame(
        {
            "item_id": ["a", "b"],
            "category": ["x", "y"],
            "grade": ["A", "B"],
            "refurb_cost": [1.0, -2.0],
        }
    ).to_parquet(path)
    problem = only_problem(path)
    assert (problem.row, problem.column) == (2, "refurb_cost")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.xlsx", b"x", "unknown table type"),
        ("t.csv", b"", "empty"),
        ("t.csv", b"item_id,category,grade\n\xff\xfe,phone,A\n", "not UTF-8"),
        ("t.parquet", b"not parquet at all", "cannot be parsed"),
    ],
)
def test_unreadable_tables(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    problem = only_problem(path)
    assert message in problem.message
    assert problem.file == path


def test_items_table_ignores_outcome_columns_but_checks_the_rest(tmp_path):
    path = write_csv(tmp_path, ["u1,phone,A,-4"], header="item_id,category,grade,list_price")
    with pytest.raises(DataError) as info:
        load_items(path)
    assert "row 1, column 'list_price'" in str(info.value)


def test_write_table_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "out.parquet"
    bad = pd.DataFrame({"x": [object()]})  # pyarrow cannot store a bare object
    with pytest.raises(Exception):  # noqa: B017 - whatever pyarrow raises
        write_table(bad, target)
    assert list(tmp_path.iterdir()) == []


def test_cli_reports_file_row_and_column_and_exits_2(tmp_path):
    path = write_csv(tmp_path, [*GOOD, "u4,phone,Acme,D,-50,3,1,10,300"])
    result = CliRunner().invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}, row 4, column 'grade'" in result.output
    assert f"{path}, row 4, column 'sold_price': negative value" in result.output


def test_cli_clean_table_exits_0(tmp_path):
    result = CliRunner().invoke(app, ["data", "validate", str(write_csv(tmp_path, GOOD))])
    assert result.exit_code == 0, result.output
    assert "3 rows" in result.output
    assert "price model" in result.output and "time-to-sell" in result.output


def test_missing_text_values_stay_missing(tmp_path):
    path = write_csv(
        tmp_path,
        ["u1,phone,A,", "u2,phone,B,defect"],
        header="item_id,category,grade,return_reason",
    )
    frame = load_outcomes(path)
    assert pd.isna(frame["return_reason"].iloc[0])
    assert frame["return_reason"].iloc[1] == "defect"
