"""The standard NoC evaluation protocol: click simulator, benchmark readers, metrics, runner.

``clicker`` (the official click simulator), ``datasets`` (GrabCut, Berkeley, DAVIS,
COCO_MVal, SBD, PascalVOC, COCO JSON), ``metrics`` (IoU, NoC, NoF, mIoU@k, boundary IoU),
``runner`` (one predictor on one dataset), ``report`` (JSON, CSV, Markdown) and ``plot``
(mIoU-vs-clicks PNG; the only module that needs matplotlib, imported on use).
"""
from engine.evaluation.clicker import Clicker
from engine.evaluation.datasets import Dataset, DatasetError, Sample, open_dataset
from engine.evaluation.runner import (DatasetResult, EvaluationCancelled, SampleResult,
                                      evaluate_dataset, evaluate_sample)

__all__ = ["Clicker", "Dataset", "DatasetError", "Sample", "open_dataset", "DatasetResult",
           "EvaluationCancelled", "SampleResult", "evaluate_dataset", "evaluate_sample"]
