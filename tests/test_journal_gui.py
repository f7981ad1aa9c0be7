"""The annotator journals its work and offers back what a crash interrupted."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from engine.annotations import PROJECT_FILE_NAME, Project
from engine.clicks import Click
from engine.journal import InProgress, Journal, journal_path
from annotator.controller import SessionController
from annotator.main_window import MainWindow
from gui_actions import DISK_CENTER, click_image, open_folder, wait_idle, write_disk_images

pytestmark = pytest.mark.gui

CENTER = DISK_CENTER


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_disk_images(tmp_path)


@pytest.fixture
def make_window(monkeypatch, open_window):
    def make(restore: bool = True) -> MainWindow:
        win = open_window(SessionController(), category="disk")
        win.asked: list[InProgress] = []

        def ask_restore(state: InProgress) -> bool:
            win.asked.append(state)
            return restore

        monkeypatch.setattr(win, "ask_restore", ask_restore)
        return win

    return make


def _crash(win: MainWindow) -> None:
    """Stop the window as a killed process would: no save, no question, files as written."""
    controller = win.controller
    # The journal's file as written; the system ends a killed process's lock.
    controller.workspace.close()
    controller.session.queue.shutdown()


def test_clicks_in_progress_are_offered_back_and_restored(qtbot, make_window, folder):
    first = make_window()
    open_folder(qtbot, first, folder)
    first.controller.go_to(1)
    qtbot.waitUntil(lambda: first.controller.session.image is not None, timeout=10000)
    click_image(qtbot, first, *CENTER)
    click_image(qtbot, first, 5, 5, positive=False)
    shown = first.controller.session.view.mask.copy()
    _crash(first)

    second = make_window(restore=True)
    open_folder(qtbot, second, folder)
    assert second.asked == [InProgress("b.png", [Click(*CENTER, True), Click(5, 5, False)])]
    qtbot.waitUntil(lambda: second.controller.session.current_file == "b.png"
                    and second.controller.session.view.clicks == second.asked[0].clicks, timeout=10000)
    wait_idle(qtbot, second)
    assert np.array_equal(second.controller.session.view.mask, shown)
    assert [m[2] for m in second.canvas.marker_positions] == [True, False]
    # Restored work is journaled again: finishing it stores the object.
    qtbot.keyClick(second.canvas, Qt.Key.Key_Return)
    wait_idle(qtbot, second)
    assert len(Project.load(folder / PROJECT_FILE_NAME).images["b.png"].objects) == 1
    assert second.errors == first.errors == []


def _paint(qtbot, win: MainWindow, rows: slice, cols: slice) -> None:
    """A hand edit of the object in progress (as a brush stroke makes): paint a rectangle."""
    def paint(mask: np.ndarray) -> np.ndarray:
        mask = mask.copy()
        mask[rows, cols] = True
        return mask
    win.controller.session.edit_mask(paint)
    wait_idle(qtbot, win)


def test_hand_edits_after_clicks_are_restored(qtbot, make_window, folder):
    first = make_window()
    open_folder(qtbot, first, folder)
    click_image(qtbot, first, *CENTER)
    click_image(qtbot, first, 5, 5, positive=False)
    _paint(qtbot, first, slice(120, 140), slice(150, 180))  # far from the disk
    shown = first.controller.session.view.mask.copy()
    assert shown[130, 160] and shown[CENTER]
    _crash(first)

    second = make_window(restore=True)
    open_folder(qtbot, second, folder)
    [state] = second.asked
    assert state.clicks == [Click(*CENTER, True), Click(5, 5, False)] and state.mask_clicks == 2
    qtbot.waitUntil(lambda: second.controller.session.view.clicks == state.clicks, timeout=10000)
    wait_idle(qtbot, second)
    assert np.array_equal(second.controller.session.view.mask, shown)
    assert second.errors == first.errors == []


def test_an_object_painted_from_nothing_is_offered_back(qtbot, make_window, folder):
    first = make_window()
    open_folder(qtbot, first, folder)
    _paint(qtbot, first, slice(10, 30), slice(10, 40))
    shown = first.controller.session.view.mask.copy()
    _crash(first)

    second = make_window(restore=True)
    open_folder(qtbot, second, folder)
    [state] = second.asked
    assert state.clicks == [] and state.mask_rle is not None
    qtbot.waitUntil(lambda: second.controller.session.view.mask is not None, timeout=10000)
    wait_idle(qtbot, second)
    assert np.array_equal(second.controller.session.view.mask, shown)
    qtbot.keyClick(second.canvas, Qt.Key.Key_Return)  # restored work can be finished
    wait_idle(qtbot, second)
    [obj] = Project.load(folder / PROJECT_FILE_NAME).images["a.png"].objects
    assert np.array_equal(obj.mask, shown)


def test_a_declined_restore_is_not_offered_again(qtbot, make_window, folder):
    first = make_window()
    open_folder(qtbot, first, folder)
    click_image(qtbot, first, *CENTER)
    _crash(first)

    second = make_window(restore=False)
    open_folder(qtbot, second, folder)
    assert len(second.asked) == 1 and second.controller.session.view.clicks == []
    _crash(second)
    third = make_window()
    open_folder(qtbot, third, folder)
    assert third.asked == []


def test_an_object_whose_save_failed_is_restored_on_reopening(qtbot, make_window, folder,
                                                               monkeypatch):
    first = make_window()
    open_folder(qtbot, first, folder)

    def full_disk(self):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(Project, "save", full_disk)
        click_image(qtbot, first, *CENTER)
        qtbot.keyClick(first.canvas, Qt.Key.Key_Return)
        wait_idle(qtbot, first)
    assert len(first.controller.rows.current_objects()) == 1
    assert any("Could not save" in error for error in first.errors)
    assert not (folder / PROJECT_FILE_NAME).exists()
    _crash(first)

    second = make_window()
    messages: list[str] = []
    second.controller.message.connect(messages.append)
    open_folder(qtbot, second, folder)
    objects = second.controller.rows.current_objects()
    assert len(objects) == 1 and second.controller.rows.category_name(objects[0]) == "disk"
    assert np.array_equal(objects[0].mask, first.controller.rows.current_objects()[0].mask)
    assert second.asked == []  # the object was finished: nothing in progress to offer
    assert any("Restored 1 object" in message for message in messages)
    assert len(Project.load(folder / PROJECT_FILE_NAME).images["a.png"].objects) == 1


def test_save_as_moves_the_journal_beside_the_new_file(qtbot, make_window, folder, tmp_path):
    win = make_window()
    open_folder(qtbot, win, folder)
    click_image(qtbot, win, *CENTER)
    old = journal_path(win.controller.rows.project.path)
    assert old.exists()
    new_path = tmp_path / "elsewhere" / "project.json"
    win.controller.save_project_as(new_path)
    assert not old.exists() and journal_path(new_path).exists()
    _crash(win)
    again = make_window()
    _open_with_project(qtbot, again, folder, new_path)
    assert again.asked == [InProgress("a.png", [Click(*CENTER, True)])]


def test_save_as_to_a_place_that_cannot_be_written_says_where_it_went(qtbot, make_window,
                                                                      folder, monkeypatch):
    win = make_window()
    open_folder(qtbot, win, folder)
    unwritable = Path("/proc/clickmask-test/project.json")  # not even root creates files here
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(unwritable), ""))
    win.choose_project_path()
    saved_at = win.controller.rows.project.path
    assert saved_at != unwritable and saved_at.exists()
    assert str(saved_at) in win.statusBar().currentMessage()
    assert len(win.errors) == 1 and str(unwritable) in win.errors[0]


def _open_with_project(qtbot, win: MainWindow, folder: Path, project: Path) -> None:
    assert win.open_folder(folder, project)
    qtbot.waitUntil(lambda: win.controller.session.image is not None, timeout=10000)
    wait_idle(qtbot, win)


def test_a_journal_that_cannot_be_replayed_is_set_aside(qtbot, make_window, folder):
    journal = journal_path(folder / PROJECT_FILE_NAME)
    journal.write_text('{"format": "clickmask-journal", "version": 1, "project": "/elsewhere"}\n'
                       '{"t": "progress", "file": "a.png", "clicks": [[1, 2, true]]}\n')
    win = make_window()
    open_folder(qtbot, win, folder)
    assert win.asked == []
    assert len(win.errors) == 1 and "belongs to the project '/elsewhere'" in win.errors[0]
    kept = list(folder.glob(journal.name + ".unreadable-*"))
    assert len(kept) == 1 and "/elsewhere" in kept[0].read_text()
    assert journal.exists() and str(kept[0]) in win.errors[0]


def test_a_delete_rename_and_hide_killed_before_their_save_are_replayed(qtbot, make_window,
                                                                        folder, monkeypatch):
    first = make_window()
    open_folder(qtbot, first, folder)
    for y, x in (CENTER, (140, 20)):
        click_image(qtbot, first, y, x)
        qtbot.keyClick(first.canvas, Qt.Key.Key_Return)
        wait_idle(qtbot, first)
    kept, deleted = (obj.id for obj in first.controller.rows.current_objects())
    with monkeypatch.context() as patch:
        # Killed before each save: the file is not written, the journal not checkpointed.
        patch.setattr(Project, "save", lambda self: None)
        patch.setattr(Journal, "checkpoint", lambda self: None)
        first.controller.edits.delete_object(deleted)
        first.controller.edits.rename_object(kept, "moon")
        first.controller.edits.set_object_visible(kept, False)
    assert len(Project.load(folder / PROJECT_FILE_NAME).images["a.png"].objects) == 2
    _crash(first)

    second = make_window()
    open_folder(qtbot, second, folder)
    [obj] = second.controller.rows.current_objects()
    assert (obj.id, second.controller.rows.category_name(obj), obj.visible) == (kept, "moon", False)
    assert second.asked == [] and second.errors == first.errors == []
    [saved] = Project.load(folder / PROJECT_FILE_NAME).images["a.png"].objects
    assert (saved.id, saved.visible) == (kept, False)
