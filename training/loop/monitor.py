"""`regrade monitor`: is the live data still what the champions learned from, and are they right?

Reference: the champions' own training data (`artifact.json`: the pricing outcomes table, the
grader's photo dataset). Recent: the store's cases created since `--since` (all by default).
Reported: PSI of each pricing input (numeric and categorical) and of the grade mix, photo size
and brightness (PSI and means, on a seeded sample of up to 200 photos a side), the share of
resolved cases whose grade the grader changed (overall and per week), and on the outcomes that
arrived, the pricing band's coverage and the days-to-sell C-index. Thresholds
(`Settings.monitor`) flag each line; the command exits 0 either way. Written: a table on the
terminal, `OUT/monitor.json`, PNG plots, and an MLflow run in experiment `regrade-monitor`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from features.photos import load_photo_dataset
from features.schema import benchmark_columns
from models.artifact import ArtifactError, read_meta
from models.kinds import GRADER, PRICING, ModelKind
from models.registry import ModelNotFoundError
from serving.runtime import open_case_store
from serving.settings import MonitorThresholds, Settings
from serving.store.exports import CASE_CHOICES, CASE_NUMBERS
from training.loop.data import photo_root
from training.loop.drift import (
    disagreement_over_time,
    live_pricing_quality,
    photo_stats,
    psi_categorical,
    psi_numeric,
)
from training.pricing.data import load_run_data
from training.tracking import default_out, jsonable, tracked_run

CATEGORICAL = ("category", "brand", *CASE_CHOICES)


@dataclass(frozen=True)
class Line:
    """One monitored quantity: what, its value, on how many recent rows, and its flag."""

    group: str
    name: str
    value: float | None
    n: int
    flag: str
    note: str = ""


@dataclass
class MonitorReport:
    """What `monitor` found."""

    run_dir: Path
    since: str | None
    lines: list[Line]
    disagreement: pd.DataFrame
    n_cases: int

    def table(self) -> str:
        """The lines as a plain-text table."""
        out = [f"{'group':<12} {'name':<28} {'value':>10} {'n':>6}  flag"]
        for line in self.lines:
            value = "null" if line.value is None else f"{line.value:.4g}"
            note = f"  ({line.note})" if line.note else ""
            out.append(
                f"{line.group:<12} {line.name:<28} {value:>10} {line.n:>6}  {line.flag}{note}"
            )
        return "\n".join(out)

    @property
    def flagged(self) -> list[Line]:
        """Lines flagged drift or alert."""
        return [line for line in self.lines if line.flag in ("drift", "alert")]

    def to_dict(self) -> dict[str, Any]:
        """As written to monitor.json."""
        return {
            "since": self.since,
            "cases": self.n_cases,
            "lines": [line.__dict__ for line in self.lines],
            "disagreement_over_time": self.disagreement.to_dict(orient="records"),
            "flagged": [f"{line.group}/{line.name}" for line in self.flagged],
        }


def _reference(kind: ModelKind, settings: Settings) -> Path | None:
    try:
        meta = read_meta(settings.resolve_model(kind.champion_uri).path, kind)
    except (ModelNotFoundError, ArtifactError):
        return None
    return Path(meta.data_path) if meta.data_path and Path(meta.data_path).exists() else None


def _psi_flag(value: float | None, n: int, limits: MonitorThresholds) -> str:
    if value is None:
        return "n/a"
    if n < limits.min_rows:
        return "few rows"
    return "drift" if value >= limits.psi_drift else "watch" if value >= limits.psi_watch else "ok"


def _feature_lines(
    reference: pd.DataFrame | None, cases: pd.DataFrame, limits: MonitorThresholds
) -> list[Line]:
    if reference is None or cases.empty:
        return [Line("features", "(all)", None, len(cases), "n/a", "no reference or no cases")]
    lines = []
    numbers = [*CASE_NUMBERS, *benchmark_columns(list(cases.columns))]
    for name in numbers:
        if name in reference.columns and name in cases.columns and cases[name].notna().any():
            value = psi_numeric(reference[name], cases[name])
            lines.append(
                Line("features", name, value, len(cases), _psi_flag(value, len(cases), limits))
            )
    for name in CATEGORICAL:
        if name in reference.columns and name in cases.columns and cases[name].notna().any():
            value = psi_categorical(reference[name], cases[name])
            lines.append(
                Line("features", name, value, len(cases), _psi_flag(value, len(cases), limits))
            )
    return lines


def _grader_lines(
    root: Path | None, cases: pd.DataFrame, photos: pd.DataFrame, limits: MonitorThresholds
) -> tuple[list[Line], pd.DataFrame, pd.DataFrame]:
    empty = pd.DataFrame(columns=["brightness", "area"])
    if root is None:
        return (
            [Line("photos", "(all)", None, len(photos), "n/a", "no grader reference")],
            empty,
            empty,
        )
    manifest = load_photo_dataset(root)
    lines = []
    grades = cases["model_grade"] if "model_grade" in cases.columns else pd.Series([], dtype=object)
    grades = grades.dropna()
    value = psi_categorical(manifest.drop_duplicates("item_id")["grade"], grades)
    lines.append(
        Line("grades", "grade_mix", value, len(grades), _psi_flag(value, len(grades), limits))
    )
    ref = photo_stats([root / p for p in manifest["image"]])
    cur = photo_stats(list(photos["image"])) if len(photos) else empty
    for name in ("area", "brightness"):
        value = psi_numeric(ref[name], cur[name]) if len(cur) else None
        mean = "n/a" if not len(cur) else f"mean {cur[name].mean():.4g} vs {ref[name].mean():.4g}"
        lines.append(
            Line("photos", name, value, len(cur), _psi_flag(value, len(cur), limits), mean)
        )
    return lines, ref, cur


def _quality_lines(
    cases: pd.DataFrame, over_time: pd.DataFrame, limits: MonitorThresholds
) -> list[Line]:
    lines = []
    done = cases.dropna(subset=["final_grade", "model_grade"]) if len(cases) else cases
    rate = float((done["final_grade"] != done["model_grade"]).mean()) if len(done) else None
    few = len(done) < limits.min_rows
    flag = "n/a" if rate is None else "few rows" if few else (
        "alert" if rate > limits.max_disagreement else "ok"
    )  # fmt: skip
    lines.append(
        Line("agreement", "grader_changed_grade", rate, len(done), flag, f"{len(over_time)} weeks")
    )
    quality = live_pricing_quality(cases) if len(cases) else live_pricing_quality(pd.DataFrame())
    coverage, n_sold = quality["interval_coverage_80"], int(quality["sold"] or 0)
    low, high = limits.coverage_band
    flag = "n/a" if coverage is None else "few rows" if n_sold < limits.min_rows else (
        "ok" if low <= coverage <= high else "alert"
    )  # fmt: skip
    lines.append(Line("outcomes", "interval_coverage_80", coverage, n_sold, flag))
    cindex, n_out = quality["tts_cindex"], int(quality["outcomes"] or 0)
    flag = "n/a" if cindex is None else "few rows" if n_out < limits.min_rows else (
        "ok" if cindex >= limits.min_cindex else "alert"
    )  # fmt: skip
    lines.append(Line("outcomes", "tts_cindex", cindex, n_out, flag))
    return lines


def _figures(
    report: MonitorReport, ref: pd.DataFrame, cur: pd.DataFrame, limits: MonitorThresholds
) -> dict[str, Figure]:
    figures = {}
    psi = [line for line in report.lines if line.value is not None and line.group != "agreement"]
    psi = [line for line in psi if line.group in ("features", "grades", "photos")]
    figure = Figure(figsize=(8, 0.3 * max(len(psi), 3) + 1))
    axis = figure.subplots()
    axis.barh([f"{line.group}/{line.name}" for line in psi], [line.value for line in psi])
    axis.axvline(limits.psi_watch, color="orange", linestyle="--", linewidth=1)
    axis.axvline(limits.psi_drift, color="red", linestyle="--", linewidth=1)
    axis.set(xlabel="PSI (recent vs the champions' training data)", title="Drift")
    figures["drift_psi.png"] = figure
    figure = Figure(figsize=(7, 3.5))
    axis = figure.subplots()
    if len(report.disagreement):
        axis.plot(report.disagreement["period"], report.disagreement["disagreement"], marker="o")
    axis.set(xlabel="week resolved", ylabel="share the grader changed", ylim=(0, 1))
    axis.set_title("Model vs grader disagreement")
    figures["disagreement.png"] = figure
    figure = Figure(figsize=(7, 3.5))
    axis = figure.subplots()
    if len(ref):
        axis.hist(ref["brightness"], bins=20, alpha=0.5, density=True, label="training photos")
    if len(cur):
        axis.hist(cur["brightness"], bins=20, alpha=0.5, density=True, label="recent photos")
    axis.set(xlabel="mean brightness (0-255)", title="Photo brightness")
    axis.legend()
    figures["photo_brightness.png"] = figure
    return figures


def monitor(
    settings: Settings, *, since: dt.datetime | None = None, out: Path | None = None
) -> MonitorReport:
    """Compare recent cases with the champions' training data (see the module notes)."""
    limits = settings.monitor
    store = open_case_store(settings)
    try:
        cases, photos = store.export_cases(since=since)
    finally:
        store.engine.dispose()
    pricing_ref = _reference(PRICING, settings)
    reference = load_run_data(pricing_ref).frame if pricing_ref is not None else None
    grader_ref = _reference(GRADER, settings)
    lines = _feature_lines(reference, cases, limits)
    grader_lines, ref_photos, cur_photos = _grader_lines(
        photo_root(grader_ref) if grader_ref else None, cases, photos, limits
    )
    over_time = disagreement_over_time(cases) if len(cases) else disagreement_over_time(
        pd.DataFrame(columns=["final_grade", "model_grade", "resolved_at"])
    )  # fmt: skip
    lines += grader_lines + _quality_lines(cases, over_time, limits)
    run_out = out or default_out("monitor", settings)
    report = MonitorReport(
        run_out, since.isoformat() if since else None, lines, over_time, len(cases)
    )
    config = {"since": report.since, "cases": len(cases), "thresholds": limits.model_dump()}
    with tracked_run("monitor", out=run_out, config=config, settings=settings) as run:
        path = run_out / "monitor.json"
        path.write_text(json.dumps(jsonable(report.to_dict()), indent=2) + "\n", encoding="utf-8")
        run.log_artifact(path)
        run.log_metrics({f"{line.group}.{line.name}": line.value for line in lines})
        run.log_metrics({"flagged": len(report.flagged)})
        for name, figure in _figures(report, ref_photos, cur_photos, limits).items():
            run.log_figure(figure, name)
    return report
