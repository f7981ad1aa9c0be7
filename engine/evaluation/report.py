"""Evaluation results on disk: a JSON file with every click, a CSV and a Markdown table.

A *run* is one model evaluated on one dataset with fixed settings. The JSON keeps each
sample's clicks and IoU curve, so metrics can be recomputed and runs compared later
(``load_runs``); the CSV and the table hold one row of summary metrics per run.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from engine.atomic import atomic_write_text
from engine.evaluation.metrics import NOC_THRESHOLDS
from engine.evaluation.runner import BOUNDARY_IOU_CLICK, DatasetResult

RESULTS_FORMAT = "clickmask-evaluation/1"
MIOU_COLUMNS = (1, 2, 3, 5, 10, 20)  # the mIoU@k columns of the tables; the JSON has every k


@dataclass(frozen=True)
class Run:
    """One model on one dataset: ``settings`` records how the model ran (mode, zoom...)."""

    model: str
    dataset: str
    settings: dict[str, Any]
    result: DatasetResult
    noc_thresholds: tuple[float, ...] = NOC_THRESHOLDS
    failure_thresholds: tuple[float, ...] = (0.85, 0.90)

    @property
    def label(self) -> str:
        """The model with what changes how it runs: a BRS mode, TAIZ, proposals."""
        extras = [self.settings["mode"]] if self.settings.get("mode", "NoBRS") != "NoBRS" else []
        extras += [flag for flag in ("taiz", "proposals") if self.settings.get(flag)]
        return " ".join([self.model, *extras])


def run_to_json(run: Run) -> dict:
    """The JSON object of a run: settings, summary metrics and every sample."""
    return {
        "model": run.model,
        "label": run.label,
        "dataset": run.dataset,
        "settings": run.settings,
        "max_clicks": run.result.max_clicks,
        "summary": _finite(run.result.summary(run.noc_thresholds, run.failure_thresholds)),
        "samples": [{
            "name": sample.name,
            "ious": [round(float(v), 6) for v in sample.ious],
            "clicks": [[int(c.y), int(c.x), bool(c.is_positive)] for c in sample.clicks],
            "seconds": round(sample.seconds, 6),
            f"biou@{BOUNDARY_IOU_CLICK}": sample.boundary_iou,
            "suggested_iou": sample.suggested_iou,
        } for sample in run.result.samples],
    }


def write_json(runs: Sequence[Run], path: str | os.PathLike, command: str = "") -> None:
    """Write the runs (and the command that made them) to ``path`` atomically."""
    document = {"format": RESULTS_FORMAT, "command": command,
                "runs": [run_to_json(run) for run in runs]}
    atomic_write_text(Path(path), json.dumps(document, indent=1) + "\n")


def load_runs(path: str | os.PathLike) -> list[dict]:
    """The runs of a results file written by :func:`write_json` (as JSON objects)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the results file {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{path} is not a Clickmask evaluation results file")
    return document["runs"]


def summary_rows(runs: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (formatted numbers) of the summary table for runs as JSON objects;
    the NoC and NoF columns are the thresholds any of the runs has, and the suggested
    proposals' mIoU@1 is a column when a run used first-click proposals."""
    noc_keys = _keys(run["summary"]["noc"] for run in runs)
    nof_keys = _keys(run["summary"]["nof"] for run in runs)
    with_proposals = any(run["summary"].get("suggested_miou@1") is not None for run in runs)
    header = ["model", "dataset", "samples", *[f"NoC@{t}" for t in noc_keys],
              *[f"NoF@{t}" for t in nof_keys], *[f"mIoU@{k}" for k in MIOU_COLUMNS],
              f"BIoU@{BOUNDARY_IOU_CLICK}", "SPC (s)",
              *(["suggested mIoU@1"] if with_proposals else [])]
    rows = []
    for run in runs:
        summary = run["summary"]
        miou = summary["miou"] or []
        rows.append([
            run["label"], run["dataset"], str(summary["samples"]),
            *[_number(summary["noc"].get(t), 2) for t in noc_keys],
            *[_number(summary["nof"].get(t), 0) for t in nof_keys],
            *[_number(miou[k - 1] if k <= len(miou) else None, 4) for k in MIOU_COLUMNS],
            _number(summary[f"biou@{BOUNDARY_IOU_CLICK}"], 4),
            _number(summary["spc"], 3),
            *([_number(summary.get("suggested_miou@1"), 4)] if with_proposals else []),
        ])
    return header, rows


def _keys(mappings: Iterable[dict]) -> list[str]:
    """The threshold keys ("80", "85"...) of all mappings, in numeric order."""
    return sorted({key for mapping in mappings for key in mapping}, key=float)


def write_csv(runs: Sequence[Run], path: str | os.PathLike) -> None:
    """The summary table as CSV, one row per run ("" where a metric was not computed)."""
    header, rows = summary_rows([run_to_json(run) for run in runs])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(Path(path), buffer.getvalue())


def markdown_table(runs: Sequence[dict]) -> str:
    """The summary table in Markdown for runs as JSON objects."""
    header, rows = summary_rows(runs)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell or "-" for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _number(value: Any, decimals: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{decimals}f}"


def _finite(value: Any) -> Any:
    """JSON has no NaN: metrics that are undefined (no samples) become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value
