"""Loop checks of grader training on tiny toy data (32 px, 1-2 epochs): the loss falls, one
batch overfits, the artifact round-trips to identical outputs, the CLI writes SPEC metrics."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from models.grader.heads import GraderNet, ordinal_nll
from models.grader.predictor import GraderPredictor
from models.grader.preprocess import PreprocessConfig, normalize
from tests.code.conftest import TINY
from tests.code.conftest import TOY_SIZE as SIZE
from training.grader.config import GraderConfig
from training.grader.loop import batch_loss, evaluate_loss, param_groups, train_network
from training.grader.train import train_grader_model

SPEC_KEYS = {
    "n_test", "accuracy", "macro_f1", "qwk", "ece", "auto_coverage", "auto_accuracy",
    "counterfeit_auroc", "counterfeit_recall_at_fpr02", "images_per_s",
}  # fmt: skip
BASELINE_KEYS = {"baseline_plain_macro_f1", "baseline_plain_qwk", "baseline_plain_accuracy"}


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    _, data = toy
    model_dir = tmp_path_factory.mktemp("model")
    config = GraderConfig(epochs=2, **TINY)
    result = train_grader_model(config, data, model_dir)
    return result, data


def test_training_gives_torch_its_thread_count_back(toy):
    """Training runs on `threads`; what runs next in the process (an evaluation's inference
    engine takes torch's thread count) gets the count it had before, also after a failure."""
    from training.grader.baseline import train_plain
    from training.grader.train import fit_grader

    _, data = toy
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fit_grader(GraderConfig(epochs=1, threads=1, **TINY), data)
        assert torch.get_num_threads() == 2
        train_plain(data.subset("train"), epochs=1, seed=0, threads=1)
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="train and the val split"):
            fit_grader(GraderConfig(epochs=1, threads=1, **TINY), data.subset("test"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_training_loss_decreases(toy):
    _, data = toy
    torch.manual_seed(0)
    config = GraderConfig(epochs=2, lr=3e-3, **TINY)
    prep = PreprocessConfig(image_size=SIZE)
    net = GraderNet(config.backbone)
    before, _ = evaluate_loss(net, data.subset("train"), prep, config)
    history = train_network(net, data.subset("train"), data.subset("val"), prep, config)
    after, _ = evaluate_loss(net, data.subset("train"), prep, config)
    assert len(history) == 2 and all(np.isfinite(h["train_loss"]) for h in history)
    assert after < before - 0.1


def test_one_batch_overfits(toy):
    _, data = toy
    torch.manual_seed(0)
    batch = data.take(np.arange(6))
    config = GraderConfig(**TINY)
    net = GraderNet(config.backbone)
    x = normalize(PreprocessConfig(image_size=SIZE))(batch.images)
    index = torch.as_tensor(batch.item_index)
    target = torch.as_tensor(batch.items["target"].to_numpy().copy())
    fakes = torch.as_tensor(batch.items["counterfeit"].to_numpy().copy(), dtype=torch.float32)
    optimizer = torch.optim.AdamW(param_groups(net, config), lr=3e-3)
    for _ in range(50):
        loss, _, _ = batch_loss(net, x, index, target, fakes, config)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        loss, score, _ = batch_loss(net, x, index, target, fakes, config)
    assert float(loss) < 0.1
    thresholds = net.grade.thresholds()
    assert ((score[:, None] > thresholds).sum(1) == target).all()


def test_photo_losses_add_each_view_with_its_item_labels(toy):
    _, data = toy
    torch.manual_seed(0)
    batch = data.take(np.arange(6))
    net = GraderNet(TINY["backbone"]).eval()
    x = normalize(PreprocessConfig(image_size=SIZE))(batch.images)
    index = torch.as_tensor(batch.item_index)
    target = torch.as_tensor(batch.items["target"].to_numpy().copy())
    fakes = torch.as_tensor(batch.items["counterfeit"].to_numpy().copy(), dtype=torch.float32)
    with torch.no_grad():
        item_only, _, _ = batch_loss(net, x, index, target, fakes, GraderConfig(photo_weight=0))
        both, _, _ = batch_loss(net, x, index, target, fakes, GraderConfig(photo_weight=0.5))
        out = net(x)
        photo = ordinal_nll(out["score"], net.grade.thresholds(), target[index])
        photo = photo + F.binary_cross_entropy_with_logits(out["counterfeit"], fakes[index])
        # the auxiliary classifier (on by default) also sees every view with its item's grade
        photo = photo + GraderConfig().aux_weight * F.cross_entropy(
            net.aux(out["embedding"]), target[index]
        )
    assert float(both - item_only) == pytest.approx(0.5 * float(photo), rel=1e-4)


def test_artifact_round_trips_to_identical_outputs(trained):
    result, data = trained
    from models.grader.artifact import load_artifact

    test = data.subset("test")
    first = GraderPredictor.load(result.model_dir).predict_tensors(
        test.images, test.item_index, test.brands
    )
    again = GraderPredictor(load_artifact(result.model_dir)).predict_tensors(
        test.images, test.item_index, test.brands
    )
    assert [r.to_dict() for r in first] == [r.to_dict() for r in again]
    config = json.loads((result.model_dir / "config.json").read_text())
    assert config["labels"] == ["A", "B", "C"]
    assert {"temperature", "thresholds", "review_confidence"} <= set(config["calibration"])
    assert config["preprocess"]["image_size"] == SIZE
    assert not list(result.model_dir.glob("*.pkl")) and not list(result.model_dir.glob("*.pt"))


def test_predictor_takes_pil_and_bytes_and_keeps_every_photo(trained, toy):
    result, _ = trained
    root, _ = toy
    predictor = GraderPredictor.load(result.model_dir, version="7")
    photo = Image.open(root / "images" / "item0000_0.png").convert("RGB")
    buf = io.BytesIO()
    photo.convert("L").save(buf, format="JPEG")
    results = predictor.predict_items(
        [[photo], [photo, buf.getvalue(), photo]], [{"brand": "acme"}, {}]
    )
    assert [len(r.photos) for r in results] == [1, 3]
    for r in results:
        assert sum(r.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert r.grade in r.prediction_set and r.grade in "ABC"
        assert r.confidence == pytest.approx(r.probabilities[r.grade])
        assert r.needs_review == (r.confidence < predictor.artifact.calibration.review_confidence)
        assert r.counterfeit.flagged == (r.counterfeit.score > r.counterfeit.threshold)
        assert (r.model_name, r.model_version) == ("regrade-grader", "7")
    # the item's severity is its worst photo's
    assert results[1].severity == max(p.severity for p in results[1].photos)
    # the same photo alone and in a batch gives the same answer
    assert results[0].photos[0].severity == pytest.approx(results[1].photos[0].severity, abs=1e-5)
    with pytest.raises(ValueError, match="no photos"):
        predictor.predict_items([[]])


def test_cli_trains_registers_and_evaluates(toy, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from training.cli.grader import evaluate_app, train_app

    root, _ = toy
    monkeypatch.setenv("REGRADE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    run = tmp_path / "run"
    args = ["--data", str(root), "--out", str(run), "--epochs", "1", "--image-size", str(SIZE),
            "--backbone", "resnet10t_quarter", "--seed", "1", "--baseline-epochs", "1"]  # fmt: skip
    done = runner.invoke(train_app, args)
    assert done.exit_code == 0, done.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) >= SPEC_KEYS | BASELINE_KEYS
    assert metrics["n_test"] == 6 and 0.0 <= metrics["accuracy"] <= 1.0
    assert "plain baseline (trained)" in done.output
    assert (run / "confusion_matrix.png").stat().st_size > 1000
    assert (run / "reliability_diagram.png").stat().st_size > 1000
    assert "version 1" in done.output
    evaluated = tmp_path / "eval"
    model = "models:/regrade-grader@challenger"
    args = ["--data", str(root), "--model", model, "--out", str(evaluated)]
    done = runner.invoke(evaluate_app, [*args, "--baseline-epochs", "1"])
    assert done.exit_code == 0, done.output
    again = json.loads((evaluated / "metrics.json").read_text())
    assert again["n_test"] == 6 and again["qwk"] == pytest.approx(metrics["qwk"])
    # the same split and settings: the baseline's scores come from the cache
    assert "plain baseline (read from the cache)" in done.output
    assert {k: again[k] for k in BASELINE_KEYS} == {k: metrics[k] for k in BASELINE_KEYS}
