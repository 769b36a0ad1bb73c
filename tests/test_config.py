"""The typed run config: what config.json and checkpoints hold reads back to the same config, and
every wrong setting is refused with a message naming it."""
from __future__ import annotations

import dataclasses
import json

import pytest

from asdcore.config import RunConfig, parse_value
from asdcore.recipes import PRESETS, RECIPES, describe_preset, resolve


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_every_recipe_and_preset_round_trips_through_json(recipe):
    for preset in PRESETS:
        config = resolve(recipe, preset)
        assert isinstance(config, RunConfig)
        again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
        assert again == config and again.to_dict() == config.to_dict()


def test_recipes_are_run_configs_and_presets_change_only_copies():
    recipe = RECIPES["tastgram-noisy-arcmix"]
    assert isinstance(recipe.config, RunConfig) and recipe.config.recipe == "tastgram-noisy-arcmix"
    before = recipe.config.to_dict()
    paper = resolve("tastgram-noisy-arcmix", "paper", {"m": 0.5})
    assert (paper.train.epochs, paper.loss.get("m"), paper.features.variant) == (300, 0.5, "noisy_arcmix")
    assert recipe.config.to_dict() == before  # the recipe itself is unchanged
    with pytest.raises(dataclasses.FrozenInstanceError):
        paper.seed = 3


def test_dotted_and_short_keys_set_the_same_setting():
    a = resolve("stgram-arcface", "tiny", {"train.lr": 0.01, "loss.m": 0.3, "data.clip_seconds": 1.5})
    b = resolve("stgram-arcface", "tiny", {"lr": 0.01, "m": 0.3, "clip_seconds": 1.5})
    assert a == b and (a.train.lr, a.loss.get("m"), a.data.clip_seconds) == (0.01, 0.3, 1.5)
    assert a.get("lr") == 0.01 and a.get("features.n_mels") == 128


@pytest.mark.parametrize("settings, error, words", [
    ({"train.epoch": 3}, KeyError, "unknown setting 'train.epoch'; known in train: amp"),
    ({"trian.epochs": 3}, KeyError, "unknown setting 'trian.epochs'"),
    ({"loss.mm": 0.5}, KeyError, "loss.mm for loss 'arcface'; known: m, s"),
    ({"model.widht": 2}, KeyError, "model.widht for model 'stgram_mfn'"),
    ({"model.name": "resnet"}, ValueError, "unknown model 'resnet'"),
    ({"train.lr": "fast"}, ValueError, "train.lr must be float, got 'fast'"),
    ({"train.epochs": 2.5}, ValueError, "train.epochs must be int, got 2.5"),
    ({"eval.umap": "yes"}, ValueError, "eval.umap must be bool"),
    ({"data.roots": "data/toy"}, ValueError, "data.roots must be list"),
    ({"train.schedule": "linear"}, ValueError, "train.schedule must be one of cosine, cosine_epoch, constant"),
    ({"train.optimizer": "sgd"}, ValueError, "train.optimizer must be one of adamw, adam"),
    ({"eval.backend": "mahalanobis"}, ValueError, "eval.backend(s) must be one of softmax"),
    ({"m": 3.5}, ValueError, "loss.m must be an angle in radians"),
    ({"features.variant": "mfcc"}, ValueError, "features.variant must be one of stgram, noisy_arcmix"),
    ({"features.mel_scale": "bark"}, ValueError, "mel_scale must be 'htk' or 'slaney'"),
])
def test_wrong_settings_are_refused_by_name(settings, error, words):
    with pytest.raises(error) as caught:
        resolve("stgram-arcface", "tiny", settings)
    assert words in str(caught.value.args[0])


def test_config_json_with_an_unknown_key_is_refused_by_name():
    d = resolve("stgram-ce", "tiny").to_dict()
    d["train"]["warmup"] = 5
    with pytest.raises(KeyError, match="warmup in train"):
        RunConfig.from_dict(d)
    d = resolve("stgram-ce", "tiny").to_dict()
    del d["model"]
    with pytest.raises(ValueError, match="no 'model' section"):
        RunConfig.from_dict(d)


def test_a_config_written_before_a_setting_existed_reads_with_its_default():
    d = resolve("tastgram-ce", "tiny").to_dict()
    del d["data"]["val_split"], d["train"]["eta_min_ratio"]
    config = RunConfig.from_dict(d)
    assert (config.data.val_split, config.train.eta_min_ratio) == ("per_class", 0.0)


def test_set_values_parse_as_json_else_stay_strings():
    assert [parse_value(v) for v in ("3", "0.5", "true", "null", "[1, 2]", "cpu")] == [3, 0.5, True, None, [1, 2],
                                                                                       "cpu"]


def test_preset_descriptions_state_each_presets_own_budget():
    for preset, settings in PRESETS.items():
        text = describe_preset(preset)
        assert f"{settings['train.epochs']} epochs" in text and f"{settings['data.clip_seconds']:g} s clips" in text


def test_replacing_the_loss_drops_the_old_losses_options_but_checks_those_given():
    """`--set loss.name=focal` on a margin recipe (JLESS's focal-loss variant) once failed on ArcFace's
    m, which the focal loss does not take."""
    from asdcore.recipes import resolve

    focal = resolve("jless-mfn", "quick", {"loss.name": "focal"})
    assert focal.loss.name == "focal" and "m" not in focal.loss.options and focal.loss.options["s"] == 30.0
    assert resolve("jless-mfn", "quick", {"loss.name": "focal", "loss.gamma": 1.0}).loss.options["gamma"] == 1.0
    with pytest.raises(KeyError, match="loss.m for loss 'focal'"):  # named in the same settings: still checked
        resolve("jless-mfn", "quick", {"loss.name": "focal", "loss.m": 0.5})
    assert resolve("jless-mfn", "quick").loss.options == {"s": 30.0, "m": 0.7}  # the recipe itself unchanged
