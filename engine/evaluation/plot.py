"""mIoU-vs-clicks curves of several runs, one panel per dataset (matplotlib, loaded on use)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence


def plot_miou_curves(runs: Sequence[dict], path: str | os.PathLike) -> int:
    """Draw the mIoU@k curve of each run (JSON objects as ``report.run_to_json`` makes
    them) into a PNG at ``path``: one panel per dataset, one line per model. Runs without a
    full curve (stopped at a target IoU) are left out. Returns the number of curves drawn.
    """
    # matplotlib loads only here, so the engine stays light. A bare Figure renders with Agg
    # and touches no global backend (the GUI may be running in the same process).
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    datasets = list(dict.fromkeys(run["dataset"] for run in runs if run["summary"]["miou"]))
    if not datasets:
        return 0
    figure = Figure(figsize=(5 * len(datasets), 4))
    axes = figure.subplots(1, len(datasets), squeeze=False)
    drawn = 0
    for ax, dataset in zip(axes[0], datasets):
        for run in runs:
            miou = run["summary"]["miou"]
            if run["dataset"] != dataset or not miou:
                continue
            ax.plot(range(1, len(miou) + 1), miou, marker="o", markersize=3,
                    label=run["label"])
            drawn += 1
        ax.set_title(dataset)
        ax.set_xlabel("clicks")
        ax.set_ylabel("mIoU")
        ax.set_ylim(0.0, 1.0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    figure.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return drawn
