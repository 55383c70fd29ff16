"""A trained grader's two grade decisions side by side: the median class against the held-out
grade shares (`GraderConfig.decision`), beside the plain baseline of the same run.

The run's networks are kept; the calibration is refitted on the held-out scores it was fitted on
(the out-of-fold scores of train+val when the run cross-fitted, else the val split's) once per
decision, and each is scored on the test split and, with `--rest DIR`, on a folder of unseen
items (e.g. `subsample_photos.py --rest`). With `--home H` (the run's `REGRADE_HOME`) the cached
plain baseline is scored on the same items. The networks do not depend on the decision, so
this measures the decision alone, without training twice.

    .venv/bin/python benchmarks/bench_grader_decision.py --run RUN --data DIR [--rest R] [--home H]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import timm
from safetensors.torch import load_file
from sklearn.metrics import cohen_kappa_score, f1_score

from features.schema import GRADES
from models.grader.calibration import Calibration, fit_calibration
from models.grader.predictor import GraderPredictor
from models.grader.preprocess import PreprocessConfig
from training.grader.baseline import RESULT, predict_plain
from training.grader.calibrate import item_scores, scorer_of
from training.grader.config import GraderConfig
from training.grader.crossfit import assign_folds, oof_scores
from training.grader.data import PhotoSet, load_photoset

DECISIONS = ("median", "shares")


def _row(name: str, target: np.ndarray, pred: np.ndarray, answered: np.ndarray | None) -> str:
    share = np.bincount(pred, minlength=len(GRADES)) / len(pred)
    auto = "-"
    if answered is not None:
        right = (pred == target)[answered]
        auto = f"{answered.mean():.3f} / {right.mean():.3f}" if answered.any() else "0 / -"
    return (
        f"{name:<22} n {len(target):>5}  acc {np.mean(pred == target):.3f}  macro_f1 "
        f"{f1_score(target, pred, average='macro', labels=range(len(GRADES))):.3f}  qwk "
        f"{cohen_kappa_score(target, pred, weights='quadratic', labels=range(len(GRADES))):.3f}"
        f"  called {np.round(share, 3).tolist()}  auto_cov / auto_acc {auto}"
    )


def _held_out(predictor: GraderPredictor, config: GraderConfig, data: PhotoSet):
    """The item scores and grades the run's calibration was fitted on."""
    art = predictor.artifact
    if config.crossfit_folds:
        pool = data.take(np.nonzero(data.items["split"].isin(["train", "val"]).to_numpy())[0])
        folds = assign_folds(pool.items, config.crossfit_folds, config.seed)
        members = list(art.net.members)
        scores, _ = oof_scores(members, art.preprocess, config, pool, folds)
        return scores["score"], pool.items["target"].to_numpy()
    val = data.subset("val")
    scorer = scorer_of(art.net, art.preprocess, art.tta)
    return item_scores(scorer, art.references, val)["score"], val.items["target"].to_numpy()


def _baseline(home: Path, data: PhotoSet) -> np.ndarray | None:
    """The cached plain baseline's grades of `data`'s items (None: no single cached one)."""
    found = sorted((home / "baseline-cache" / "grader").glob(f"*/{RESULT}"))
    if len(found) != 1:
        return None
    record = json.loads(found[0].read_text())
    net = timm.create_model(record["arch"], pretrained=False, num_classes=len(GRADES))
    net.load_state_dict(load_file(str(found[0].parent / "weights.safetensors")))
    return predict_plain(net.eval(), PreprocessConfig(**record["preprocess"]), data)


def load_run(run: Path) -> tuple[GraderConfig, GraderPredictor]:
    """A `train grader --out` folder's settings and its model (torch engine)."""
    saved = json.loads((run / "config.json").read_text())
    known = {k: v for k, v in saved.items() if k in GraderConfig.model_fields and k != "preset"}
    return GraderConfig(**known), GraderPredictor.load(run / "model", engine="torch")


def main() -> None:
    """Parse the arguments and print a line per decision and item set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a `train grader --out` folder")
    parser.add_argument("--data", type=Path, required=True, help="the photo set it trained on")
    parser.add_argument("--rest", type=Path, help="a photo set of items it never saw")
    parser.add_argument("--home", type=Path, help="its REGRADE_HOME (the cached baseline)")
    args = parser.parse_args()
    config, predictor = load_run(args.run)
    art = predictor.artifact
    size, seed = art.preprocess.image_size, int(art.info.get("seed", 0))
    data, _ = load_photoset(args.data, size, seed=seed)
    score, target = _held_out(predictor, config, data)
    start = art.net.thresholds().detach().double().numpy()
    fitted: dict[str, Calibration] = {
        d: fit_calibration(
            score,
            target,
            start,
            target_accuracy=config.target_accuracy,
            review_level=config.review_level,
            decision=d,
        )
        for d in DECISIONS
    }
    print(f"held out: {len(target)} items; saved decision: {art.info['review'].get('decision')}")
    sets = [("test", data.subset("test"))]
    if args.rest:
        sets.append(("rest", load_photoset(args.rest, size, seed=seed)[0]))
    for name, items in sets:
        y = items.items["target"].to_numpy()
        photo = predictor.photo_outputs(items.images)["score"]
        severity = np.full(len(items), -np.inf)
        np.maximum.at(severity, np.asarray(items.item_index), photo)
        for decision, cal in fitted.items():
            pred = cal.grade_index(severity)
            confidence = cal.probs(severity)[np.arange(len(pred)), pred]
            print(_row(f"{name} {decision}", y, pred, confidence >= cal.review_confidence))
        plain = _baseline(args.home, items) if args.home else None
        if plain is not None:
            print(_row(f"{name} plain baseline", y, plain, None))


if __name__ == "__main__":
    main()
