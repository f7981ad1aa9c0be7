"""Checkpoint file -> predictor: the one entry point the registry, the GUI and the
evaluation harness use to run a click model."""
from __future__ import annotations

import os
from typing import Callable

import torch

from engine.checkpoints import CheckpointError, CheckpointInfo, build_model, read_checkpoint
from engine.device import resolve_device
from engine.inference.options import InferenceOptions, with_taiz
from engine.predictor import Predictor

PredictorFactory = Callable[[list[CheckpointInfo], torch.device, InferenceOptions], Predictor]


def _ritm(infos: list[CheckpointInfo], device: torch.device,
          options: InferenceOptions) -> Predictor:
    """RITM and original f-BRS checkpoints: NoBRS or one of the BRS modes."""
    from engine.inference.brs import BRSSettings, brs_predictor_class
    from engine.inference.ritm import RITMPredictor
    from engine.inference.zoom import ZoomIn

    models = [build_model(info, device) for info in infos]
    common = dict(with_flip=options.with_flip, max_size=options.max_size,
                  zoom_in=ZoomIn(target_size=options.zoom_target_size) if options.zoom_in else None)
    if not options.brs_mode.refines:
        return RITMPredictor(models, device, net_clicks_limit=options.net_clicks_limit, **common)
    if len(models) > 1:
        raise CheckpointError(f"{infos[0].title} is an ensemble, which runs only without BRS "
                              "(as official): choose NoBRS")
    try:
        predictor = brs_predictor_class(options.brs_mode)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    # A None limit takes the mode's official default (8 or 5).
    return predictor(models[0], device, brs_mode=options.brs_mode,
                     settings=BRSSettings(max_evaluations=options.lbfgs_max_evals),
                     net_clicks_limit=options.net_clicks_limit, **common)


def _focalclick(infos: list[CheckpointInfo], device: torch.device,
                options: InferenceOptions) -> Predictor:
    from engine.inference.focalclick import FocalClickPredictor

    if options.brs_mode.refines:
        raise CheckpointError(f"FocalClick has no BRS modes ({options.brs_mode!r} asked); "
                              "use NoBRS")
    return FocalClickPredictor(build_model(infos[0], device), device,
                               zoom_in=options.zoom_in, expansion_ratio=options.target_crop_r,
                               focus_crop_r=options.focus_crop_r,
                               with_flip=options.focalclick_with_flip,
                               net_clicks_limit=options.net_clicks_limit)


# checkpoint family -> predictor builder; engines register here.
PREDICTOR_FACTORIES: dict[str, PredictorFactory] = {
    "ritm": _ritm,
    "fbrs": _ritm,
    "focalclick": _focalclick,
}


def load_predictor(path: str | os.PathLike, device: str | torch.device = "auto",
                   options: InferenceOptions | None = None) -> Predictor:
    """Read the checkpoint at ``path`` (safely, see ``engine.checkpoints``) and return a
    predictor running it on ``device`` with ``options``.

    Raises :class:`CheckpointError` for a file Clickmask cannot run, saying why.
    """
    infos = read_checkpoint(path)
    factory = PREDICTOR_FACTORIES.get(infos[0].family)
    if factory is None:
        raise CheckpointError(f"{infos[0].title}: Clickmask has no predictor for "
                              f"{infos[0].family} checkpoints yet")
    options = options or InferenceOptions()
    return with_taiz(factory(infos, resolve_device(device), options), options)
