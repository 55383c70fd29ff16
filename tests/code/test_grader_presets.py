"""Grader presets chosen by the data: drawn damage only on the generator's own data, one
network and fewer epochs on small real sets, the input size capped at the photos' size, the
user's settings always kept, and the choice written where the user sees it."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from features.photos import DATASET_INFO
from tests.code.conftest import TINY, TOY_SIZE
from training.grader.config import GraderConfig, load_config
from training.grader.presets import (
    PRESETS,
    SMALL_ITEMS,
    PhotoFacts,
    describe_preset,
    is_generated,
    photo_facts,
    resolve_preset,
)
from training.grader.toy import write_toy_dataset
from training.synth.photos import SYNTH_SOURCE, write_photos

DEFAULTS = GraderConfig()


def _facts(items=100, side=400, generated=False):
    return PhotoFacts(items=items, photos=3 * items, median_side=side, generated=generated)


def test_auto_on_the_generators_data_keeps_the_synthetic_recipe_exactly():
    config, record = resolve_preset(GraderConfig(), _facts(items=1500, side=224, generated=True))
    assert record["chosen"] == "synthetic" and record["applied"] == {}
    # the recipe its targets were measured with: the point-estimate review cut included
    assert config.to_dict() == DEFAULTS.to_dict() and config.review_level == 0.0
    assert config.damage_share == 0.2 and config.members == 3 and config.epochs == 120


def test_auto_on_small_real_data_draws_no_damage_and_trains_one_network():
    config, record = resolve_preset(GraderConfig(), _facts(items=227, side=300))
    assert record["chosen"] == "real-small" and "227 items" in record["reason"]
    assert (config.damage_share, config.members, config.epochs) == (0.0, 1, 60)
    assert config.image_size == DEFAULTS.image_size  # photos larger than the input: kept
    assert config.review_level == 0.95  # the review cut keeps its finite-sample bound
    assert config.crossfit_folds == 5  # calibrated on out-of-fold scores of train+val
    assert config.augment == "light"  # under `geometric` small real sets were not even fitted
    assert not config.keep_best  # the last state: a few dozen val items pick an early one
    assert config.decision == "shares"  # a weak score still calls every grade


def test_only_the_real_presets_change_the_augmentation_and_the_users_choice_wins():
    assert DEFAULTS.augment == "geometric" and "augment" not in PRESETS["synthetic"]
    assert DEFAULTS.keep_best and "keep_best" not in PRESETS["synthetic"]
    for items in (50, SMALL_ITEMS):
        assert resolve_preset(GraderConfig(), _facts(items=items))[0].augment == "light"
    given = GraderConfig(augment="geometric")
    config, record = resolve_preset(given, _facts(items=50))
    assert config.augment == "geometric" and record["user_settings_kept"]["augment"] == "geometric"


def test_auto_on_larger_real_data_drops_the_drawn_damage_and_bounds_the_review_cut():
    config, record = resolve_preset(GraderConfig(), _facts(items=SMALL_ITEMS, side=300))
    assert record["chosen"] == "real"
    changed = {k for k, v in config.to_dict().items() if v != DEFAULTS.to_dict()[k]}
    assert changed == {"damage_share", "review_level", "augment", "keep_best", "epochs"}
    assert config.decision == DEFAULTS.decision == "median"  # a full set's score is strong
    assert (config.damage_share, config.review_level) == (0.0, 0.95)
    assert config.augment == "light" and not config.keep_best
    assert (config.members, config.epochs) == (DEFAULTS.members, 60)  # three networks, 60 epochs


def test_settings_the_user_gave_win_over_the_preset(tmp_path):
    path = tmp_path / "g.toml"
    path.write_text("[grader]\ndamage_share = 0.3\n")
    given = load_config(path, members=2)
    config, record = resolve_preset(given, _facts(items=50))
    assert (config.damage_share, config.members, config.epochs) == (0.3, 2, 60)
    assert record["user_settings_kept"] == {"damage_share": 0.3, "members": 2}
    assert record["applied"] == {
        "review_level": 0.95,
        "augment": "light",
        "keep_best": False,
        "epochs": 60,
        "crossfit_folds": 5,
        "decision": "shares",
    }
    assert "your settings kept: damage_share, members" in describe_preset(record)


def test_a_named_preset_is_used_whatever_the_data():
    config, record = resolve_preset(GraderConfig(preset="real"), _facts(items=1500, generated=True))
    assert record == {**record, "requested": "real", "chosen": "real"}
    assert config.damage_share == PRESETS["real"]["damage_share"]


def test_the_input_size_is_capped_at_the_photos_size():
    config, record = resolve_preset(GraderConfig(), _facts(items=50, side=64))
    assert config.image_size == 64 and "median short side 64" in record["reason"]
    # never below the floor, and an explicit size is kept
    assert resolve_preset(GraderConfig(), _facts(side=10))[0].image_size == 32
    assert resolve_preset(GraderConfig(image_size=128), _facts(side=64))[0].image_size == 128


def test_facts_are_read_from_the_folder_without_decoding(toy):
    root, _ = toy
    facts = photo_facts(root)
    assert facts == PhotoFacts(items=48, photos=96, median_side=TOY_SIZE, generated=False)


def test_the_generator_marks_its_photo_folder(tmp_path):
    items = pd.DataFrame(
        {
            "item_id": ["u1", "u2"],
            "category": ["phone", "phone"],
            "brand": ["acme", "acme"],
            "grade": ["A", "C"],
            "counterfeit": [0, 0],
            "split": ["train", "test"],
        }
    )
    write_photos(items, tmp_path / "photos", photos_per_item=1, image_size=48, seed=1)
    info = json.loads((tmp_path / "photos" / DATASET_INFO).read_text())
    assert info["source"] == SYNTH_SOURCE
    assert photo_facts(tmp_path / "photos").generated
    # any other source, or an unreadable file, is not the generator's
    (tmp_path / "photos" / DATASET_INFO).write_text('{"source": "my camera"}')
    assert not is_generated(tmp_path / "photos")
    (tmp_path / "photos" / DATASET_INFO).write_text("not json")
    assert not is_generated(tmp_path / "photos")


def test_a_synth_folder_written_before_the_marker_is_still_the_generators(tmp_path):
    write_toy_dataset(tmp_path / "photos", n_items=6, image_size=32)
    assert not is_generated(tmp_path / "photos")
    (tmp_path / "damage.csv").write_text("image,item_id,view,kind,severity\n")
    (tmp_path / "truth.csv").write_text("item_id\n")
    assert is_generated(tmp_path / "photos")


def test_the_run_and_the_model_say_which_preset_was_chosen_and_why(toy, tmp_path, settings, capsys):
    from training.grader.pipeline import train_grader

    root, _ = toy
    config = GraderConfig(epochs=1, **TINY)
    result = train_grader(config, root, tmp_path / "run", settings, register=False)
    log = capsys.readouterr().err
    assert "preset: real-small (48 items (< 500)" in log and "split: the manifest's" in log
    # 6 val items cannot show 0.97 accuracy at 95% confidence: nothing is answered alone
    assert "every item goes to review" in log
    assert result.metrics["auto_coverage"] == 0.0 and result.metrics["auto_accuracy"] is None
    run_config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert run_config["preset"]["chosen"] == "real-small"
    assert run_config["preset"]["user_settings_kept"]["epochs"] == 1
    assert run_config["damage_share"] == 0.0 and run_config["split"]["source"] == "manifest"
    # real-small cross-fits: 5 folds of the 42 train+val items, said in the log and both configs
    assert "cross-fitting: 5 folds of the 42 train+val items" in log
    assert run_config["crossfit_folds"] == 5 and run_config["crossfit"]["items"] == 42
    model_info = json.loads((result.model_dir / "config.json").read_text())["info"]
    assert model_info["preset"] == run_config["preset"]
    assert model_info["crossfit"]["folds"] == 5 and model_info["review"]["items"] == 42
    # the resolved settings are what the model records as its training config (retrain reuses)
    meta = json.loads((result.model_dir / "artifact.json").read_text())
    assert meta["training_config"]["damage_share"] == 0.0


@pytest.mark.parametrize("name", ["fast", "Real"])
def test_an_unknown_preset_is_refused_by_name(name):
    from features.problems import DataError

    with pytest.raises(DataError, match="setting 'preset'"):
        load_config(None, preset=name)
