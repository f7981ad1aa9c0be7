"""Inference options: per-engine classes with their bounds, BRS modes as an enum, and the
settings keys derived from the classes (old settings still load)."""
from __future__ import annotations

from dataclasses import fields

import pytest
from PySide6.QtCore import QSettings

from annotator.model_settings import ModelSettings
from engine.inference.option_fields import Bounds, bounds_of, saved_fields
from engine.inference.options import (BRSMode, FocalClickOptions, InferenceOptions,
                                      RITMOptions, TAIZOptions)
from engine.inference.taiz import TAIZConfig


def test_inference_options_are_every_engines_options_together() -> None:
    options = InferenceOptions(focalclick_with_flip=True, max_size=900, taiz=True)
    assert isinstance(options, RITMOptions) and isinstance(options, FocalClickOptions)
    assert isinstance(options, TAIZOptions)
    names = {f.name for f in fields(InferenceOptions)}
    for part in (RITMOptions, FocalClickOptions, TAIZOptions):
        assert {f.name for f in fields(part)} <= names
    assert "brs_mode" not in {f.name for f in fields(FocalClickOptions)}
    assert "focus_crop_r" not in {f.name for f in fields(RITMOptions)}


def test_each_engine_declares_its_bounds() -> None:
    assert bounds_of(InferenceOptions, "zoom_target_size") == Bounds(100, 1600)
    assert bounds_of(RITMOptions, "max_size") == Bounds(200, 8000, off=True)
    assert bounds_of(FocalClickOptions, "net_clicks_limit") == Bounds(1, 100, off=True)
    assert bounds_of(TAIZConfig, "max_clicks") == Bounds(1, 100)
    with pytest.raises(KeyError):
        bounds_of(InferenceOptions, "with_flip")
    limit = bounds_of(InferenceOptions, "net_clicks_limit")
    assert None in limit and 1 in limit and 100 in limit
    assert 0 not in limit and 101 not in limit and True not in limit and 5.0 not in limit
    assert None not in Bounds(1, 10)


def test_brs_modes_are_an_enum_that_reads_the_official_names() -> None:
    assert [str(mode) for mode in BRSMode] == [
        "NoBRS", "f-BRS-A", "f-BRS-B", "f-BRS-C", "RGB-BRS", "DistMap-BRS"]
    options = InferenceOptions(brs_mode="f-BRS-B")
    assert options.brs_mode is BRSMode.FBRS_B and options.brs_mode == "f-BRS-B"
    assert f"{options.brs_mode}" == "f-BRS-B"
    assert {"f-BRS-B": "B"}[options.brs_mode] == "B"  # the models' insertion tables
    assert not BRSMode.NONE.refines and BRSMode.RGB.refines
    assert (BRSMode.FBRS_C.default_net_clicks_limit,
            BRSMode.DISTMAP.default_net_clicks_limit) == (8, 5)
    with pytest.raises(ValueError):
        InferenceOptions(brs_mode="f-BRS-D")
    with pytest.raises(ValueError):
        BRSMode.NONE.default_net_clicks_limit


def test_settings_keys_come_from_the_saved_fields(qapp) -> None:
    assert [f.name for f in saved_fields(TAIZConfig)] == ["blend_start", "max_clicks"]
    QSettings().clear()
    options = InferenceOptions(zoom_target_size=700, brs_mode=BRSMode.RGB, net_clicks_limit=4,
                               lbfgs_max_evals=9, max_size=None, taiz=True,
                               taiz_config=TAIZConfig(blend_start=3, max_clicks=6))
    ModelSettings(options=options).save()
    store = QSettings()
    assert sorted(key for key in store.allKeys() if key.startswith("inference/")) == sorted(
        f"inference/{name}" for name in (
            "zoom_in", "zoom_target_size", "max_size", "brs_mode", "net_clicks_limit",
            "lbfgs_max_evals", "taiz", "taiz_blend_start", "taiz_max_clicks"))
    assert store.value("inference/brs_mode") == "RGB-BRS"
    assert int(store.value("inference/max_size")) == 0  # None is saved as 0
    assert ModelSettings.saved()[0].options == options


def test_settings_written_by_the_old_hand_kept_key_list_still_load(qapp) -> None:
    QSettings().clear()
    store = QSettings()
    for key, value in (("inference/zoom_in", "false"), ("inference/zoom_target_size", "500"),
                       ("inference/max_size", "0"), ("inference/brs_mode", "f-BRS-C"),
                       ("inference/net_clicks_limit", "0"), ("inference/lbfgs_max_evals", "30"),
                       ("inference/taiz", "true"), ("inference/taiz_blend_start", "5"),
                       ("inference/taiz_max_clicks", "8")):
        store.setValue(key, value)  # INI files give strings back
    options = ModelSettings.saved()[0].options
    assert (options.zoom_in, options.zoom_target_size, options.max_size, options.brs_mode,
            options.net_clicks_limit, options.lbfgs_max_evals, options.taiz,
            options.taiz_config.blend_start, options.taiz_config.max_clicks) == (
        False, 500, None, BRSMode.FBRS_C, None, 30, True, 5, 8)
    store.setValue("inference/lbfgs_max_evals", "5000")  # out of bounds: the default
    store.setValue("inference/brs_mode", "Magic-BRS")
    options = ModelSettings.saved()[0].options
    assert options.lbfgs_max_evals == 20 and options.brs_mode is BRSMode.NONE
