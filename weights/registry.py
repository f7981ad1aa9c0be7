"""Model names -> predictor builders (one entry point, like timm's ``create_model``).

Neural entries name their released checkpoint (file, source URL, size, integrity value)
and what the file must contain (family, architecture, identifying parameters), so that a file
can be matched to its entry by content; the file is looked for in the user data directory's
``weights/`` folder. The embedded GrabCut default needs no file, so the app always has a
working engine. Downloading, verifying and importing files: ``weights.manager``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from engine.inference.grabcut import GrabCutPredictor
from engine.inference.options import InferenceOptions, with_taiz
from engine.paths import data_dir
from engine.predictor import Predictor

if TYPE_CHECKING:
    from engine.checkpoints import CheckpointInfo

RITM_RELEASE = "https://github.com/saic-vul/ritm_interactive_segmentation/releases/download/v1.0/"
FBRS_RELEASE = "https://github.com/saic-vul/fbrs_interactive_segmentation/releases/download/v1.0/"
# FocalClick's authors publish their weights only in this shared folder (no per-file links).
FOCALCLICK_FOLDER = ("https://drive.google.com/drive/folders/"
                     "1XzUlpPqbzAyMt009HVpEeW31ln1FeXfX?usp=sharing")
# A third party (the Supervisely app serve-clickseg) re-published the SegFormer files as
# GitHub release assets: unofficial, so downloads from it are checked by content and then
# trusted on first use like every file without a known hash.
FOCALCLICK_MIRROR = ("https://github.com/supervisely-ecosystem/serve-clickseg/releases/"
                     "download/v1.1.12/")
FAMILY_TITLES = {"ritm": "RITM", "fbrs": "f-BRS", "focalclick": "FocalClick"}
ARCHITECTURE_TITLES = {"hrnet": "HRNet", "deeplab": "DeepLabV3+", "segformer": "SegFormer"}


class WeightsNotFound(FileNotFoundError):
    """A registered model whose checkpoint file is not on this machine."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    title: str
    description: str
    # (device "auto" | "cpu" | "cuda", options) -> predictor
    build: Callable[[str, InferenceOptions], Predictor]
    checkpoint: str | None = None  # file name of the released checkpoint
    url: str | None = None  # the official source: the release file, or a page holding it
    size_mb: float | None = None
    git_blob: str | None = None  # SHA-1 git blob id, where a public copy fixes it
    family: str | None = None  # checkpoint family as engine.checkpoints names it
    architecture: str | None = None
    # Constructor parameters the file's content must show (key, value) pairs; several entries
    # may share them (same network, other training data): the file name or hash decides then.
    identity: tuple[tuple[str, Any], ...] = ()
    download_url: str | None = None  # a direct link for automatic download; None: manual only

    @property
    def needs_download(self) -> bool:
        return self.checkpoint is not None and not checkpoint_path(self).exists()

    @property
    def from_mirror(self) -> bool:
        """The automatic download comes from someone other than the authors."""
        return self.download_url is not None and self.download_url != self.url

    def matches(self, info: CheckpointInfo) -> bool:
        """Whether an identified checkpoint has this entry's family, architecture and
        identifying parameters (so could be this entry's file)."""
        if (info.family, info.architecture) != (self.family, self.architecture):
            return False
        for key, expected in self.identity:
            actual = info.params.get(key)
            if isinstance(expected, bool):
                actual = bool(actual)  # absent flags are stored as defaults (False)
            elif isinstance(expected, str):
                actual = str(actual).lower()
            if actual != expected:
                return False
        return True


def weights_dir() -> Path:
    path = data_dir() / "weights"
    path.mkdir(parents=True, exist_ok=True)
    return path


def checkpoint_path(entry: ModelEntry) -> Path:
    assert entry.checkpoint is not None
    return weights_dir() / entry.checkpoint


def engine_unavailable_reason(entry: ModelEntry) -> str | None:
    """Why Clickmask cannot run ``entry`` yet (no predictor or network for its kind of
    checkpoint), or None when it can. Imports torch for neural entries."""
    if entry.family is None:
        return None
    from engine.checkpoints import MODEL_CONSTRUCTORS
    from engine.inference.factory import PREDICTOR_FACTORIES

    if (entry.family not in PREDICTOR_FACTORIES
            or (entry.family, entry.architecture) not in MODEL_CONSTRUCTORS):
        return (f"no {FAMILY_TITLES[entry.family]} {ARCHITECTURE_TITLES[entry.architecture]} "
                "engine in this version of Clickmask")
    return None


def _checkpoint_builder(name: str) -> Callable[[str, InferenceOptions], Predictor]:
    def build(device: str, options: InferenceOptions) -> Predictor:
        # torch and the networks load only when a neural model is chosen.
        from engine.inference.factory import load_predictor

        entry = MODELS[name]
        path = checkpoint_path(entry)
        if not path.exists():
            source = (f"run `clickmask weights fetch {entry.name}` or use Model > Model "
                      f"manager" if entry.download_url else
                      f"download it from {entry.url} and run `clickmask weights add FILE`")
            raise WeightsNotFound(f"{entry.title} needs {entry.checkpoint}, which is not in "
                                  f"{path.parent}; {source}")
        return load_predictor(path, device, options)
    return build


def _ritm(name: str, file: str, title: str, description: str, size_mb: float,
          git_blob: str | None, **identity: Any) -> ModelEntry:
    return ModelEntry(name, title, description, _checkpoint_builder(name), file,
                      RITM_RELEASE + file, size_mb, git_blob, "ritm", "hrnet",
                      tuple(identity.items()), RITM_RELEASE + file)


def _fbrs(name: str, file: str, title: str, description: str, size_mb: float,
          architecture: str, git_blob: str | None = None, **identity: Any) -> ModelEntry:
    return ModelEntry(name, title, description, _checkpoint_builder(name), file,
                      FBRS_RELEASE + file, size_mb, git_blob, "fbrs", architecture,
                      tuple(identity.items()), FBRS_RELEASE + file)


def _focalclick(name: str, title: str, description: str, size_mb: float, architecture: str,
                mirror_file: str | None = None, **identity: Any) -> ModelEntry:
    # The official files have no names of their own; ours is the entry name.
    return ModelEntry(name, title, description, _checkpoint_builder(name), f"{name}.pth",
                      FOCALCLICK_FOLDER, size_mb, None, "focalclick", architecture,
                      tuple(identity.items()),
                      FOCALCLICK_MIRROR + mirror_file if mirror_file else None)


MODELS: dict[str, ModelEntry] = {
    "grabcut": ModelEntry(
        name="grabcut",
        title="GrabCut (embedded)",
        description="Weights-free default: OpenCV GrabCut seeded by the clicks, on a crop "
                    "around them. Works everywhere, no download.",
        build=lambda device, options: with_taiz(GrabCutPredictor(), options),
    ),
    **{entry.name: entry for entry in (
        _ritm("ritm-hrnet18s-cocolvis-itm", "coco_lvis_h18s_itermask.pth",
              "RITM HRNet-18s ITER-M (COCO+LVIS)",
              "The fast RITM model: HRNet-18s + OCR-48 with the previous mask.", 16.5,
              "4ce03fbea3bb2ea9656d3395762c3c2044524002", width=18, small=True,
              with_prev_mask=True),
        _ritm("ritm-hrnet18-cocolvis-itm", "coco_lvis_h18_itermask.pth",
              "RITM HRNet-18 ITER-M (COCO+LVIS)",
              "HRNet-18 + OCR-64 with the previous mask.", 38.8,
              "644200a8cac6cd2d9cae887221291ea5864d9d33", width=18, small=False,
              with_prev_mask=True),
        _ritm("ritm-hrnet32-cocolvis-itm", "coco_lvis_h32_itermask.pth",
              "RITM HRNet-32 ITER-M (COCO+LVIS)",
              "The most accurate RITM model: HRNet-32 + OCR-128 with the previous mask.", 119,
              None, width=32, small=False, with_prev_mask=True),
        _ritm("ritm-hrnet18-cocolvis-baseline", "coco_lvis_h18_baseline.pth",
              "RITM HRNet-18 baseline (COCO+LVIS)",
              "HRNet-18 + OCR-64 without the previous mask.", 38.8,
              "35124d030931747dc1e421f523c53ec75f6f4a50", width=18, small=False,
              with_prev_mask=False),
        _ritm("ritm-hrnet18-sbd-itm", "sbd_h18_itermask.pth", "RITM HRNet-18 ITER-M (SBD)",
              "HRNet-18 + OCR-64 with the previous mask, trained on SBD.", 38.8,
              "affba1b47461b3ae0d2a905c8c2d0ba628c1dc90", width=18, small=False,
              with_prev_mask=True),
        _fbrs("fbrs-resnet34-sbd", "resnet34_dh128_sbd.pth", "f-BRS ResNet-34 (SBD)",
              "DeepLabV3+ ResNet-34, 128 decoder channels, trained on SBD.", 89, "deeplab",
              "e1d2f9411287bb1cfe94119e8a184b604b963bf6", backbone="resnet34", deeplab_ch=128),
        _fbrs("fbrs-resnet50-sbd", "resnet50_dh128_sbd.pth", "f-BRS ResNet-50 (SBD)",
              "DeepLabV3+ ResNet-50, 128 decoder channels, trained on SBD.", 120, "deeplab",
              backbone="resnet50", deeplab_ch=128),
        _fbrs("fbrs-resnet101-sbd", "resnet101_dh256_sbd.pth", "f-BRS ResNet-101 (SBD)",
              "DeepLabV3+ ResNet-101, 256 decoder channels, trained on SBD.", 223, "deeplab",
              backbone="resnet101", deeplab_ch=256),
        _fbrs("fbrs-hrnet18-sbd", "hrnet18_ocr64_sbd.pth", "f-BRS HRNet-18 (SBD)",
              "HRNet-18 + OCR-64, trained on SBD.", 39, "hrnet", width=18, ocr_width=64,
              small=False),
        _fbrs("fbrs-hrnet32-sbd", "hrnet32_ocr128_sbd.pth", "f-BRS HRNet-32 (SBD)",
              "HRNet-32 + OCR-128, trained on SBD.", 119, "hrnet", width=32, ocr_width=128,
              small=False),
        _fbrs("fbrs-resnet50-lvis", "resnet50_dh128_lvis.pth", "f-BRS ResNet-50 (LVIS)",
              "DeepLabV3+ ResNet-50, 128 decoder channels, trained on COCO+LVIS.", 120,
              "deeplab", backbone="resnet50", deeplab_ch=128),
        _fbrs("fbrs-hrnet32-lvis", "hrnet32_ocr128_lvis.pth", "f-BRS HRNet-32 (LVIS)",
              "HRNet-32 + OCR-128, trained on COCO+LVIS.", 119, "hrnet", width=32,
              ocr_width=128, small=False),
        _focalclick("focalclick-hrnet18s-s1-cclvs", "FocalClick HRNet-18s S1 (COCO+LVIS)",
                    "HRNet-18s segmentor at 128 px with the 256 px refiner.", 16.58, "hrnet",
                    width=18, small=True, pipeline_version="s1"),
        _focalclick("focalclick-hrnet18s-s2-cclvs", "FocalClick HRNet-18s S2 (COCO+LVIS)",
                    "HRNet-18s segmentor at 256 px with the 256 px refiner.", 16.58, "hrnet",
                    width=18, small=True, pipeline_version="s2"),
        _focalclick("focalclick-hrnet32-s2-cclvs", "FocalClick HRNet-32 S2 (COCO+LVIS)",
                    "HRNet-32 segmentor at 256 px with the refiner.", 119.11, "hrnet",
                    width=32, small=False, pipeline_version="s2"),
        _focalclick("focalclick-hrnet32-s2-comb", "FocalClick HRNet-32 S2 (combined data)",
                    "HRNet-32 S2 trained on COCO, LVIS, ADE20K, MSRA10K, DUTS, YouTube-VOS, "
                    "ThinObject-5K and HFlickr.", 119.11, "hrnet", width=32, small=False,
                    pipeline_version="s2"),
        _focalclick("focalclick-segformerb0-s1-cclvs", "FocalClick SegFormer-B0 S1 (COCO+LVIS)",
                    "The smallest FocalClick model: SegFormer-B0 segmentor at 128 px.", 14.38,
                    "segformer", "segformerb0-s1_6.pth", model_version="b0",
                    pipeline_version="s1"),
        _focalclick("focalclick-segformerb0-s2-cclvs", "FocalClick SegFormer-B0 S2 (COCO+LVIS)",
                    "SegFormer-B0 segmentor at 256 px with the refiner.", 14.38, "segformer",
                    "segformerb0-s2_7.pth", model_version="b0", pipeline_version="s2"),
        _focalclick("focalclick-segformerb3-s2-cclvs", "FocalClick SegFormer-B3 S2 (COCO+LVIS)",
                    "SegFormer-B3 segmentor at 256 px with the refiner.", 174.56, "segformer",
                    "segformerb3-s2_8.pth", model_version="b3", pipeline_version="s2"),
        _focalclick("focalclick-segformerb3-s2-comb",
                    "FocalClick SegFormer-B3 S2 (combined data)",
                    "SegFormer-B3 S2 trained on COCO, LVIS, ADE20K, MSRA10K, DUTS, YouTube-VOS, "
                    "ThinObject-5K and HFlickr.", 174.56, "segformer", "segformerb3-s2_9.pth",
                    model_version="b3", pipeline_version="s2"),
    )},
}

DEFAULT_MODEL = "grabcut"


def build_predictor(name: str = DEFAULT_MODEL, device: str = "auto",
                    options: InferenceOptions | None = None) -> Predictor:
    """Create the predictor registered as ``name`` on ``device``, running with ``options``
    (the neural models' Zoom-In, BRS mode...; the GrabCut default has none)."""
    try:
        entry = MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None
    return entry.build(device, options or InferenceOptions())
