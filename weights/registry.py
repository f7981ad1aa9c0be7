"""Model names -> predictor builders (one entry point, like timm's ``create_model``).

Neural entries name their released checkpoint (file, source URL, size, integrity value);
the file is looked for in the user data directory's ``weights/`` folder. The embedded
GrabCut default needs no file, so the app always has a working engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.inference.grabcut import GrabCutPredictor
from engine.paths import data_dir
from engine.predictor import Predictor

RITM_RELEASE = "https://github.com/saic-vul/ritm_interactive_segmentation/releases/download/v1.0/"


class WeightsNotFound(FileNotFoundError):
    """A registered model whose checkpoint file is not on this machine."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    title: str
    description: str
    build: Callable[[str], Predictor]  # device ("auto", "cpu", "cuda") -> predictor
    checkpoint: str | None = None  # file name of the released checkpoint
    url: str | None = None
    size_mb: float | None = None
    git_blob: str | None = None  # SHA-1 git blob id, where a public copy fixes it

    @property
    def needs_download(self) -> bool:
        return self.checkpoint is not None and not checkpoint_path(self).exists()


def weights_dir() -> Path:
    path = data_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_path(entry: ModelEntry) -> Path:
    assert entry.checkpoint is not None
    return weights_dir() / entry.checkpoint


def _checkpoint_builder(name: str) -> Callable[[str], Predictor]:
    def build(device: str) -> Predictor:
        # torch and the networks load only when a neural model is chosen.
        from engine.inference.factory import load_predictor

        entry = MODELS[name]
        path = checkpoint_path(entry)
        if not path.exists():
            raise WeightsNotFound(f"{entry.title} needs {entry.checkpoint}, which is not in "
                                  f"{path.parent}; download it from {entry.url}")
        return load_predictor(path, device)
    return build


def _ritm(name: str, file: str, title: str, description: str, size_mb: float,
          git_blob: str | None) -> ModelEntry:
    return ModelEntry(name, title, description, _checkpoint_builder(name), file,
                      RITM_RELEASE + file, size_mb, git_blob)


MODELS: dict[str, ModelEntry] = {
    "grabcut": ModelEntry(
        name="grabcut",
        title="GrabCut (embedded)",
        description="Weights-free default: OpenCV GrabCut seeded by the clicks, on a crop "
                    "around them. Works everywhere, no download.",
        build=lambda device: GrabCutPredictor(),
    ),
    **{entry.name: entry for entry in (
        _ritm("ritm-hrnet18s-cocolvis-itm", "coco_lvis_h18s_itermask.pth",
              "RITM HRNet-18s ITER-M (COCO+LVIS)",
              "The fast RITM model: HRNet-18s + OCR-48 with the previous mask.", 16.5,
              "4ce03fbea3bb2ea9656d3395762c3c2044524002"),
        _ritm("ritm-hrnet18-cocolvis-itm", "coco_lvis_h18_itermask.pth",
              "RITM HRNet-18 ITER-M (COCO+LVIS)",
              "HRNet-18 + OCR-64 with the previous mask.", 38.8,
              "644200a8cac6cd2d9cae887221291ea5864d9d33"),
        _ritm("ritm-hrnet32-cocolvis-itm", "coco_lvis_h32_itermask.pth",
              "RITM HRNet-32 ITER-M (COCO+LVIS)",
              "The most accurate RITM model: HRNet-32 + OCR-128 with the previous mask.", 119,
              None),
        _ritm("ritm-hrnet18-cocolvis-baseline", "coco_lvis_h18_baseline.pth",
              "RITM HRNet-18 baseline (COCO+LVIS)",
              "HRNet-18 + OCR-64 without the previous mask.", 38.8,
              "35124d030931747dc1e421f523c53ec75f6f4a50"),
        _ritm("ritm-hrnet18-sbd-itm", "sbd_h18_itermask.pth", "RITM HRNet-18 ITER-M (SBD)",
              "HRNet-18 + OCR-64 with the previous mask, trained on SBD.", 38.8,
              "affba1b47461b3ae0d2a905c8c2d0ba628c1dc90"),
    )},
}

DEFAULT_MODEL = "grabcut"


def build_predictor(name: str = DEFAULT_MODEL, device: str = "auto") -> Predictor:
    """Create the predictor registered as ``name`` on ``device``."""
    try:
        entry = MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None
    return entry.build(device)
