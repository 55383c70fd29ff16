"""The fixed holdout of each model kind: versioned, hashed, never trained on.

`regrade holdout create KIND --from DATA` picks a share of DATA's items, stratified (pricing by
grade and category, the grader by grade and counterfeit flag) and chosen by a hash of item_id so
the same data always gives the same holdout, and writes it under
`REGRADE_HOME/holdouts/<kind>/v<N>/`: the pricing holdout as `holdout.csv` (outcomes rows), the
grader's as a photo dataset `photos/` (manifest.csv with split=test, the photos copied), and
`manifest.json` (source, share, items, strata, the data's SHA-256). `extend` adds a share of the
new items of another DATA as version N+1; nothing ever rewrites a version. Every retrain reads
the newest version, checks its hash, removes its items from the training data and scores both
models on it.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.photos import MANIFEST, is_photo_dataset, load_photo_dataset
from features.problems import DataError, Problem
from features.tables import write_table
from models.kinds import PRICING, ModelKind
from serving.settings import Settings
from training.fingerprints import file_fingerprint, photo_dataset_fingerprint
from training.loop.strata import STRATA, champion_trained_ids, pick_items, strata_counts
from training.pricing.data import load_run_data

MANIFEST_FILE = "manifest.json"
TABLE = "holdout.csv"
PHOTOS = "photos"
DEFAULT_SHARE = 0.15


@dataclass(frozen=True)
class Holdout:
    """One version of a kind's holdout.

    Attributes:
        kind: Which model kind.
        version: Its number (1, 2, ...).
        folder: `holdouts/<kind>/v<version>`.
        item_ids: The held-out items.
        sha256: The fingerprint of its data, as written at creation.
        manifest: The whole manifest.json.
    """

    kind: ModelKind
    version: int
    folder: Path
    item_ids: frozenset[str]
    sha256: str
    manifest: dict

    @property
    def data(self) -> Path:
        """The holdout's data: `holdout.csv` (pricing) or the `photos/` dataset (grader)."""
        return self.folder / (TABLE if self.kind is PRICING else PHOTOS)

    @property
    def label(self) -> str:
        """`<kind>/v<version>`, as recorded in comparisons and registry tags."""
        return f"{self.kind.name}/v{self.version}"

    def fingerprint(self) -> str:
        """The data's SHA-256 now (compare with `sha256`)."""
        if self.kind is PRICING:
            return file_fingerprint(self.data)
        return photo_dataset_fingerprint(self.data)

    def frame(self) -> pd.DataFrame:
        """The holdout's rows: outcomes (pricing) or photos (grader, image relative to data)."""
        if self.kind is PRICING:
            return load_run_data(self.data).frame
        return load_photo_dataset(self.data)


def holdouts_dir(settings: Settings, kind: ModelKind) -> Path:
    """Where the versions of a kind's holdout live."""
    return settings.home / "holdouts" / kind.name


def _versions(settings: Settings, kind: ModelKind) -> list[int]:
    root = holdouts_dir(settings, kind)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if (
            path.name.startswith("v")
            and path.name[1:].isdigit()
            and (path / MANIFEST_FILE).is_file()
        ):
            found.append(int(path.name[1:]))
    return sorted(found)


def latest_holdout(settings: Settings, kind: ModelKind, *, verify: bool = True) -> Holdout | None:
    """The newest version of a kind's holdout, or None when there is none.

    Raises:
        DataError: its data no longer matches the hash in its manifest.
    """
    versions = _versions(settings, kind)
    return load_holdout(settings, kind, versions[-1], verify=verify) if versions else None


def load_holdout(
    settings: Settings, kind: ModelKind, version: int, *, verify: bool = True
) -> Holdout:
    """One version of a kind's holdout, its hash checked.

    Raises:
        DataError: no such version, or its data was changed since it was written.
    """
    folder = holdouts_dir(settings, kind) / f"v{version}"
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise DataError([Problem(path, f"no {kind.name} holdout version {version}")])
    manifest = json.loads(path.read_text(encoding="utf-8"))
    holdout = Holdout(
        kind, version, folder, frozenset(manifest["item_ids"]), manifest["sha256"], manifest
    )
    if verify and holdout.fingerprint() != holdout.sha256:
        raise DataError(
            [Problem(holdout.data, f"holdout {holdout.label} changed since it was written "
                     "(its SHA-256 no longer matches manifest.json); make a new version "
                     "with `regrade holdout extend`")]
        )  # fmt: skip
    return holdout


def _source_items(kind: ModelKind, data: Path) -> tuple[pd.DataFrame, Path, str]:
    """The source's rows (one per item for pricing, per photo for the grader), its path and
    fingerprint."""
    if kind is PRICING:
        loaded = load_run_data(data)
        return loaded.frame, loaded.table, file_fingerprint(loaded.table)
    root = (
        data / "photos"
        if not is_photo_dataset(data) and is_photo_dataset(data / "photos")
        else data
    )
    return load_photo_dataset(root), root, photo_dataset_fingerprint(root)


def _item_table(kind: ModelKind, rows: pd.DataFrame) -> pd.DataFrame:
    if kind is PRICING:
        return rows
    return rows.drop_duplicates("item_id")


def _write_pricing(folder: Path, rows: pd.DataFrame) -> None:
    table = rows.drop(columns=["split"], errors="ignore").assign(split="test")
    write_table(table, folder / TABLE)


def _copy_photos(rows: pd.DataFrame, source: Path, dest: Path, prefix: str) -> pd.DataFrame:
    """Copy the photos of `rows` (image relative to `source`) under `dest/prefix/`."""
    rows = rows.copy()
    new_paths = []
    for rel in rows["image"]:
        target = Path(prefix) / rel
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / rel, dest / target)
        new_paths.append(target.as_posix())
    rows["image"] = new_paths
    return rows


def _write_grader(folder: Path, parts: list[tuple[pd.DataFrame, Path, str]]) -> None:
    dest = folder / PHOTOS
    dest.mkdir(parents=True, exist_ok=True)
    frames = [_copy_photos(rows, source, dest, prefix) for rows, source, prefix in parts]
    manifest = pd.concat(frames, ignore_index=True).assign(split="test")
    columns = ["image", "item_id", "grade", "counterfeit", "category", "brand", "split"]
    manifest[[c for c in columns if c in manifest.columns]].to_csv(dest / MANIFEST, index=False)


def _commit(settings: Settings, kind: ModelKind, version: int, write, record: dict) -> Holdout:
    """Write a version into a temporary folder, then rename it into place (never half-written)."""
    root = holdouts_dir(settings, kind)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"v{version}"
    if final.exists():
        raise DataError(
            [Problem(final, "holdout version exists already; versions are never rewritten")]
        )
    temp = root / f".v{version}.tmp"
    shutil.rmtree(temp, ignore_errors=True)
    try:
        write(temp)
        data = temp / (TABLE if kind is PRICING else PHOTOS)
        sha = file_fingerprint(data) if kind is PRICING else photo_dataset_fingerprint(data)
        manifest = {
            "kind": kind.name,
            "version": version,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            **record,
            "sha256": sha,
        }
        (temp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        temp.rename(final)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return load_holdout(settings, kind, version)


def _check_share(share: float) -> None:
    if not 0 < share < 1:
        raise DataError([Problem("--share", f"{share} is not between 0 and 1")])


def create_holdout(
    settings: Settings,
    kind: ModelKind,
    data: Path,
    share: float = DEFAULT_SHARE,
    *,
    exclude: frozenset[str] | None = None,
) -> Holdout:
    """Create version 1 of a kind's holdout from `data` (see the module notes).

    Args:
        settings: Where the holdouts live (and the registry).
        kind: Which model kind.
        data: An outcomes table, a photo dataset, or a `data synth` folder.
        share: Share of the items (per stratum) held out.
        exclude: Items never to hold out; default: those the current champion trained on.

    Raises:
        DataError: bad data or share, or a holdout exists already (use `extend_holdout`).
    """
    _check_share(share)
    if _versions(settings, kind):
        raise DataError(
            [Problem(holdouts_dir(settings, kind), f"a {kind.name} holdout exists already; "
                     "grow it with `regrade holdout extend`")]
        )  # fmt: skip
    if exclude is None:
        exclude = champion_trained_ids(settings, kind) or frozenset()
    rows, source, fingerprint = _source_items(kind, data)
    items = _item_table(kind, rows)
    picked = pick_items(items, share, STRATA[kind.name], exclude)
    if not picked:
        raise DataError([Problem(data, "too few items to hold any out")])
    chosen = rows[rows["item_id"].astype(str).isin(picked)]
    record = {
        "source": str(source),
        "source_fingerprint": fingerprint,
        "share": share,
        "n_items": len(picked),
        "strata": strata_counts(_item_table(kind, chosen), STRATA[kind.name]),
        "parent": None,
        "excluded_champion_items": len(exclude & set(items["item_id"].astype(str))),
        "item_ids": picked,
    }
    if kind is PRICING:
        write = lambda folder: _write_pricing(folder, chosen)  # noqa: E731
    else:
        write = lambda folder: _write_grader(folder, [(chosen, source, "v1")])  # noqa: E731
    return _commit(settings, kind, 1, write, record)


def extend_holdout(
    settings: Settings,
    kind: ModelKind,
    data: Path,
    share: float = DEFAULT_SHARE,
    *,
    exclude: frozenset[str] | None = None,
) -> Holdout:
    """A new version: the newest one's items plus `share` of the items of `data` not in it.

    Args:
        settings: Where the holdouts live.
        kind: Which model kind.
        data: New data (an outcomes table, a photo dataset, or a `data synth` folder).
        share: Share of the new items (per stratum) added.
        exclude: Items never to add; default: those the current champion trained on.

    Raises:
        DataError: no holdout yet, bad data or share, or no new item to add.
    """
    _check_share(share)
    previous = latest_holdout(settings, kind)
    if previous is None:
        raise DataError([Problem(holdouts_dir(settings, kind), f"no {kind.name} holdout yet; "
                                 "make one with `regrade holdout create`")])  # fmt: skip
    if exclude is None:
        exclude = champion_trained_ids(settings, kind) or frozenset()
    rows, source, fingerprint = _source_items(kind, data)
    fresh = rows[~rows["item_id"].astype(str).isin(previous.item_ids)]
    picked = pick_items(_item_table(kind, fresh), share, STRATA[kind.name], exclude)
    if not picked:
        raise DataError([Problem(data, f"no new item to add to holdout {previous.label}")])
    added = fresh[fresh["item_id"].astype(str).isin(picked)]
    old = previous.frame()
    version = previous.version + 1
    every = sorted(previous.item_ids | set(picked))
    record = {
        "source": str(source),
        "source_fingerprint": fingerprint,
        "share": share,
        "n_items": len(every),
        "n_added": len(picked),
        "strata": strata_counts(
            _item_table(kind, pd.concat([old, added], ignore_index=True)), STRATA[kind.name]
        ),
        "parent": previous.version,
        "item_ids": every,
    }
    if kind is PRICING:
        both = pd.concat([old, added.drop(columns=["split"], errors="ignore")], ignore_index=True)
        write = lambda folder: _write_pricing(folder, both)  # noqa: E731
    else:
        parts = [(old, previous.data, ""), (added, source, f"v{version}")]
        write = lambda folder: _write_grader(folder, parts)  # noqa: E731
    return _commit(settings, kind, version, write, record)
