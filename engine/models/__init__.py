"""Neural click models re-implemented from their published specifications (torch only, no Qt).

* :mod:`engine.models.ops` — shared pieces (click distance maps, ScaleLayer, BN+ReLU).
* :mod:`engine.models.hrnet_ocr` — HRNetV2 backbone with the OCR head (RITM/f-BRS).
* :mod:`engine.models.is_hrnet_model` — RITM ``HRNetModel`` (state_dict-compatible with the
  official checkpoints).
"""
