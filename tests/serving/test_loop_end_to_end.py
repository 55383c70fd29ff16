"""The whole loop on tiny data, as the users run it: 60 units assessed through the API, reviews
resolved, outcomes posted; `regrade retrain pricing --promote-if-better` promotes a better
challenger and refuses a worse one (trained on shuffled prices) with its reason;
`regrade retrain grader` reads a comparison on its fixed holdout; the running service reports the
new pricing version after `/admin/reload`, answering every request made during the swap;
`regrade monitor` reports drift, agreement and live calibration on the same store."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.code.conftest import TINY
from tests.code.test_retrain_pricing import shuffled
from tests.pricing_data import fast_config, make_table
from tests.serving.api_models import KEYS, auth, photo_files, running_service

INTAKE, GRADER, ADMIN = auth("k-intake"), auth("k-grader"), auth("k-admin")
UNITS = 60
ITEM_FIELDS = ("brand", "age_months", "new_price", "list_price")


@pytest.fixture(scope="module")
def loop_home(tmp_path_factory):
    """Champions trained by the pipelines (pricing on shuffled prices), and both holdouts."""
    from models.kinds import GRADER as GRADER_KIND
    from models.kinds import PRICING
    from serving.settings import load_settings
    from training.grader.config import GraderConfig
    from training.grader.pipeline import train_grader
    from training.grader.toy import write_toy_dataset
    from training.loop.holdout import create_holdout
    from training.pricing.pipeline import train_pricing

    root = tmp_path_factory.mktemp("loop-e2e")
    home = root / "home"
    settings = load_settings({"REGRADE_HOME": str(home)})
    write_toy_dataset(root / "toy", n_items=60, photos_per_item=2, image_size=32)
    table = make_table(700, seed=3)
    table.to_csv(root / "good.csv", index=False)
    shuffled(table).to_csv(root / "shuffled.csv", index=False)
    train_grader(GraderConfig(epochs=1, **TINY), root / "toy", root / "g", settings, promote=True)
    train_pricing(fast_config(), root / "shuffled.csv", root / "p", settings, promote=True)
    create_holdout(settings, GRADER_KIND, root / "toy", 0.15)
    create_holdout(settings, PRICING, root / "good.csv", 0.15)
    return root, home


def _env(root: Path, home: Path) -> dict[str, str]:
    return {
        "REGRADE_HOME": str(home),
        "REGRADE_API_KEYS": json.dumps(KEYS),
        "REGRADE_DATABASE_URL": f"sqlite:///{root / 'cases.db'}",
        "REGRADE_PROMOTION": json.dumps({"max_ece": 1.0, "auto_accuracy_slack": 1.0}),
    }


def _units(root: Path) -> pd.DataFrame:
    units = make_table(UNITS, seed=41)
    units["item_id"] = [f"unit-{i:03d}" for i in range(UNITS)]
    return units


def _photos(root: Path, i: int) -> list[bytes]:
    images = sorted((root / "toy" / "images").glob("*.png"))
    return [
        images[(2 * i) % len(images)].read_bytes(),
        images[(2 * i + 1) % len(images)].read_bytes(),
    ]


def _collect_the_store(client, root: Path) -> None:
    units = _units(root)
    cases = {}
    for i, row in units.iterrows():
        data = {"item_id": row["item_id"], "category": row["category"]}
        data |= {k: row[k] for k in ITEM_FIELDS}
        answer = client.post(
            "/assess", files=photo_files(_photos(root, i), "image/png"), data=data, headers=INTAKE
        )
        assert answer.status_code == 200, answer.text
        cases[row["item_id"]] = answer.json()["case_id"]
    queue = client.get("/reviews", params={"limit": 500}, headers=GRADER).json()
    assert queue, "the tiny grader sends units to review"
    grades = units.set_index("item_id")["grade"]
    for case in queue:
        resolved = client.post(
            f"/reviews/{case['case_id']}/resolve",
            json={"grade": grades[case["item_id"]], "counterfeit": False, "grader_id": "g-1"},
            headers=GRADER,
        )
        assert resolved.status_code == 200, resolved.text
    for _, row in units.iterrows():
        sold = bool(row["sold"])
        outcome = {
            "case_id": cases[row["item_id"]],
            "sold_price": float(row["sold_price"]) if sold else None,
            "days_listed": float(row["days_listed"]),
            "sold": sold,
        }
        assert client.post("/outcomes", json=outcome, headers=INTAKE).status_code == 200


def _regrade(env: dict[str, str], *args: str):
    from training.cli import app

    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_loop_end_to_end(loop_home):
    from models.kinds import CHAMPION
    from serving.settings import load_settings
    from training.tracking import alias_version, version_tags

    root, home = loop_home
    env = _env(root, home)
    settings = load_settings(env)
    item = {"item_id": "x", "category": "phone", "grade": "B", "new_price": 500, "age_months": 9}
    with running_service(env) as client:
        _collect_the_store(client, root)

        better = _regrade(
            env, "retrain", "pricing", "--promote-if-better", "--base", str(root / "good.csv")
        )
        assert "+ 60 from the store" in better and "rmsle difference" in better
        assert "decision: promoted: rmsle" in better and "version 2 is now @champion" in better
        assert alias_version("regrade-pricing", CHAMPION, settings) == "2"

        worse = _regrade(
            env, "retrain", "pricing", "--promote-if-better", "--base", str(root / "shuffled.csv")
        )
        assert "decision: refused: rmsle" in worse and "version 3 stays @challenger" in worse
        assert alias_version("regrade-pricing", CHAMPION, settings) == "2"
        reason = version_tags("regrade-pricing", "3", settings)["promotion_reason"]
        assert reason.startswith("refused: rmsle") and reason in worse

        graded = _regrade(env, "retrain", "grader")
        assert "qwk difference" in graded and "holdout grader/v1" in graded
        assert "regrade-grader version 2 stays @challenger" in graded

        answers: list[tuple[int, str]] = []
        stop = threading.Event()

        def keep_pricing():
            while not stop.is_set():
                response = client.post("/price", json={"items": [item]}, headers=INTAKE)
                answers.append(
                    (response.status_code, response.json()["model_versions"]["pricing"]["version"])
                )

        worker = threading.Thread(target=keep_pricing)
        worker.start()
        while len(answers) < 3:
            stop.wait(0.01)
        reloaded = client.post("/admin/reload", headers=ADMIN)
        count = len(answers)
        while len(answers) < count + 3:
            stop.wait(0.01)
        stop.set()
        worker.join()
        assert (
            reloaded.status_code == 200 and reloaded.json()["models"]["pricing"]["version"] == "2"
        )
        assert {status for status, _ in answers} == {200}
        assert answers[0][1] == "1" and answers[-1][1] == "2"
        assert client.get("/readyz").json()["models"]["pricing"]["version"] == "2"

    # the monitor reads the same store: drift, agreement and live calibration
    printed = _regrade(env, "monitor", "--out", str(root / "monitor"))
    report = json.loads((root / "monitor" / "monitor.json").read_text())
    assert report["cases"] == UNITS
    lines = {(line["group"], line["name"]): line for line in report["lines"]}
    for key in [("features", "age_months"), ("features", "category"), ("grades", "grade_mix"),
                ("photos", "brightness"), ("agreement", "grader_changed_grade"),
                ("outcomes", "interval_coverage_80"), ("outcomes", "tts_cindex")]:  # fmt: skip
        assert key in lines, key
        assert lines[key]["value"] is not None, key
    # the units' photos are the grader's own training photos: no brightness drift
    assert lines[("photos", "brightness")]["value"] < 0.2
    assert lines[("outcomes", "interval_coverage_80")]["n"] == int(_units(root)["sold"].sum())
    for name in ("drift_psi.png", "disagreement.png", "photo_brightness.png"):
        assert (root / "monitor" / name).is_file()
    assert "grader_changed_grade" in printed and "flagged:" in printed
