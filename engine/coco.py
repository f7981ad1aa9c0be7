"""COCO JSON in and out of a project: masks as polygons, or as RLE where polygons would lose them.

The public face of three modules: :mod:`engine.coco_export` (:func:`export_coco`),
:mod:`engine.coco_import` (:func:`import_coco`) and :mod:`engine.coco_geometry` (a mask's
COCO segmentation and back).
"""
from engine.coco_export import (
    CancelToken,
    ExportCancelled,
    ExportReport,
    InstanceExport,
    ProgressCallback,
    export_coco,
)
from engine.coco_geometry import (
    HOLE_MODES,
    MIN_POLYGON_IOU,
    CocoGeometry,
    InvalidAnnotation,
    mask_to_segmentation,
    segmentation_to_mask,
)
from engine.coco_import import CocoFormatError, ImportReport, import_coco

__all__ = [
    "HOLE_MODES", "MIN_POLYGON_IOU", "CancelToken", "CocoFormatError", "CocoGeometry",
    "ExportCancelled", "ExportReport", "ImportReport", "InstanceExport", "InvalidAnnotation",
    "ProgressCallback", "export_coco", "import_coco", "mask_to_segmentation",
    "segmentation_to_mask",
]
