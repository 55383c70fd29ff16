"""Fault injection on the models: NaN outputs fail closed, changed or truncated files are refused.

Issue #25 findings 1 and 2. Every fault is made on a copy of the session's tiny models.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from features.schema import ITEM_COLUMNS
from features.tables import check_table
from models.artifact import ArtifactError
from models.decisions import IntakeSignals, decide
from models.policy import Policy
from models.pricing.predictor import PricingPredictor
from models.probe import ProbeError, probe_pricing
from models.routing import NOT_FINITE
from serving.runtime import StartupError, load_grader_at, load_pricing_at
from tests.reliability.model_faults import (
    copy_model,
    flip_byte,
    forget_digests,
    nan_weights,
    truncate,
)
from tests.serving.api_models import (
    auth,
    count_cases,
    photo_files,
    running_service,
    service_env,
    service_home,
    toy_photos,
)

COSTS = {"acquisition_cost": 40.0, "refurb_cost": 15.0, "logistics_cost": 10.0}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return service_home(tmp_path_factory.getbasetemp() / "service-models")


@pytest.fixture(scope="module")
def nan_grader(home, tmp_path_factory):
    return nan_weights(copy_model(home, "grader", tmp_path_factory.mktemp("nan") / "grader"))


class NanPrices:
    """A pricing predictor whose band is NaN for the items at `rows` (a diverged model)."""

    def __init__(self, inner: PricingPredictor, rows: list[int]):
        self.inner = inner
        self.rows = rows

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict(self, items):
        out = self.inner.predict(items)
        out.iloc[self.rows, :3] = np.nan
        return out


def typed(rows: list[dict]) -> pd.DataFrame:
    frame, problems = check_table(pd.DataFrame(rows), ITEM_COLUMNS, file="test")
    assert problems == []
    return frame


def test_a_grader_with_nan_weights_fails_closed_and_says_so(home, nan_grader, caplog):
    from models.grader.predictor import GraderPredictor

    predictor = GraderPredictor.load(nan_grader, version="7")
    with caplog.at_level(logging.WARNING, logger="models.grader.predictor"):
        result = predictor.predict_items([toy_photos(home, 2)])[0]
    assert result.needs_review is True
    assert result.counterfeit.flagged is True and result.counterfeit.score is None
    assert result.reasons == [NOT_FINITE]
    assert result.probabilities == {} and result.confidence == 0.0
    assert result.grade == "C" and result.prediction_set == ["A", "B", "C"]
    assert all(p.probabilities == {} and p.severity is None for p in result.photos)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "regrade-grader version 7" in warnings[0]


def test_the_start_up_probe_refuses_a_nan_grader_naming_its_folder(nan_grader):
    with pytest.raises(StartupError) as caught:
        load_grader_at(nan_grader, "regrade-grader", None)
    message = str(caught.value)
    assert str(nan_grader) in message and "not finite" in message and "\n" not in message


def test_the_start_up_probe_refuses_nan_prices(home, tmp_path):
    pricing = PricingPredictor.load(home / "runs" / "pricing" / "model")
    probe_pricing(pricing, "good")  # the real model passes
    with pytest.raises(ProbeError, match=r"^broken: .*price_p10, price_p50, price_p90"):
        probe_pricing(NanPrices(pricing, [0]), "broken")


def test_decide_never_lists_a_unit_with_nan_prices(home, caplog):
    pricing = PricingPredictor.load(home / "runs" / "pricing" / "model")
    items = typed(
        [
            {"item_id": "bad", "category": "phone", "grade": "B", "new_price": 600.0, **COSTS},
            {"item_id": "ok", "category": "phone", "grade": "B", "new_price": 600.0, **COSTS},
        ]
    )
    good = decide(items, pricing, Policy())
    assert good["route"].tolist()[0] != "review" and math.isfinite(good["recommended_price"][0])
    with caplog.at_level(logging.WARNING, logger="models.decisions"):
        out = decide(items, NanPrices(pricing, [0]), Policy())
    bad, ok = out.iloc[0], out.iloc[1]
    assert bad["route"] == "review" and bad["reasons"] == NOT_FINITE
    assert all(math.isnan(bad[c]) for c in ("price_p50", "recommended_price", "margin"))
    assert ok["route"] == good.iloc[1]["route"]
    assert ok["recommended_price"] == pytest.approx(good.iloc[1]["recommended_price"])
    assert ["pricing model" in r.getMessage() for r in caplog.records] == [True]
    failed = IntakeSignals(counterfeit_flagged=np.array([True, False]), model_failed=True)
    both = decide(items, pricing, Policy(), failed)
    assert both["route"].tolist() == ["authenticate", "review"]
    assert both["reasons"].tolist() == [f"counterfeit_flagged;{NOT_FINITE}", NOT_FINITE]
    assert both["recommended_price"].isna().all()


def test_the_service_answers_nan_models_with_review_and_no_price(home, nan_grader, tmp_path):
    from models.grader.predictor import GraderPredictor
    from serving.api.service import SLOT

    database = f"sqlite:///{tmp_path / 'regrade.db'}"
    env = service_env(home, REGRADE_DATABASE_URL=database, REGRADE_BATCHING="0")
    with running_service(env) as client:
        runtime = SLOT.runtime
        SLOT.fill(replace(runtime, grader=GraderPredictor.load(nan_grader)))
        photos = photo_files(toy_photos(home))
        graded = client.post("/grade", files=photos, headers=auth("k-intake"))
        assert graded.status_code == 200, graded.text
        body = graded.json()
        assert body["needs_review"] is True and body["counterfeit"]["flagged"] is True
        assert body["reasons"] == [NOT_FINITE] and body["probabilities"] == {}
        unit = {"item_id": "nan-1", "category": "phone", "new_price": 600, **COSTS}
        assessed = client.post("/assess", files=photos, data=unit, headers=auth("k-intake"))
        assert assessed.status_code == 200, assessed.text
        case = assessed.json()
        assert case["route"] == "authenticate" and case["price"]["recommended_price"] is None
        assert case["pricing_status"] == "not_applicable" and case["review_status"] == "open"
        assert NOT_FINITE in {r["code"] for r in case["reasons"]}

        SLOT.fill(replace(runtime, pricing=NanPrices(runtime.pricing, [0])))
        item = {"item_id": "p", "category": "phone", "grade": "B", "new_price": 600.0, **COSTS}
        priced = client.post("/price", json={"items": [item]}, headers=auth("k-pricing"))
        assert priced.status_code == 200, priced.text
        answer = priced.json()["items"][0]
        assert answer["route"] == "review" and answer["recommended_price"] is None
        assert answer["price"] == {"p10": None, "p50": None, "p90": None}
        assert [r["code"] for r in answer["reasons"]] == [NOT_FINITE]
        unit = {**unit, "item_id": "nan-2"}
        SLOT.fill(replace(runtime, pricing=NanPrices(runtime.pricing, [0])))
        assessed = client.post("/assess", files=photos, data=unit, headers=auth("k-intake"))
        case = assessed.json()
        assert case["price"]["recommended_price"] is None and case["route"] in (
            "review",
            "authenticate",
        )
        assert NOT_FINITE in {r["code"] for r in case["review_kinds"]}
        SLOT.fill(runtime)
    assert count_cases(database) == 2


def test_a_changed_or_truncated_file_is_refused_naming_it(home, tmp_path):
    pricing = copy_model(home, "pricing", tmp_path / "pricing")
    PricingPredictor.load(pricing)
    flip_byte(pricing / "price_p90.txt")
    with pytest.raises(ArtifactError, match=r"price_p90\.txt: sha256 .* does not match"):
        PricingPredictor.load(pricing)
    grader = copy_model(home, "grader", tmp_path / "grader")
    truncate(grader / "weights.safetensors")
    with pytest.raises(StartupError) as caught:
        load_grader_at(grader, "regrade-grader", None)
    assert f"{grader / 'weights.safetensors'}: sha256" in str(caught.value)
    forget_digests(grader)  # saved before digests: the load itself names the file
    with pytest.raises(StartupError) as caught:
        load_grader_at(grader, "regrade-grader", None)
    assert f"{grader / 'weights.safetensors'}: cannot read the tensors" in str(caught.value)


def test_a_folder_saved_before_digests_loads_with_one_warning(home, tmp_path, caplog):
    pricing = forget_digests(copy_model(home, "pricing", tmp_path / "legacy"))
    with caplog.at_level(logging.WARNING, logger="models.artifact"):
        first = load_pricing_at(pricing)
        load_pricing_at(pricing)
    assert (
        first.has_time_to_sell
        == PricingPredictor.load(home / "runs/pricing/model").has_time_to_sell
    )
    warned = [r.getMessage() for r in caplog.records if "no file digests" in r.getMessage()]
    assert warned == [f"{pricing}: no file digests recorded (saved before they were): not verified"]
    truncate(pricing / "price_p50.txt")  # without digests, the load itself names the file
    with pytest.raises(StartupError, match=r"price_p50\.txt: not a readable LightGBM model"):
        load_pricing_at(pricing)
