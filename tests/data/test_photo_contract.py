"""The photo-dataset contract: manifest or A/B/C folders, every bad file named."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from features.images import ImageError, open_image
from features.photos import check_photo_dataset, load_photo_dataset
from features.problems import DataError
from tests.conftest import write_image
from training.cli import app

HEADER = "image,item_id,grade,counterfeit,category,brand,split"


def make_dataset(root: Path, rows: list[str] | None = None) -> Path:
    """Three items, four photos in PNG, JPEG and WebP, one grayscale."""
    write_image(root / "img/a1.png")
    write_image(root / "img/a2.jpg", seed=1)
    write_image(root / "img/b1.webp", seed=2)
    write_image(root / "img/c1.jpg", mode="L", seed=3)
    rows = rows or [
        "img/a1.png,i1,A,0,phone,Acme,train",
        "img/a2.jpg,i1,A,0,phone,Acme,train",
        "img/b1.webp,i2,B,1,phone,Acme,test",
        "img/c1.jpg,i3,C,0,watch,Tick,val",
    ]
    (root / "manifest.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    return root


def problems_of(root: Path) -> list[str]:
    _, problems = check_photo_dataset(root)
    return [str(p) for p in problems]


def test_clean_manifest_dataset(tmp_path):
    frame = load_photo_dataset(make_dataset(tmp_path), decode=True)
    assert len(frame) == 4
    assert frame.groupby("item_id")["grade"].first().to_dict() == {"i1": "A", "i2": "B", "i3": "C"}
    assert frame["counterfeit"].tolist() == [0.0, 0.0, 1.0, 0.0]


def test_folder_layout(tmp_path):
    write_image(tmp_path / "A/x.png")
    write_image(tmp_path / "C/sub/y.jpg")
    frame = load_photo_dataset(tmp_path, decode=True)
    assert sorted(zip(frame["image"], frame["grade"], strict=True)) == [
        ("A/x.png", "A"),
        ("C/sub/y.jpg", "C"),
    ]


def test_folder_layout_reports_non_image_files(tmp_path):
    write_image(tmp_path / "A/x.png")
    (tmp_path / "B").mkdir()
    (tmp_path / "B/notes.txt").write_text("hello")
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'B/notes.txt'}: not an image file (expected .jpg, .png or .webp)"
    ]


def test_missing_image_file(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / "img/b1.webp").unlink()
    assert problems_of(tmp_path) == [
        f"{tmp_path / 'manifest.csv'}, row 3, column 'image': image file not found: img/b1.webp"
    ]


def test_non_image_file_with_image_name(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / "img/a2.jpg").write_text("this is not a jpeg")
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path / 'img/a2.jpg'}, row 2, column 'image': not an image")


def test_truncated_jpeg(tmp_path):
    make_dataset(tmp_path)
    path = write_image(tmp_path / "img/a2.jpg", size=(200, 150), seed=9)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    (problem,) = problems_of(tmp_path)
    assert "img/a2.jpg, row 2, column 'image': truncated image" in problem


def test_unreadable_file(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / "img/c1.jpg").write_bytes(b"")
    (problem,) = problems_of(tmp_path)
    assert "img/c1.jpg, row 4, column 'image'" in problem


def test_item_photos_disagree_on_grade(tmp_path):
    make_dataset(
        tmp_path,
        [
            "img/a1.png,i1,A,0,phone,Acme,train",
            "img/a2.jpg,i1,B,0,phone,Acme,train",
            "img/b1.webp,i2,B,1,phone,Acme,test",
            "img/c1.jpg,i3,C,0,watch,Tick,val",
        ],
    )
    (problem,) = problems_of(tmp_path)
    assert "column 'grade': item 'i1' has photos that disagree on grade: A, B" in problem


def test_item_split_across_splits_is_leakage(tmp_path):
    make_dataset(
        tmp_path,
        [
            "img/a1.png,i1,A,0,phone,Acme,train",
            "img/a2.jpg,i1,A,0,phone,Acme,test",
        ],
    )
    (problem,) = problems_of(tmp_path)
    assert "disagree on split" in problem


def test_bad_manifest_values(tmp_path):
    make_dataset(
        tmp_path,
        [
            "img/a1.png,i1,E,0,phone,Acme,train",
            "img/a2.jpg,i2,A,yes,phone,Acme,train",
            "img/b1.webp,i3,B,1,phone,Acme,holdout",
        ],
    )
    assert sorted(problems_of(tmp_path)) == sorted(
        [
            f"{tmp_path / 'manifest.csv'}, row 1, column 'grade': 'E' is not one of A|B|C",
            f"{tmp_path / 'manifest.csv'}, row 2, column 'counterfeit': not a number: 'yes'",
            f"{tmp_path / 'manifest.csv'}, row 3, column 'split': 'holdout' is not one of "
            "train|val|test",
        ]
    )


def test_manifest_missing_required_column(tmp_path):
    (tmp_path / "manifest.csv").write_text("image,grade\nx.png,A\n")
    frame, problems = check_photo_dataset(tmp_path)
    assert frame is None
    assert [str(p) for p in problems] == [
        f"{tmp_path / 'manifest.csv'}, column 'item_id': required column is missing"
    ]


def test_load_raises_with_all_problems(tmp_path):
    make_dataset(tmp_path)
    (tmp_path / "img/a1.png").unlink()
    (tmp_path / "img/a2.jpg").write_text("nope")
    with pytest.raises(DataError) as info:
        load_photo_dataset(tmp_path, decode=True)
    assert len(info.value.problems) == 2


def test_exif_orientation_is_honoured(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = write_image(tmp_path / "rot.jpg", size=(40, 20), exif=exif)
    assert open_image(path).size == (20, 40)


def test_grayscale_becomes_rgb(tmp_path):
    assert open_image(write_image(tmp_path / "g.png", mode="L")).mode == "RGB"


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (9000, 5000)).save(path)  # 45 Mpx of nothing: a few KB on disk
    assert path.stat().st_size < 100_000
    with pytest.raises(ImageError, match="decompression bomb"):
        open_image(path)


def test_unsupported_format_is_refused(tmp_path):
    path = write_image(tmp_path / "x.gif", mode="L", fmt="GIF")
    with pytest.raises(ImageError, match="unsupported image format GIF"):
        open_image(path.read_bytes())


def test_cli_photo_dataset(tmp_path):
    make_dataset(tmp_path)
    result = CliRunner().invoke(app, ["data", "validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "4 photos of 3 items" in result.output
    (tmp_path / "img/b1.webp").write_bytes(b"RIFF....WEBPVP8 broken")
    result = CliRunner().invoke(app, ["data", "validate", str(tmp_path / "manifest.csv")])
    assert result.exit_code == 2
    assert "img/b1.webp, row 3, column 'image'" in result.output


def test_cli_folder_with_photos_and_outcomes(tmp_path):
    make_dataset(tmp_path / "photos")
    (tmp_path / "outcomes.csv").write_text("item_id,category,grade,sold_price\ni1,phone,Q,5\n")
    result = CliRunner().invoke(app, ["data", "validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "4 photos of 3 items" in result.output
    assert "outcomes.csv, row 1, column 'grade'" in result.output


def test_cli_nonexistent_path(tmp_path):
    result = CliRunner().invoke(app, ["data", "validate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
