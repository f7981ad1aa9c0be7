"""The NoC evaluation harness: the official click simulator (golden cases), metrics on
hand-made IoU curves, benchmark readers on tiny synthetic layouts, the runner, reports and
``clickmask evaluate`` end to end on GrabCut."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from annotator.cli import main
from engine.clicks import Click
from engine.evaluation import metrics
from engine.evaluation.clicker import Clicker
from engine.evaluation.datasets import DatasetError, detect_kind, open_dataset
from engine.evaluation.report import Run, load_runs, markdown_table, run_to_json, write_csv, \
    write_json
from engine.evaluation.runner import (DatasetResult, EvaluationCancelled, SampleResult,
                                      evaluate_dataset, evaluate_sample)

GOLDEN_NOC = Path("golden") / "ritm" / "eval_noc_hrnet18s_img_a.npz"


# -- click simulator ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def golden_noc(shared_dir: Path):
    return np.load(shared_dir / GOLDEN_NOC)


@pytest.mark.parametrize("case", range(12))
def test_clicker_reproduces_the_official_clicks(golden_noc, case: int) -> None:
    clicker = Clicker(golden_noc["clicker_gt"][case])
    for y, x in golden_noc["clicker_prior_clicks"][case]:
        if (y, x) != (-1, -1):
            clicker.add_click(Click(int(y), int(x), True))
    click = clicker.next_click(golden_noc["clicker_pred"][case])
    assert (click.y, click.x, int(click.is_positive)) == \
        tuple(int(v) for v in golden_noc["clicker_next_click"][case])


def test_noc_run_reproduces_the_official_evaluation(shared_dir: Path, golden_noc) -> None:
    torch = pytest.importorskip("torch")
    from engine.inference.factory import load_predictor
    from engine.inference.options import InferenceOptions

    predictor = load_predictor(shared_dir / "golden" / "ritm" /
                               "ritm_hrnet18s_itermask_synthetic.pth", "cpu", InferenceOptions())
    image = cv2.imread(str(shared_dir / "golden" / "ritm" / "img_a.png"))[..., ::-1].copy()
    expected_clicks = [tuple(int(v) for v in row) for row in golden_noc["clicks"]]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # spinning OpenMP threads crawl on a shared CPU
    try:
        result = evaluate_sample(predictor, image, golden_noc["gt_mask"], "img_a",
                                 max_clicks=len(expected_clicks), stop_iou=0.9)
    finally:
        torch.set_num_threads(threads)
    assert [(c.y, c.x, int(c.is_positive)) for c in result.clicks] == expected_clicks
    # The README's tolerance: one pixel that another CPU's kernels put on the other side of
    # the threshold moves an IoU by up to 4e-5, as the official code's +-1e-4 logit shifts do.
    np.testing.assert_allclose(result.ious, golden_noc["ious"], atol=1e-3)


def test_clicker_ties_are_negative_and_the_first_pixel_in_row_major_order_wins() -> None:
    gt = np.zeros((9, 9), np.int8)
    gt[1:4, 1:4] = 1  # a missed 3x3 square ...
    pred = np.zeros((9, 9), bool)
    pred[5:8, 5:8] = True  # ... and a false 3x3 square: equally deep, so negative
    assert Clicker(gt).next_click(pred) == Click(6, 6, False)
    gt[1:4, 1:5] = 1  # a 3x4 region: two centre pixels, the first one in row-major order
    pred[:] = False
    assert Clicker(gt).next_click(pred) == Click(2, 2, True)


def test_clicker_treats_the_image_border_as_boundary_and_skips_ignored_and_clicked() -> None:
    gt = np.zeros((6, 12), np.int8)
    gt[:, :6] = 1  # touches the top, bottom and left borders: its centre is (2.5, 2.5)
    clicker = Clicker(gt)
    assert clicker.make_next_click(np.zeros_like(gt, bool)) == Click(2, 2, True)
    # The same mask again: the clicked pixel is out, the next deepest one wins.
    assert clicker.make_next_click(np.zeros_like(gt, bool)) == Click(2, 3, True)
    gt[:, :6] = -1  # now ignored: missing it is no error
    gt[0, 11] = 1
    assert Clicker(gt).next_click(np.zeros_like(gt, bool)) == Click(0, 11, True)


# -- metrics -----------------------------------------------------------------------------------

def test_noc_nof_and_miou_on_hand_made_curves() -> None:
    curves = [np.array([0.5, 0.82, 0.86, 0.91], np.float32),
              np.array([0.9, 0.95, 0.96, 0.97], np.float32),
              np.array([0.1, 0.2, 0.3, 0.85], np.float32)]  # reaches 0.85 at the last click
    assert [metrics.number_of_clicks(c, 0.85, 4) for c in curves] == [3, 1, 4]
    assert metrics.noc(curves, 0.80, 4) == pytest.approx((2 + 1 + 4) / 3)
    assert metrics.noc(curves, 0.85, 4) == pytest.approx((3 + 1 + 4) / 3)
    assert metrics.noc(curves, 0.90, 4) == pytest.approx((4 + 1 + 4) / 3)
    assert metrics.nof(curves, 0.85, 4) == 1  # counted like the official ">=20"
    assert metrics.nof(curves, 0.90, 4) == 2
    assert metrics.miou_at(curves, 4) == pytest.approx(
        [0.5, (0.82 + 0.95 + 0.2) / 3, (0.86 + 0.96 + 0.3) / 3, (0.91 + 0.97 + 0.85) / 3],
        abs=1e-6)
    assert metrics.miou_at(curves + [np.array([0.95], np.float32)], 4) is None
    assert np.isnan(metrics.noc([], 0.9, 20))


def test_an_iou_of_exactly_the_threshold_reaches_it() -> None:
    gt = np.zeros((1, 10), np.int8)
    gt[0, :9] = 1
    pred = np.zeros((1, 10), bool)
    pred[0, :10] = True
    assert metrics.number_of_clicks(np.array([metrics.iou(gt, pred)], np.float32), 0.9, 20) == 1


def test_iou_leaves_out_ignored_pixels() -> None:
    gt = np.array([[1, 1, -1, 0]], np.int8)
    assert metrics.iou(gt, np.array([[True, False, True, False]])) == 0.5
    assert metrics.iou(gt, np.array([[True, True, True, False]])) == 1.0
    assert metrics.iou(np.zeros((2, 2), np.int8), np.zeros((2, 2), bool)) == 1.0


def test_boundary_iou() -> None:
    gt = np.zeros((100, 100), np.int8)
    gt[20:80, 20:80] = 1
    square = gt == 1
    assert metrics.boundary_iou(gt, square) == 1.0
    assert metrics.boundary_iou(gt, np.zeros_like(square)) == 0.0
    shifted = np.roll(square, 10, axis=1)
    assert 0.0 < metrics.boundary_iou(gt, shifted) < metrics.iou(gt, shifted)
    ignored = gt.copy()
    ignored[:, 50:] = -1  # the shift only changes the right half: ignoring it hides the error
    left = square.copy()
    left[:, 50:] = False
    assert metrics.boundary_iou(ignored, left) == 1.0


# -- dataset readers ---------------------------------------------------------------------------

def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def _image(seed: int, shape=(8, 10)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (*shape, 3), dtype=np.uint8)


def test_grabcut_and_berkeley_layouts(tmp_path: Path) -> None:
    root = tmp_path / "grabcut"
    mask = np.zeros((8, 10), np.uint8)
    mask[2:6, 2:6] = 255
    mask[1, :] = 128
    mask[7, 0] = 200  # > 128 is object, as the official reader reads it
    for i, name in enumerate(["b", "a"]):
        _write(root / "data_GT" / f"{name}.jpg", _image(i))
        _write(root / "boundary_GT" / f"{name}.bmp", mask)
    dataset = open_dataset("GrabCut", root)
    assert dataset.kind == "GrabCut" and dataset.names == ["a", "b"] and len(dataset) == 2
    sample = dataset[0]
    assert sample.name == "a" and sample.image.shape == (8, 10, 3)
    expected = np.zeros((8, 10), np.int8)
    expected[2:6, 2:6] = 1
    expected[1, :] = -1
    expected[7, 0] = 1
    np.testing.assert_array_equal(sample.gt, expected)

    berkeley = tmp_path / "berkeley"
    _write(berkeley / "images" / "x.jpg", _image(3))
    _write(berkeley / "masks" / "x.png", np.dstack([mask, mask, mask]))
    assert detect_kind(berkeley) == "Berkeley"
    np.testing.assert_array_equal(open_dataset("mine", berkeley)[0].gt, expected)


def test_paired_layout_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a GrabCut dataset: missing boundary_GT"):
        _write(tmp_path / "g" / "data_GT" / "a.jpg", _image(0))
        open_dataset("grabcut", tmp_path / "g")
    (tmp_path / "g" / "boundary_GT").mkdir()
    with pytest.raises(DatasetError, match="no mask in boundary_GT/ for 1 image"):
        open_dataset("grabcut", tmp_path / "g")
    _write(tmp_path / "g" / "boundary_GT" / "a.bmp", np.zeros((5, 5), np.uint8))
    with pytest.raises(DatasetError, match="the mask is 5x5 but the image is 10x8"):
        open_dataset("grabcut", tmp_path / "g")[0]
    with pytest.raises(DatasetError, match="no known dataset layout"):
        open_dataset("mine", tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset("GrabCut", tmp_path / "missing")


def test_davis_layout_takes_any_channel(tmp_path: Path) -> None:
    mask = np.zeros((8, 10, 3), np.uint8)
    mask[1:3, 1:3, 2] = 30
    mask[5, 5, 0] = 1
    _write(tmp_path / "img" / "f.jpg", _image(0))
    _write(tmp_path / "gt" / "f.png", mask)
    for name in ("DAVIS", "COCO_MVal"):
        sample = open_dataset(name, tmp_path)[0]
        assert sample.gt.sum() == 5 and sample.gt.min() == 0


def test_sbd_layout_gives_one_sample_per_instance(tmp_path: Path) -> None:
    scipy_io = pytest.importorskip("scipy.io")
    labels = np.zeros((8, 10), np.uint8)
    labels[1:3, 1:3] = 1
    labels[4:7, 5:9] = 2
    _write(tmp_path / "img" / "2008_0001.jpg", _image(0))
    (tmp_path / "inst").mkdir()
    record = np.zeros((1, 1), dtype=[("Segmentation", object), ("Boundaries", object),
                                     ("Categories", object)])
    record[0, 0] = (labels, np.zeros((2, 1), object), np.array([[15], [7]], np.uint8))
    scipy_io.savemat(tmp_path / "inst" / "2008_0001.mat", {"GTinst": record})
    (tmp_path / "val.txt").write_text("2008_0001\n")
    dataset = open_dataset("SBD", tmp_path)
    assert dataset.names == ["2008_0001#1", "2008_0001#2"]
    assert dataset[1].gt.sum() == 12 and dataset[0].gt.sum() == 4
    assert detect_kind(tmp_path) == "SBD"


def test_pascal_voc_layout_ignores_the_void_colour(tmp_path: Path) -> None:
    # SegmentationObject PNGs are palette images; OpenCV expands them to colours, which is
    # what the official reader converts to gray: instance 1 (128, 0, 0) -> 38, void -> 220.
    colours = np.zeros((8, 10, 3), np.uint8)
    colours[1:3, 1:4] = (0, 0, 128)  # BGR of instance 1's palette colour
    colours[5:7, 5:7] = (0, 128, 0)  # instance 2
    colours[0, :] = (192, 224, 224)  # void border
    _write(tmp_path / "JPEGImages" / "2007_000032.jpg", _image(0))
    _write(tmp_path / "SegmentationObject" / "2007_000032.png", colours)
    split = tmp_path / "ImageSets" / "Segmentation"
    split.mkdir(parents=True)
    (split / "val.txt").write_text("2007_000032\n")
    dataset = open_dataset("PascalVOC", tmp_path)
    assert dataset.names == ["2007_000032#38", "2007_000032#75"]
    gt = dataset[0].gt
    assert (gt == 1).sum() == 6 and (gt == -1).sum() == 10 and gt[5, 5] == 0


def test_coco_json_gives_one_sample_per_instance(tmp_path: Path) -> None:
    _write(tmp_path / "images" / "pic.jpg", _image(0, (20, 30)))
    document = {
        "images": [{"id": 7, "file_name": "pic.jpg", "height": 20, "width": 30}],
        "annotations": [
            {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 0,
             "segmentation": [[2, 2, 12, 2, 12, 10, 2, 10]]},
            {"id": 3, "image_id": 7, "category_id": 1, "iscrowd": 1,
             "segmentation": {"size": [20, 30], "counts": [0, 600]}},
            {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0,
             "segmentation": [[20, 10, 28, 10, 28, 18, 20, 18]]},
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(document))
    dataset = open_dataset("my-coco", path)
    assert dataset.kind == "COCO" and dataset.names == ["pic#1", "pic#2"]  # crowd left out
    sample = dataset[1]
    assert sample.gt.shape == (20, 30) and sample.gt[5, 5] == 1 and sample.gt[15, 25] == 0
    (tmp_path / "images" / "pic.jpg").unlink()
    with pytest.raises(DatasetError, match="image pic.jpg not found"):
        open_dataset("COCO", path)


# -- runner and reports ------------------------------------------------------------------------

class _ShapePredictor:
    """Predicts the square of side 2*r+1 around each positive click, minus negative ones'."""

    name = "squares"

    def __init__(self, radius: int = 2) -> None:
        self.radius = radius
        self.shape = (0, 0)
        self.images = 0

    def set_image(self, image: np.ndarray) -> None:
        self.shape = image.shape[:2]
        self.images += 1

    def predict(self, clicks, prev_mask):
        probs = np.zeros(self.shape, np.float32)
        for click in clicks:
            y, x, r = int(click.y), int(click.x), self.radius
            probs[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = float(click.is_positive)
        return probs

    def get_state(self):
        return None

    def set_state(self, state) -> None:
        pass


class _Oracle(_ShapePredictor):
    """Knows each image's object and gives it from the second click on."""

    def __init__(self, truths: dict[bytes, np.ndarray]) -> None:
        super().__init__()
        self.truths = truths
        self.truth = None

    def set_image(self, image: np.ndarray) -> None:
        self.truth = self.truths[image.tobytes()]

    def predict(self, clicks, prev_mask):
        return self.truth.astype(np.float32) * (len(clicks) >= 2)


def _blocks_dataset(root: Path, count: int = 3):
    for i in range(count):
        mask = np.zeros((20, 24), np.uint8)
        mask[2:2 + 5 * (i + 1) // 2 + 3, 3:12] = 255
        _write(root / "images" / f"{i}.png", _image(i, (20, 24)))
        _write(root / "masks" / f"{i}.png", mask)
    return open_dataset("Berkeley", root)


def test_evaluate_dataset_is_deterministic_with_progress_and_cancel(tmp_path: Path) -> None:
    dataset = _blocks_dataset(tmp_path)
    calls = []
    first = evaluate_dataset(_ShapePredictor(), dataset, max_clicks=6,
                             progress=lambda done, total: calls.append((done, total)))
    second = evaluate_dataset(_ShapePredictor(), dataset, max_clicks=6)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert [s.name for s in first.samples] == ["0", "1", "2"] and first.dataset == "Berkeley"
    for a, b in zip(first.samples, second.samples):
        assert a.clicks == b.clicks and np.array_equal(a.ious, b.ious) and len(a.ious) == 6
        assert a.clicks[0].is_positive and a.boundary_iou is not None
    summary = first.summary()
    assert summary["samples"] == 3 and summary["clicks"] == 18 and len(summary["miou"]) == 6
    assert summary["noc"]["90"] == metrics.noc(first.curves, 0.9, 6)

    truths = {dataset[i].image.tobytes(): dataset[i].gt == 1 for i in range(len(dataset))}
    stopped = evaluate_dataset(_Oracle(truths), dataset, max_clicks=6, stop_iou=0.9, limit=2,
                               name="blocks")
    assert stopped.dataset == "blocks" and len(stopped.samples) == 2
    assert [list(s.ious) for s in stopped.samples] == [[0.0, 1.0]] * 2
    assert stopped.summary()["miou"] is None and stopped.summary()["noc"]["90"] == 2
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(EvaluationCancelled):
        evaluate_dataset(_ShapePredictor(), dataset, cancel=cancel)


class _FixedProposals:
    """A proposal generator that offers the true object (not suggested) and a sliver."""

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth

    def generate(self, predictor, image, click, plain=None, prob_thresh=0.5):
        from engine.proposals import Proposal

        sliver = np.zeros_like(self.truth)
        sliver[int(click.y), int(click.x)] = True
        return [Proposal(m, m.astype(np.float32), 1.0, 1.0, 1.0, kind, kind,
                         suggested=kind == "part")
                for m, kind in ((sliver, "part"), (self.truth, "whole"))]


def test_proposals_pick_the_best_first_mask_and_keep_the_suggested_iou(tmp_path: Path) -> None:
    sample = _blocks_dataset(tmp_path, count=1)[0]
    truth = sample.gt == 1
    result = evaluate_sample(_ShapePredictor(), sample.image, sample.gt, max_clicks=2,
                             proposals=_FixedProposals(truth))
    assert result.ious[0] == 1.0 and result.suggested_iou == pytest.approx(1 / truth.sum())
    plain = evaluate_sample(_ShapePredictor(), sample.image, sample.gt, max_clicks=2)
    assert plain.ious[0] < 1.0 and plain.suggested_iou is None


def test_reports_round_trip_and_plot(tmp_path: Path) -> None:
    result = DatasetResult("toy", 3, [
        SampleResult("a", np.array([0.5, 0.86, 0.95], np.float32),
                     (Click(1, 2, True), Click(3, 4, False), Click(5, 6, True)), 0.3, None),
        SampleResult("b", np.array([0.91, 0.92, 0.93], np.float32),
                     (Click(0, 0, True),) * 3, 0.3, None)])
    run = Run("model-x", "toy", {"mode": "f-BRS-B"}, result, (0.8, 0.85, 0.9, 0.95),
              (0.9, 0.95))
    write_json([run], tmp_path / "r.json", "clickmask evaluate ...")
    [loaded] = load_runs(tmp_path / "r.json")
    assert loaded == json.loads(json.dumps(run_to_json(run)))
    assert loaded["label"] == "model-x f-BRS-B" and loaded["summary"]["nof"] == {"90": 1,
                                                                                 "95": 2}
    assert loaded["samples"][0]["clicks"][1] == [3, 4, False]
    write_csv([run], tmp_path / "r.csv")
    header, row = (tmp_path / "r.csv").read_text().splitlines()
    assert header.startswith("model,dataset,samples,NoC@80,NoC@85,NoC@90,NoC@95,NoF@90,NoF@95")
    # a reaches 0.9 and 0.95 at its last click: NoC 3 and, as official, a failure.
    assert row == "model-x f-BRS-B,toy,2,1.50,1.50,2.00,3.00,1,2,0.7050,0.8900,0.9400,,,,,0.100"
    assert "| model-x f-BRS-B | toy | 2 |" in markdown_table([loaded])
    pytest.importorskip("matplotlib")
    from engine.evaluation.plot import plot_miou_curves

    assert plot_miou_curves([loaded, dict(loaded, label="other")], tmp_path / "p.png") == 2
    assert cv2.imread(str(tmp_path / "p.png")) is not None
    with pytest.raises(ValueError, match="cannot read the results file"):
        load_runs(tmp_path / "r.csv")
    (tmp_path / "other.json").write_text('{"runs": []}')
    with pytest.raises(ValueError, match="not a Clickmask evaluation results file"):
        load_runs(tmp_path / "other.json")


# -- clickmask evaluate ------------------------------------------------------------------------

def test_evaluate_command_on_three_grabcut_images(shared_dir: Path, tmp_path: Path,
                                                  capsys) -> None:
    grabcut = shared_dir / "datasets" / "GrabCut"
    out = tmp_path / "out"
    assert main(["evaluate", "--model", "grabcut", "--dataset", f"GrabCut={grabcut}",
                 "--limit", "3", "--max-clicks", "4", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| grabcut | GrabCut | 3 |" in printed
    [run] = load_runs(out / "results.json")
    assert run["summary"]["samples"] == 3 and len(run["summary"]["miou"]) == 4
    assert (out / "results.csv").exists() and cv2.imread(str(out / "miou.png")) is not None

    # The recorded run is what the simulator and the engine give when driven by hand.
    from engine.inference.grabcut import GrabCutPredictor

    sample = open_dataset("GrabCut", grabcut)[0]
    recorded = run["samples"][0]
    assert recorded["name"] == sample.name
    again = evaluate_sample(GrabCutPredictor(), sample.image, sample.gt, max_clicks=4)
    assert [[c.y, c.x, c.is_positive] for c in again.clicks] == recorded["clicks"]
    assert np.allclose(again.ious, recorded["ious"], atol=1e-6)
    assert Clicker(sample.gt).next_click(np.zeros(sample.gt.shape, bool)) == again.clicks[0]


def test_evaluate_command_with_taiz_and_proposals(tmp_path: Path, capsys) -> None:
    _blocks_dataset(tmp_path / "b", count=2)
    out = tmp_path / "out"
    assert main(["evaluate", "--model", "grabcut", "--dataset", f"blocks={tmp_path / 'b'}",
                 "--max-clicks", "2", "--taiz", "--proposals", "--output", str(out)]) == 0
    [run] = load_runs(out / "results.json")
    assert run["label"] == "grabcut taiz proposals" and run["settings"]["engine"] == "grabcut+taiz"
    assert run["summary"]["suggested_miou@1"] is not None
    assert "suggested mIoU@1" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--model", "grabcut", "--dataset", "GrabCut"], "takes NAME=PATH"),
    (["--model", "no-such-model", "--dataset", "x={tmp}/b"], "neither a registered model"),
    (["--model", "grabcut", "--mode", "f-BRS-B", "--dataset", "B={tmp}/b"], "no BRS modes"),
    (["--model", "grabcut", "--dataset", "GrabCut={tmp}"], "not a GrabCut dataset"),
    (["--model", "{tmp}/b/images/0.png", "--dataset", "B={tmp}/b"], "0.png"),
    (["--model", "ritm-hrnet18s-cocolvis-itm", "--dataset", "B={tmp}/b"], "weights fetch"),
    (["--model", "grabcut", "--dataset", "B={tmp}/b", "--max-clicks", "0"], "at least 1"),
])
def test_evaluate_command_errors_are_messages(tmp_path: Path, capsys, args, message) -> None:
    _blocks_dataset(tmp_path / "b", count=1)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["evaluate", *args, "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("clickmask evaluate: ") and message in err and "Traceback" not in err
