"""``clickmask --self-test``: prove that an installed or bundled Clickmask works, headless.

It first checks that the Qt binding keeps Python's count of references to None (a binding
that does not aborts the GUI after a while; see :mod:`annotator.qt_binding`). Then it starts
the real GUI offscreen, opens the sample folder, makes one click with the default
(embedded, weights-free) engine and checks that a mask came back; then it checks the pieces
a packaged build can silently lose: the COCO round trip (pycocotools, shapely, OpenCV) and
torch (an RITM network with random weights predicts on the sample, no download). Settings
and projects go to a scratch directory, so the user's own are never touched.

The exit code is 0 only if every check passed; otherwise one line on stderr says what failed.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from engine.paths import HOME_ENV
from resources import SAMPLES_DIR

# Generous: a cold start of a bundled app on a loaded machine takes a few seconds.
STEP_TIMEOUT_S = 120.0

# Constructor parameters of the HRNet-18s ITER-M architecture (RITM's smallest released model).
_RITM_HRNET18S = {"width": 18, "ocr_width": 48, "small": True, "with_aux_output": True,
                  "use_leaky_relu": True, "use_rgb_conv": False, "use_disks": True,
                  "norm_radius": 5, "with_prev_mask": True}


class SelfTestFailure(Exception):
    """A check that did not pass; the message says which and why, for a person."""


def run_self_test(folder: str | Path = SAMPLES_DIR, timeout: float = STEP_TIMEOUT_S) -> int:
    """Run every check on ``folder`` (the bundled samples by default) and print the outcome.

    Returns the process exit code: 0 when everything worked, 1 otherwise.
    """
    started = time.perf_counter()
    try:
        with _scratch_home():
            for report in _checks(Path(folder), timeout):
                print(f"ok  {report}", flush=True)
    except SelfTestFailure as exc:
        print(f"clickmask self-test FAILED: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything unexpected is a failure too, with its traceback
        traceback.print_exc()
        print(f"clickmask self-test FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"clickmask self-test passed in {time.perf_counter() - started:.1f} s")
    return 0


@contextmanager
def _scratch_home() -> Iterator[None]:
    """Run headless with settings and projects in a temporary directory."""
    # Only affects a QApplication created from here on: the self-test is meant to be run
    # as its own process, where none exists yet.
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    previous = os.environ.get(HOME_ENV)
    with tempfile.TemporaryDirectory(prefix="clickmask-selftest-") as home:
        os.environ[HOME_ENV] = home
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(HOME_ENV, None)
            else:
                os.environ[HOME_ENV] = previous


def _checks(folder: Path, timeout: float) -> Iterator[str]:
    # Before any window: a leaking binding would abort Python while building one.
    yield _check_qt_binding()
    # Qt loads here, after QT_QPA_PLATFORM is set.
    from PySide6.QtCore import QCoreApplication, QEvent

    from annotator.app import create_application
    from annotator.controller import SessionController
    from annotator.main_window import MainWindow

    errors: list[str] = []

    class HeadlessWindow(MainWindow):
        """The main window with its dialogs answered: nobody is there to click them."""

        def show_error(self, text: str) -> None:
            errors.append(text)

        def ask_leave_object(self) -> str:
            return "discard"

    app = create_application()
    if not app.windowIcon().availableSizes():
        raise SelfTestFailure("the application icon did not load (resources/icons missing?)")
    window = HeadlessWindow(SessionController())  # builds the qtawesome icons too
    controller = window.controller
    window.show()
    yield f"Qt started ({app.platformName()}), main window with icons, " \
          f"engine {controller.session.model_title}"

    try:
        if not window.open_folder(folder):
            raise SelfTestFailure(f"could not open {folder}: {'; '.join(errors)}")
        if not controller.files:
            raise SelfTestFailure(f"no images found in {folder}")
        _wait(lambda: (controller.session.image is not None
                       or controller.session.current_file in controller.unreadable),
              timeout, f"{controller.session.current_file} to load")
        if controller.session.image is None:
            raise SelfTestFailure(f"{controller.session.current_file} did not load: "
                                  f"{controller.unreadable[controller.session.current_file]}")
        height, width = controller.session.image.shape[:2]
        yield f"opened {folder} ({len(controller.files)} images), " \
              f"{controller.session.current_file} " \
              f"is {width}x{height}"

        clicked = time.perf_counter()
        controller.add_click(height // 2, width // 2, True)
        _wait(lambda: not controller.session.busy, timeout, "the click's prediction")
        seconds = time.perf_counter() - clicked
        if errors:
            raise SelfTestFailure(f"the click failed: {'; '.join(errors)}")
        mask = controller.session.view.mask
        if mask is None or not mask.any():
            raise SelfTestFailure(f"one click with {controller.session.model_title} gave an "
                                  "empty mask")
        yield f"1 click with {controller.session.model_title}: mask of {int(mask.sum())} pixels " \
              f"in {seconds:.2f} s"
        image = controller.session.image
    finally:
        window.close()  # discards the object, stops the worker
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    yield _check_coco_round_trip(mask)
    yield _check_torch(image)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Process Qt events until ``condition`` holds; fail after ``timeout`` seconds."""
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SelfTestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        QCoreApplication.processEvents()
        time.sleep(0.01)


def _check_qt_binding() -> str:
    import PySide6

    from annotator.qt_binding import CHECK_CALLS, none_is_immortal, none_refcount_fault

    fault = none_refcount_fault()
    if fault is not None:
        raise SelfTestFailure(fault)
    kept = ("None is immortal on this Python" if none_is_immortal() else
            f"no reference to None lost in {CHECK_CALLS} calls of a void Qt method")
    return f"PySide6 {PySide6.__version__}: {kept}"


def _check_coco_round_trip(mask: np.ndarray) -> str:
    from engine.coco import mask_to_segmentation, segmentation_to_mask
    from engine.masks import mask_iou

    # Polygons (OpenCV contours, shapely) read back by pycocotools.
    geometry = mask_to_segmentation(mask, holes="fill")
    iou = mask_iou(segmentation_to_mask(geometry.segmentation, *mask.shape), mask)
    if iou < 0.9:
        raise SelfTestFailure(f"the mask exported as COCO {geometry.kind} reads back with "
                              f"IoU {iou:.3f}")
    return f"COCO export of the mask ({geometry.kind}) reads back with IoU {iou:.3f}"


def _check_torch(image: np.ndarray) -> str:
    import io

    import torch

    from engine.checkpoints import MODEL_CONSTRUCTORS
    from engine.clicks import Click
    from engine.inference.ritm import RITMPredictor

    torch.manual_seed(0)
    model = MODEL_CONSTRUCTORS[("ritm", "hrnet")](dict(_RITM_HRNET18S))
    # The same safe loading path as a downloaded checkpoint.
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    model.load_state_dict(torch.load(buffer, map_location="cpu", weights_only=True))
    predictor = RITMPredictor(model.eval(), "cpu")
    image = np.ascontiguousarray(image[:240, :320])  # a crop: quick even on a slow CPU
    predictor.set_image(image)
    started = time.perf_counter()
    probability = predictor.predict([Click(image.shape[0] // 2, image.shape[1] // 2, True)],
                                    None)
    seconds = time.perf_counter() - started
    if probability.shape != image.shape[:2] or not np.isfinite(probability).all():
        raise SelfTestFailure(f"torch: the RITM network returned a {probability.shape} map "
                              f"with non-finite values for a {image.shape[:2]} image")
    return f"torch {torch.__version__}: RITM HRNet-18s (random weights) predicted on " \
           f"{image.shape[1]}x{image.shape[0]} pixels in {seconds:.2f} s"
