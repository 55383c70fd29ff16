"""A trained grader's review cut under several rules, fitted on one half of val + test and
scored on the other, over many random halvings: does the answered items' accuracy keep its
promise on average, and at what coverage?

The run's networks and calibration are kept; only the review cut is refitted
(`selective_threshold` at `review_level` 0, the point estimate, and at Clopper-Pearson levels).
The val and test items are pooled and split at random into halves of the val split's size,
`--splits` times; each row prints the mean coverage and answered accuracy on the other half,
the share of halvings that reach the target accuracy, and the share whose coverage reaches
`--coverage`. The first rows are the run's own split (the cut fitted on val, scored on test).

    .venv/bin/python benchmarks/bench_grader_review.py --run RUN --data DIR [--splits 200]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench_grader_decision import load_run  # this folder (a script's sys.path[0])

from models.grader.calibration import fit_calibration
from training.grader.data import load_photoset

LEVELS = (0.0, 0.5, 0.8, 0.95)


def main() -> None:
    """Parse the arguments and print a line per rule."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a `train grader --out` folder")
    parser.add_argument("--data", type=Path, required=True, help="the photo set it trained on")
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--coverage", type=float, default=0.85, help="the coverage target")
    args = parser.parse_args()
    config, predictor = load_run(args.run)
    art = predictor.artifact
    root = args.data / "photos" if (args.data / "photos").is_dir() else args.data
    data, _ = load_photoset(root, art.preprocess.image_size, seed=int(art.info.get("seed", 0)))

    def severity(split: str) -> tuple[np.ndarray, np.ndarray]:
        items = data.subset(split)
        photo = predictor.photo_outputs(items.images)["score"]
        score = np.full(len(items), -np.inf)
        np.maximum.at(score, np.asarray(items.item_index), photo)
        return score, items.items["target"].to_numpy()

    (sv, yv), (st, yt) = severity("val"), severity("test")
    start = art.net.thresholds().detach().double().numpy()
    target = config.target_accuracy

    def fitted(score, y, level):
        return fit_calibration(
            score, y, start, target_accuracy=target, review_level=level, decision=config.decision
        )

    def scored(cal, score, y) -> tuple[float, float]:
        pred = cal.grade_index(score)
        answered = cal.probs(score)[np.arange(len(pred)), pred] >= cal.review_confidence
        right = (pred == y)[answered]
        return float(answered.mean()), float(right.mean()) if answered.any() else np.nan

    print(f"{len(yv)} val + {len(yt)} test items; target accuracy {target}")
    for level in LEVELS:
        cov, acc = scored(fitted(sv, yv, level), st, yt)
        print(
            f"run's split, level {level:<4}: test coverage {cov:.3f}  answered accuracy {acc:.3f}"
        )
    pool_s, pool_y = np.r_[sv, st], np.r_[yv, yt]
    rng = np.random.default_rng(0)
    halvings = [rng.permutation(len(pool_s)) for _ in range(args.splits)]
    for level in LEVELS:
        got = np.array(
            [
                scored(
                    fitted(pool_s[h[: len(sv)]], pool_y[h[: len(sv)]], level),
                    pool_s[h[len(sv) :]],
                    pool_y[h[len(sv) :]],
                )
                for h in halvings
            ]
        )
        print(
            f"{args.splits} halvings, level {level:<4}: coverage {np.nanmean(got[:, 0]):.3f}"
            f"  answered accuracy {np.nanmean(got[:, 1]):.4f}"
            f"  reach {target}: {np.mean(got[:, 1] >= target):.2f}"
            f"  coverage >= {args.coverage}: {np.mean(got[:, 0] >= args.coverage):.2f}"
        )


if __name__ == "__main__":
    main()
