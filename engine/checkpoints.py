"""Reading click-model checkpoints safely and saying what they are.

Only ``torch.load(weights_only=True)`` is used: a file that holds anything but tensors and
plain Python data (a pickled class, a function call) is refused, never executed. The
architecture is identified from the file's content, never from its name, and never by
importing the class path written in it:

- RITM and FocalClick files are ``{'state_dict': ..., 'config': {'class', 'params'}}``
  (a list of them is an RITM ensemble);
- original f-BRS files are a bare state dict, told apart by their keys and shapes.

Files may be xz-compressed (``.xz``); they are decompressed in memory. What is read and
inflated is bounded (``engine.checkpoint_file``), and a config's parameters and every
tensor's shape are checked against the network before any real network is built
(``engine.model_config``): a bad file is a :class:`CheckpointError` naming the parameter or
tensor, never a raw RuntimeError or a huge allocation.
"""
from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

# CheckpointError is defined with the file reading and is this module's error too.
from engine.checkpoint_file import ZIP_MAGIC, CheckpointError, first_line, read_checkpoint_bytes
from engine.model_config import config_problems

_HRNET_CLASS = "isegm.model.is_hrnet_model.HRNetModel"
_SEGFORMER_CLASS = "isegm.model.is_segformer_model.SegFormerModel"
_DEEPLAB_CLASS = "isegm.model.is_deeplab_model.DeeplabModel"

# RITM/FocalClick HRNet variants by (width, small): the names the papers and repos use.
_HRNET_NAMES = {(18, True): "HRNet-18s", (18, False): "HRNet-18", (32, False): "HRNet-32",
                (48, False): "HRNet-48"}


@dataclass(frozen=True)
class CheckpointInfo:
    """What one checkpoint holds.

    ``family`` is "ritm", "focalclick" or "fbrs"; ``architecture`` "hrnet", "segformer" or
    "deeplab"; ``params`` the constructor parameters stored in the file (values only; for
    f-BRS files, those inferred from the keys); ``title`` a name for people.
    """

    family: str
    architecture: str
    title: str
    params: dict[str, Any]
    state_dict: Mapping[str, torch.Tensor] = field(repr=False)


def read_checkpoint(path: str | os.PathLike) -> list[CheckpointInfo]:
    """Load and identify a checkpoint file: one entry, or several for an RITM ensemble.

    Raises :class:`CheckpointError` for anything that is not a checkpoint we know.
    """
    path = Path(path)
    data = _load(path)
    entries = data if isinstance(data, list) else [data]
    if not entries:
        raise CheckpointError(f"{path.name} holds an empty list, not a checkpoint")
    infos = [identify(entry, path.name) for entry in entries]
    if len(infos) > 1 and any(i.family != "ritm" for i in infos):
        raise CheckpointError(f"{path.name} is a list of checkpoints, but only RITM files "
                              "come as ensembles")
    return infos


def identify(data: Any, name: str = "the checkpoint") -> CheckpointInfo:
    """Say what a loaded checkpoint object is (see the module docstring)."""
    if isinstance(data, Mapping) and "state_dict" in data and "config" in data:
        return _identify_isegm(data, name)
    if isinstance(data, Mapping) and data and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                  for k, v in data.items()):
        return _identify_fbrs(data, name)
    raise CheckpointError(f"{name} is a PyTorch file but not a click-model checkpoint "
                          "(expected RITM/FocalClick 'state_dict' + 'config', or an f-BRS "
                          "state dict)")


def _load(path: Path) -> Any:
    raw = read_checkpoint_bytes(path)
    if not raw.startswith((ZIP_MAGIC, b"\x80")):
        # Neither torch's zip format nor its legacy pickle stream (protocol >= 2).
        raise CheckpointError(f"{path.name} is not a PyTorch checkpoint (it is neither a "
                              "torch zip archive nor a pickle stream)")
    try:
        return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global outside torch's allow-list: a class, a function...
        raise CheckpointError(
            f"{path.name} contains pickled Python objects, not only weights, and was refused "
            f"so that nothing in it can run. Details: {first_line(exc)}") from exc
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, KeyError,
            AttributeError, ImportError, TypeError) as exc:
        raise CheckpointError(f"{path.name} is not a readable PyTorch checkpoint "
                              f"(damaged, truncated or another kind of file): "
                              f"{first_line(exc)}") from exc


def _identify_isegm(data: Mapping, name: str) -> CheckpointInfo:
    config, state_dict = data["config"], data["state_dict"]
    if not (isinstance(config, Mapping) and isinstance(config.get("class"), str)
            and isinstance(config.get("params"), Mapping)):
        raise CheckpointError(f"{name} has a malformed 'config' (no 'class' and 'params')")
    if not (isinstance(state_dict, Mapping)
            and all(isinstance(v, torch.Tensor) for v in state_dict.values())):
        raise CheckpointError(f"{name} has a malformed 'state_dict' (not a dict of tensors)")
    try:
        params = {k: v["value"] for k, v in config["params"].items()}
    except (TypeError, KeyError) as exc:
        raise CheckpointError(f"{name} has malformed config parameters: {exc!r}") from exc
    cls = config["class"]
    if cls == _SEGFORMER_CLASS:
        _check_config("focalclick", "segformer", params, name)
        version = str(params.get("model_version", "?")).upper()
        pipeline = str(params.get("pipeline_version", "?")).upper()
        return CheckpointInfo("focalclick", "segformer",
                              f"FocalClick SegFormer-{version} {pipeline}", params, state_dict)
    if cls == _HRNET_CLASS:
        # Only FocalClick's HRNetModel has a pipeline.
        family = "focalclick" if "pipeline_version" in params else "ritm"
        _check_config(family, "hrnet", params, name)
        variant = _HRNET_NAMES.get((params.get("width"), bool(params.get("small"))),
                                   f"HRNet-{params.get('width')}")
        if family == "focalclick":
            pipeline = str(params["pipeline_version"]).upper()
            return CheckpointInfo("focalclick", "hrnet", f"FocalClick {variant} {pipeline}",
                                  params, state_dict)
        kind = "ITER-M (previous mask)" if params.get("with_prev_mask") else "baseline"
        return CheckpointInfo("ritm", "hrnet", f"RITM {variant} {kind}", params, state_dict)
    if cls == _DEEPLAB_CLASS:
        _check_config("ritm", "deeplab", params, name)
        backbone = str(params.get("backbone", "resnet50"))
        return CheckpointInfo("ritm", "deeplab", f"RITM DeepLabV3+ {backbone}", params,
                              state_dict)
    raise CheckpointError(f"{name} is a checkpoint of an unknown model class {cls!r}; "
                          "Clickmask reads RITM, FocalClick and f-BRS files")


def _check_config(family: str, architecture: str, params: Mapping[str, Any],
                  name: str) -> None:
    problems = config_problems(family, architecture, params)
    if problems:
        raise CheckpointError(f"{name} has an unusable config: {'; '.join(problems)}")


def _identify_fbrs(state_dict: Mapping[str, torch.Tensor], name: str) -> CheckpointInfo:
    # f-BRS files are bare state dicts whose first block fuses RGB with distance maps.
    fuse = state_dict.get("rgb_conv.0.weight")
    if fuse is None or tuple(fuse.shape) != (8, 5, 1, 1) or "rgb_conv.2.running_var" not in \
            state_dict:
        raise CheckpointError(f"{name} is a bare state dict but not an f-BRS checkpoint "
                              "(no distance-map fusion block 'rgb_conv')")
    if any("feature_extractor.stage2.0.branches" in key for key in state_dict):
        width = _channels(state_dict, "feature_extractor.stage2.0.branches.0.0.conv1.weight",
                          name)
        ocr = _channels(state_dict, "ocr_distri_head.object_context_block.f_down.1.0.bias",
                        name)
        small = sum("feature_extractor." in k for k in state_dict) < 1800
        params = {"width": width, "ocr_width": ocr, "small": small}
        _check_config("fbrs", "hrnet", params, name)
        variant = _HRNET_NAMES.get((width, small), f"HRNet-{width}")
        return CheckpointInfo("fbrs", "hrnet", f"f-BRS {variant} (OCR {ocr})", params,
                              state_dict)
    backbone_keys = [k for k in state_dict
                     if "feature_extractor.backbone" in k and "num_batches_tracked" not in k]
    depth = next((d for limit, d in ((181, 34), (276, 50), (531, 101))
                  if len(backbone_keys) <= limit), None)
    if depth is None or not backbone_keys:
        raise CheckpointError(f"{name} looks like an f-BRS DeepLab file but its backbone "
                              f"({len(backbone_keys)} tensors) matches no ResNet we know")
    deeplab_ch = _channels(state_dict, "aspp.project.0.weight", name)
    params = {"backbone": f"resnet{depth}", "deeplab_ch": deeplab_ch}
    _check_config("fbrs", "deeplab", params, name)
    return CheckpointInfo("fbrs", "deeplab", f"f-BRS DeepLabV3+ ResNet-{depth} "
                          f"(dh{deeplab_ch})", params, state_dict)


def _channels(state_dict: Mapping[str, torch.Tensor], key_part: str, name: str) -> int:
    """The first dimension of the first tensor whose key contains ``key_part`` (f-BRS files
    store no config: their parameters are read off the tensors)."""
    key, tensor = next(((k, v) for k, v in state_dict.items() if key_part in k), (None, None))
    if tensor is None or tensor.dim() == 0:
        raise CheckpointError(f"{name} looks like an f-BRS file but has no usable tensor "
                              f"'{key or key_part}' to read its size from")
    return int(tensor.shape[0])


def _ritm_hrnet(params: dict[str, Any]) -> torch.nn.Module:
    from engine.models.is_hrnet_model import HRNetModel  # torch models load only when used

    return _construct(HRNetModel, params)


def _focalclick(architecture: str) -> Callable[[dict[str, Any]], torch.nn.Module]:
    def construct(params: dict[str, Any]) -> torch.nn.Module:
        from engine.models.focalclick import FocalHRNetModel, SegFormerModel

        # S1 and S2 files hold identical tensors: only the config tells them apart.
        if params.get("pipeline_version") not in ("s1", "s2"):
            raise ValueError(f"FocalClick config without a valid pipeline_version "
                             f"({params.get('pipeline_version')!r}); S1 and S2 cannot be "
                             "told apart otherwise")
        model_class = SegFormerModel if architecture == "segformer" else FocalHRNetModel
        return _construct(model_class, params)
    return construct


def _ritm_deeplab(params: dict[str, Any]) -> torch.nn.Module:
    from engine.models.is_deeplab_model import DeeplabModel

    return _construct(DeeplabModel, params)


def _fbrs_deeplab(params: dict[str, Any]) -> torch.nn.Module:
    from engine.models.fbrs_models import FBRSDeeplabModel

    return _construct(FBRSDeeplabModel, params)


def _fbrs_hrnet(params: dict[str, Any]) -> torch.nn.Module:
    from engine.models.fbrs_models import FBRSHRNetModel

    return _construct(FBRSHRNetModel, params)


def _construct(model_class: type[torch.nn.Module], params: dict[str, Any]) -> torch.nn.Module:
    """``model_class(**params)``, keeping only the parameters its constructor takes.

    The official configs also store training-only parameters (norm layers, init flags...)
    that have no effect on inference.
    """
    from engine.models.is_model import constructor_params

    accepted = constructor_params(model_class)
    return model_class(**{k: v for k, v in params.items() if k in accepted})


# (family, architecture) -> constructor from the stored parameters: the one place that
# says which checkpoints Clickmask can run.
MODEL_CONSTRUCTORS: dict[tuple[str, str], Callable[[dict[str, Any]], torch.nn.Module]] = {
    ("ritm", "hrnet"): _ritm_hrnet,
    ("ritm", "deeplab"): _ritm_deeplab,
    ("fbrs", "deeplab"): _fbrs_deeplab,
    ("fbrs", "hrnet"): _fbrs_hrnet,
    ("focalclick", "segformer"): _focalclick("segformer"),
    ("focalclick", "hrnet"): _focalclick("hrnet"),
}


def build_model(info: CheckpointInfo, device: str | torch.device = "cpu",
                **overrides: Any) -> torch.nn.Module:
    """The network of a checkpoint, weights loaded strictly, in eval mode on ``device``.

    ``overrides`` replace stored constructor parameters (the official demo passes
    ``cpu_dist_maps=True``). Any missing or unexpected tensor is an error that names them.
    """
    constructor = MODEL_CONSTRUCTORS.get((info.family, info.architecture))
    if constructor is None:
        runnable = ", ".join(f"{f} {a}" for f, a in MODEL_CONSTRUCTORS)
        raise CheckpointError(f"this file is a {info.title} checkpoint; Clickmask does not "
                              f"run that architecture yet: pick one of: {runnable}")
    params = {**info.params, **overrides}
    _check_config(info.family, info.architecture, params, info.title)
    # The network is first built on the meta device, which allocates nothing: the file's
    # tensors are checked against its shapes before a real one is built and filled.
    with torch.device("meta"):
        skeleton = _construct_checked(constructor, params, info.title)
    _check_tensors(skeleton, info.state_dict, info.title)
    model = _construct_checked(constructor, params, info.title)
    try:
        model.load_state_dict(info.state_dict, strict=False)  # keys and shapes checked above
    except RuntimeError as exc:
        raise CheckpointError(f"{info.title}: the weights cannot be loaded: "
                              f"{first_line(exc)}") from exc
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.to(device).eval()


def _construct_checked(constructor: Callable[[dict[str, Any]], torch.nn.Module],
                       params: dict[str, Any], title: str) -> torch.nn.Module:
    try:
        return constructor(params)
    except (TypeError, ValueError, NotImplementedError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{title}: unsupported configuration: {first_line(exc)}") \
            from exc


def _check_tensors(skeleton: torch.nn.Module, state_dict: Mapping[str, torch.Tensor],
                   title: str) -> None:
    """Every tensor of the file has the shape the network needs, and none is missing or
    left over; the error names them."""
    expected = skeleton.state_dict()
    wrong = [f"'{key}' is {_shape(tensor)} in the file but the network needs "
             f"{_shape(expected[key])}" for key, tensor in state_dict.items()
             if key in expected and tensor.shape != expected[key].shape]
    wrong += [f"'{key}' holds {tensor.dtype} values where the network needs "
              f"{expected[key].dtype}" for key, tensor in state_dict.items()
              if key in expected and expected[key].is_floating_point()
              and not tensor.is_floating_point()]
    if wrong:
        raise CheckpointError(f"{title}: the weights do not fit the architecture its config "
                              f"describes: tensor {_first_three(wrong)}")
    # Loading into the skeleton (assigning, nothing is copied) lists the missing and
    # unexpected keys as the real load would, BatchNorm's optional counters included.
    result = skeleton.load_state_dict(state_dict, strict=False, assign=True)
    problems = [f"{len(keys)} {kind}: {_first_three(keys)}" for kind, keys in
                (("missing", result.missing_keys), ("unexpected", result.unexpected_keys))
                if keys]
    if problems:
        raise CheckpointError(f"{title}: the weights do not fit the architecture its "
                              f"config describes ({'; '.join(problems)})")


def _shape(tensor: torch.Tensor) -> str:
    return "x".join(map(str, tensor.shape)) or "a scalar"


def _first_three(items: list[str]) -> str:
    return ", ".join(items[:3]) + (f" and {len(items) - 3} more" if len(items) > 3 else "")
