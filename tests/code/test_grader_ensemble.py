"""A grader ensemble (`members` > 1) answers as one network: members trained from their own
seeds, severities averaged on a common scale (monotone in every member), saved and loaded as one
artifact, the same under either inference engine."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from features.problems import DataError
from models.grader.engine import OUTPUTS, make_engine
from models.grader.heads import GraderEnsemble, GraderNet
from models.grader.predictor import GraderPredictor
from tests.code.conftest import TINY, TOY_SIZE
from training.cli import app
from training.grader.config import GraderConfig, load_config
from training.grader.data import load_photoset
from training.grader.train import member_workers, train_grader_model


def _members(n=3):
    nets = []
    for seed in range(n):
        torch.manual_seed(seed)
        net = GraderNet("resnet10t_quarter").eval()
        with torch.no_grad():  # distinct cut points, so the common scale matters
            net.grade.first.fill_(-1.0 - seed)
            net.grade.gaps.fill_(1.0 + seed)
        nets.append(net)
    return nets


def test_ensemble_averages_member_severities_on_their_own_cut_points():
    nets = _members()
    ensemble = GraderEnsemble(nets).eval()
    x = torch.randn(4, 3, TOY_SIZE, TOY_SIZE)
    with torch.no_grad():
        out = ensemble(x, with_patches=True)
        parts = [net(x, with_patches=True) for net in nets]
    expected = torch.stack(
        [(p["score"] - n.thresholds()[0]) / (n.thresholds()[-1] - n.thresholds()[0])
         for p, n in zip(parts, nets, strict=True)]
    ).mean(0)  # fmt: skip
    assert torch.allclose(out["score"], expected, atol=1e-6)
    logits = torch.stack([p["counterfeit"] for p in parts])
    assert torch.allclose(out["counterfeit"], logits.mean(0))
    # one-class patches and embeddings are the first member's
    assert torch.equal(out["patches"], parts[0]["patches"])
    assert torch.equal(out["embedding"], parts[0]["embedding"])
    # a member at its first (last) cut point sits at 0 (1) on the common scale
    assert ensemble.thresholds().tolist() == [0.0, 1.0]


def test_ensemble_severity_is_monotone_in_every_member():
    nets = _members()
    ensemble = GraderEnsemble(nets).eval()
    x = torch.randn(6, 3, TOY_SIZE, TOY_SIZE)
    with torch.no_grad():
        before = ensemble(x)["score"]
        nets[1].grade.score.bias += 0.5  # one member finds every photo worse
        after = ensemble(x)["score"]
    assert (after > before).all()


def test_engines_agree_on_an_ensemble():
    ensemble = GraderEnsemble(_members(2)).eval()
    x = torch.randn(5, 3, TOY_SIZE, TOY_SIZE)
    eager = make_engine(ensemble, TOY_SIZE, "torch")(x)
    onnx = make_engine(ensemble, TOY_SIZE, "onnxruntime")(x)
    for key in OUTPUTS:
        assert torch.allclose(onnx[key], eager[key].float(), atol=1e-4), key


def test_trained_ensemble_round_trips_and_its_members_differ(toy, tmp_path):
    _, data = toy
    history = []
    config = GraderConfig(epochs=2, **{**TINY, "members": 2})
    result = train_grader_model(
        config, data, tmp_path / "model", on_epoch=lambda e, r: history.append((e, r["member"]))
    )
    # each member's epochs are reported as steps of one run (as they end: members may interleave)
    assert sorted(history) == [(1, 0.0), (2, 0.0), (3, 1.0), (4, 1.0)]
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["members"] == 2 and saved["info"]["members"] == 2
    loaded = GraderPredictor.load(result.model_dir, engine="torch")
    assert isinstance(loaded.net, GraderEnsemble) and len(loaded.net.members) == 2
    a, b = (m.state_dict() for m in loaded.net.members)
    assert any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
    # member 0 is exactly the single network the same seed trains
    single = train_grader_model(GraderConfig(epochs=2, **TINY), data, tmp_path / "single")
    one = GraderPredictor.load(single.model_dir, engine="torch").net.state_dict()
    assert all(torch.equal(one[k], a[k]) for k in one)
    test = data.subset("test")
    fresh = GraderPredictor.load(result.model_dir).predict_tensors(
        test.images, test.item_index, test.brands
    )
    probs = np.array([list(r.probabilities.values()) for r in fresh])
    assert np.allclose(probs.sum(1), 1.0)
    assert all(r.severity == max(p.severity for p in r.photos) for r in fresh)


def test_members_trained_in_worker_processes_are_the_same(toy, tmp_path):
    _, data = toy
    steps = []
    config = GraderConfig(epochs=2, **{**TINY, "members": 2, "workers": 2})
    assert member_workers(config) == 2
    side_by_side = train_grader_model(
        config, data, tmp_path / "pool", on_epoch=lambda e, r: steps.append(e)
    )
    one_by_one = train_grader_model(
        config.model_copy(update={"workers": 1}), data, tmp_path / "loop"
    )
    a = GraderPredictor.load(side_by_side.model_dir, engine="torch").net.state_dict()
    b = GraderPredictor.load(one_by_one.model_dir, engine="torch").net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(steps) == [1, 2, 3, 4]  # every member's epochs reach the hook as they end
    assert len(side_by_side.history) == 4


def test_worker_count_follows_members_and_cpus():
    assert member_workers(GraderConfig(members=1)) == 1
    assert member_workers(GraderConfig(members=3, workers=8)) == 3
    assert member_workers(GraderConfig(members=3, workers=1)) == 1
    assert 1 <= member_workers(GraderConfig(members=3)) <= 3


def test_automatic_workers_time_share_up_to_twice_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert member_workers(GraderConfig(members=3)) == 3  # no core idles on a last member
    assert member_workers(GraderConfig(members=6)) == 4
    assert member_workers(GraderConfig(members=6, threads=2)) == 2
    assert member_workers(GraderConfig(members=6), to_train=1) == 1


@pytest.mark.parametrize("text", ["members = 0", "workers = -1", 'members_from = "run"'])
def test_members_and_workers_are_checked(tmp_path, text):
    path = tmp_path / "grader.toml"
    path.write_text(text + "\n")
    with pytest.raises(DataError, match=text.split()[0]):
        load_config(path)


def _state(model_dir):
    net = GraderPredictor.load(model_dir, engine="torch").net
    members = net.members if isinstance(net, GraderEnsemble) else [net]
    return [m.state_dict() for m in members]


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_an_ensemble_grows_from_trained_networks(toy, tmp_path):
    """`members_from`: reused networks are kept as they are; only the missing members train,
    from seeds the reused ones did not use, each the network a single run of that seed gives."""
    _, data = toy
    seed0 = train_grader_model(GraderConfig(epochs=2, **TINY), data, tmp_path / "seed0")
    seed1 = train_grader_model(GraderConfig(epochs=2, **TINY, seed=1), data, tmp_path / "seed1")
    steps = []
    grown = train_grader_model(
        GraderConfig(epochs=2, **{**TINY, "members": 2}, members_from=[str(seed0.model_dir)]),
        data,
        tmp_path / "grown",
        on_epoch=lambda e, r: steps.append((e, r["member"])),
    )
    assert steps == [(3, 1.0), (4, 1.0)]  # only the second member trained, in its own slot
    kept, trained = _state(grown.model_dir)
    assert _same(kept, _state(seed0.model_dir)[0])
    assert _same(trained, _state(seed1.model_dir)[0])
    info = json.loads((grown.model_dir / "config.json").read_text())["info"]
    assert info["member_seeds"] == [0, 1] and info["members_from"] == [str(seed0.model_dir)]
    # reusing the seed-1 network, the one left to train is seed 0's (seed 1 is taken)
    other = train_grader_model(
        GraderConfig(epochs=2, **{**TINY, "members": 2}, members_from=[str(seed1.model_dir)]),
        data,
        tmp_path / "other",
    )
    reused, trained = _state(other.model_dir)
    assert _same(reused, _state(seed1.model_dir)[0])
    assert _same(trained, _state(seed0.model_dir)[0])
    # nothing left to train: the whole ensemble is reused, then calibrated on val again
    both = train_grader_model(
        GraderConfig(epochs=2, **{**TINY, "members": 2}, members_from=[str(grown.model_dir)]),
        data,
        tmp_path / "both",
        on_epoch=lambda e, r: steps.append(e),
    )
    assert len(steps) == 2 and both.history == []
    again, first = _state(both.model_dir), _state(grown.model_dir)
    assert len(again) == 2 and all(_same(a, b) for a, b in zip(again, first, strict=True))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image_size": 40}, "image_size is 32, this run's is 40"),
        ({"backbone": "resnet10t_half"}, "backbone is 'resnet10t_quarter'"),
        ({"members": 1, "twice": True}, "2 networks to reuse, but members = 1"),
        ({"members": 3, "twice": True}, "the same seed twice: \\[0\\]"),
        ({"source": "no-model"}, "not a grader model folder"),
    ],
)
def test_members_that_do_not_fit_are_refused(toy, tmp_path_factory, change, message):
    root, data = toy
    tmp = tmp_path_factory.mktemp("reuse")
    source = train_grader_model(GraderConfig(epochs=1, **TINY), data, tmp / "seed0").model_dir
    if change.pop("source", None):
        source = tmp
    sources = [str(source)] * (2 if change.pop("twice", False) else 1)
    config = GraderConfig(epochs=1, **{**TINY, "members": 2, **change}, members_from=sources)
    if config.image_size != TOY_SIZE:
        data, _ = load_photoset(root, config.image_size)
    with pytest.raises(DataError, match=message) as caught:
        train_grader_model(config, data, tmp / "out")
    assert str(source) in str(caught.value) or "members_from" in str(caught.value)
    assert not (tmp / "out").exists()  # nothing written


def test_the_command_names_a_members_from_that_is_not_a_model(toy, tmp_path, monkeypatch):
    root, _ = toy
    monkeypatch.chdir(tmp_path)  # any run folder or registry would be made here
    args = ["train", "grader", "--data", str(root), "--out", str(tmp_path / "run")]
    missing = CliRunner().invoke(app, [*args, "--members-from", str(tmp_path / "nothing")])
    assert missing.exit_code == 2, missing.output
    assert "nothing: no such model folder" in missing.output
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(app, [*args, "--members-from", str(tmp_path / "empty")])
    assert empty.exit_code == 2, empty.output
    assert "--members-from" in empty.output and "not a grader model folder" in empty.output
    config = tmp_path / "grader.toml"
    config.write_text(f'members_from = ["{tmp_path / "gone"}"]\n')
    in_file = CliRunner().invoke(app, [*args, "--config", str(config)])
    assert in_file.exit_code == 2, in_file.output
    assert "gone: no such model folder" in in_file.output
    assert not (tmp_path / "run").exists()
