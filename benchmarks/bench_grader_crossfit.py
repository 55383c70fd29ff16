"""A cross-fitted grader's calibration on its ensemble against on each fold network alone.

Cross-fitting (`crossfit_folds`) fits the calibration on single fold networks' out-of-fold
scores and serves it on their average. This scores held-out items with the model as served and
with each of its networks alone under the same calibration (severity on the same common
scale), so it shows which way that shift goes: `conf-acc` above 0 is over-confidence. A model
with one network gives one row. `--split all` scores every item of the folder (e.g. the items a
subsampled run never saw); the default is the folder's test split, rebuilt from the model's seed.

    .venv/bin/python benchmarks/bench_grader_crossfit.py --model MODEL_DIR --data DIR [--split all]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from models.grader.heads import GraderEnsemble
from models.grader.predictor import GraderPredictor
from training.grader.data import load_photoset
from training.grader.evaluate import grader_metrics, predict_photoset


def _row(name: str, predictor: GraderPredictor, data) -> str:
    frame, per_s = predict_photoset(predictor, data)
    m = grader_metrics(frame, per_s)
    gap = float(frame["confidence"].mean()) - m["accuracy"]
    auto = (
        f"{m['auto_accuracy']:.3f} [{m['auto_accuracy_low']:.3f}, {m['auto_accuracy_high']:.3f}]"
        if m["auto_accuracy"] is not None
        else "-"
    )
    return (
        f"{name:<12} n {m['n_test']:>5}  acc {m['accuracy']:.3f}  macro_f1 {m['macro_f1']:.3f}  "
        f"qwk {m['qwk']:.3f}  ece {m['ece']:.3f}  conf-acc {gap:+.3f}  "
        f"auto_cov {m['auto_coverage']:.3f}  auto_acc {auto}"
    )


def main() -> None:
    """Parse the arguments and print one line for the model and one for each network."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a grader model folder")
    parser.add_argument("--data", type=Path, required=True, help="a photo dataset folder")
    parser.add_argument("--split", default="test", help="a split name, or `all`")
    args = parser.parse_args()
    predictor = GraderPredictor.load(args.model)
    art = predictor.artifact
    photos, _ = load_photoset(args.data, art.preprocess.image_size, seed=art.info.get("seed", 0))
    data = photos if args.split == "all" else photos.subset(args.split)
    print(_row("as served", predictor, data))
    members = list(art.net.members) if isinstance(art.net, GraderEnsemble) else []
    for k, net in enumerate(members if len(members) > 1 else []):
        alone = dataclasses.replace(art, net=GraderEnsemble([net]))
        print(_row(f"network {k}", GraderPredictor(alone), data))
    if members:
        print(f"ensemble of {len(members)}; calibration: {art.info.get('review', {})}")


if __name__ == "__main__":
    main()
