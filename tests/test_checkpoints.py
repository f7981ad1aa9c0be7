"""Checkpoint reading: safe loading, identification from content, clear refusals."""
from __future__ import annotations

import ast
import lzma
import os
import pickletools
import re
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from engine.checkpoints import CheckpointError, identify, read_checkpoint
from engine.inference.factory import load_predictor
from file_server import FileServer
from weights import MODELS, build_predictor, checkpoint_path
from weights.download import ChecksumMismatch
from weights.integrity import load_records
from weights.manager import ImportRefused, State, fetch_entry, import_file, verify_entry
from weights.registry import weights_dir
from annotator.cli import main as cli_main

GOLDEN = {
    "ritm/ritm_hrnet18s_itermask_synthetic.pth": ("ritm", "RITM HRNet-18s ITER-M (previous mask)", 929),
    "ritm/ritm_hrnet18_itermask_synthetic.pth.xz": ("ritm", "RITM HRNet-18 ITER-M (previous mask)", 1895),
    "focalclick/hrnet18s_S2_synthetic.pth": ("focalclick", "FocalClick HRNet-18s S2", 983),
    "focalclick/segformerB0_S2_synthetic.pth": ("focalclick", "FocalClick SegFormer-B0 S2", 257),
    "fbrs/resnet34_dh128_golden.pth.xz": ("fbrs", "f-BRS DeepLabV3+ ResNet-34 (dh128)", 251),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_checkpoints_are_identified(shared_dir: Path, name: str) -> None:
    family, title, tensors = GOLDEN[name]
    [info] = read_checkpoint(shared_dir / "golden" / name)
    assert (info.family, info.title, len(info.state_dict)) == (family, title, tensors)


def _state_dict_from_keys_file(path: Path) -> OrderedDict:
    state = OrderedDict()
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape, dtype = line.split("\t")
        dims = tuple(int(d) for d in re.findall(r"\d+", shape))
        state[key] = torch.zeros(dims, dtype=getattr(torch, dtype))
    return state


def test_fbrs_hrnet_is_identified_from_its_keys(shared_dir: Path) -> None:
    state = _state_dict_from_keys_file(shared_dir / "specs" / "keys" / "fbrs_hrnet18_keys.txt")
    info = identify(state)
    assert (info.family, info.architecture, info.params) == (
        "fbrs", "hrnet", {"width": 18, "ocr_width": 64, "small": False})


def test_ensemble_list_and_legacy_format(tmp_path: Path, shared_dir: Path) -> None:
    checkpoint = torch.load(shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth",
                            map_location="cpu", weights_only=True)
    path = tmp_path / "ensemble.pth"
    torch.save([checkpoint, checkpoint], path, _use_new_zipfile_serialization=False)
    infos = read_checkpoint(path)
    assert [i.family for i in infos] == ["ritm", "ritm"]


class _RunsCode:
    """What a malicious checkpoint carries: unpickling it would create a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_files_that_are_not_checkpoints(tmp_path: Path, shared_dir: Path) -> None:
    cases = {"notes.pth": b"just some text", "empty.pth": b""}
    golden = (shared_dir / "golden/ritm/ritm_hrnet18s_itermask_synthetic.pth").read_bytes()
    cases["truncated.pth"] = golden[: len(golden) // 2]
    cases["broken.pth.xz"] = lzma.compress(b"x" * 100)[:-10]
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
            read_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="neither a torch zip archive nor a pickle"):
        read_checkpoint(tmp_path / "notes.pth")  # not blamed on pickled objects


def test_unknown_content_is_refused_with_the_reason(tmp_path: Path) -> None:
    weights = {"conv.weight": torch.zeros(2, 2)}
    cases = [
        ({"state_dict": weights, "config": {"class": "some.other.Model", "params": {}}},
         "unknown model class 'some.other.Model'"),
        ({"state_dict": weights, "config": {"params": {}}}, "malformed 'config'"),
        (weights, "not an f-BRS checkpoint"),
        ([1, 2, 3], "not a click-model checkpoint"),
        ([], "empty list"),
    ]
    for data, message in cases:
        path = tmp_path / "model.pth"
        torch.save(data, path)
        with pytest.raises(CheckpointError, match=re.escape(message)):
            read_checkpoint(path)


# -- malicious files named like released checkpoints, through every load path -------------

class _RunsShell:
    """A payload pickled as a GLOBAL of os.system: unpickling it runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.command = f"touch '{marker}'"

    def __reduce__(self):
        return os.system, (self.command,)


def _malicious_bytes(kind: str, marker: Path, scratch: Path) -> bytes:
    """A checkpoint-shaped file whose unpickling would create ``marker``."""
    path = scratch / f"{kind}.bin"
    if kind == "touch-zip":
        torch.save({"state_dict": {}, "config": _RunsCode(marker)}, path)
    elif kind == "system-zip":
        torch.save({"state_dict": {}, "config": _RunsShell(marker)}, path)
    elif kind == "system-legacy":
        torch.save({"state_dict": {}, "config": _RunsShell(marker)}, path,
                   _use_new_zipfile_serialization=False)
    else:  # system-xz: the xz-compressed files the registry also accepts
        torch.save({"state_dict": {}, "config": _RunsShell(marker)}, path)
        return lzma.compress(path.read_bytes())
    return path.read_bytes()


PAYLOADS = ("touch-zip", "system-zip", "system-legacy", "system-xz")
GIT_BLOB_ENTRY = "ritm-hrnet18s-cocolvis-itm"  # coco_lvis_h18s_itermask.pth, hash published
NO_HASH_ENTRY = "ritm-hrnet32-cocolvis-itm"  # coco_lvis_h32_itermask.pth, trusted on first use


def _pickle_globals(raw: bytes) -> set[str]:
    """"module name" of every GLOBAL / STACK_GLOBAL in a pickle stream, read without loading."""
    found, strings = set(), []
    for opcode, arg, _ in pickletools.genops(raw):
        if opcode.name == "GLOBAL":
            found.add(arg)
        elif opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif opcode.name == "STACK_GLOBAL":
            found.add(f"{strings[-2]} {strings[-1]}")
    return found


def test_the_os_system_payload_is_live(tmp_path: Path) -> None:
    """The control: the zip file's data.pkl holds a GLOBAL of os.system, and an unsafe load
    really runs it, so the refusals below refuse something dangerous."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_malicious_bytes("system-zip", marker, tmp_path))
    with zipfile.ZipFile(path) as archive:
        [data_pkl] = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        assert f"{os.system.__module__} system" in _pickle_globals(archive.read(data_pkl))
    torch.load(path, weights_only=False)  # what Clickmask must never do
    assert marker.exists()


def _load_with_read_checkpoint(path: Path) -> None:
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)


def _load_with_load_predictor(path: Path) -> None:
    with pytest.raises(CheckpointError, match="refused"):
        load_predictor(path, "cpu")


def _load_with_import_file(path: Path) -> None:
    with pytest.raises(ImportRefused, match="refused"):
        import_file(path)


def _load_with_cli_add(path: Path, capsys) -> None:
    assert cli_main(["weights", "add", str(path)]) == 1
    err = capsys.readouterr().err
    assert "refused" in err and "Traceback" not in err


def _load_with_build_predictor(path: Path) -> None:
    target = checkpoint_path(MODELS[GIT_BLOB_ENTRY])
    path.replace(target)
    with pytest.raises(CheckpointError, match="refused"):
        build_predictor(GIT_BLOB_ENTRY, "cpu")


def _load_with_verify(path: Path) -> None:
    entry = MODELS[NO_HASH_ENTRY]
    path.replace(checkpoint_path(entry))
    status = verify_entry(entry)  # no published hash: the content is checked
    assert status.state is State.WRONG_FILE and "refused" in status.detail
    assert entry.checkpoint not in load_records()


def _load_with_fetch(path: Path) -> None:
    entry = MODELS[NO_HASH_ENTRY]
    server = FileServer({"/evil.pth": path.read_bytes()})
    try:
        with pytest.raises(ChecksumMismatch, match="refused"):
            fetch_entry(entry, url=server.url("/evil.pth"))
    finally:
        server.close()
    assert not checkpoint_path(entry).exists()
    assert entry.checkpoint not in load_records()


LOAD_PATHS = {
    "read_checkpoint": _load_with_read_checkpoint,
    "load_predictor": _load_with_load_predictor,
    "import_file": _load_with_import_file,
    "cli weights add": _load_with_cli_add,
    "build_predictor": _load_with_build_predictor,
    "verify_entry": _load_with_verify,
    "fetch_entry": _load_with_fetch,
}


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("load_path", sorted(LOAD_PATHS))
def test_a_malicious_checkpoint_is_refused_with_no_side_effect(
        tmp_path: Path, payload: str, load_path: str, capsys, monkeypatch) -> None:
    # A proxy set on the machine must not catch the local server's requests.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    marker = tmp_path / "pwned"
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    # Named like the released file, as a user would find it in a downloads folder.
    path = downloads / MODELS[GIT_BLOB_ENTRY].checkpoint
    path.write_bytes(_malicious_bytes(payload, marker, tmp_path))
    weights_before = sorted(p.name for p in weights_dir().iterdir())

    loader = LOAD_PATHS[load_path]
    loader(path, capsys) if load_path == "cli weights add" else loader(path)

    assert not marker.exists()
    moved_in = {MODELS[GIT_BLOB_ENTRY].checkpoint, MODELS[NO_HASH_ENTRY].checkpoint}
    left = sorted(p.name for p in weights_dir().iterdir() if p.name not in moved_in)
    assert left == weights_before, "the refused file left something in the weights folder"
    assert not load_records()


def test_the_environment_cannot_switch_the_safe_load_off(tmp_path: Path, monkeypatch) -> None:
    """torch honours TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD only where weights_only is not given."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "pwned"
    path = tmp_path / MODELS[GIT_BLOB_ENTRY].checkpoint
    path.write_bytes(_malicious_bytes("system-zip", marker, tmp_path))
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    assert not marker.exists()


# -- only safe loads in the program ---------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
PROGRAM_DIRS = ("engine", "weights", "annotator")
# Loaders that run pickled code whatever the file: never called by the program.
_UNSAFE_CALLS = {"pickle.load", "pickle.loads", "pickle.Unpickler", "torch.jit.load",
                 "torch.serialization.add_safe_globals", "torch.serialization.safe_globals",
                 "numpy.load", "np.load"}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def unsafe_loads(source: str) -> list[str]:
    """Calls in ``source`` that could unpickle code: ``torch.load`` without a literal
    ``weights_only=True``, and the plain pickle loaders. As "line: call" strings."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in ("torch", "pickle"):
            names = {alias.name for alias in node.names}
            if names & {"load", "loads", "Unpickler"}:
                found.append(f"{node.lineno}: from {node.module} import {sorted(names)}")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        if name == "torch.load":
            safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant)
                       and k.value.value is True for k in node.keywords)
            if not safe:
                found.append(f"{node.lineno}: {name}")
        elif name in _UNSAFE_CALLS:
            found.append(f"{node.lineno}: {name}")
    return found


def test_the_checker_finds_unsafe_loads() -> None:
    assert unsafe_loads("import torch\ntorch.load(f)\n") == ["2: torch.load"]
    assert unsafe_loads("torch.load(f, weights_only=False)") == ["1: torch.load"]
    assert unsafe_loads("torch.load(f, weights_only=flag)") == ["1: torch.load"]
    assert unsafe_loads("pickle.loads(data)") == ["1: pickle.loads"]
    assert unsafe_loads("from torch import load") == ["1: from torch import ['load']"]
    assert unsafe_loads("torch.load(f, map_location='cpu', weights_only=True)") == []


def test_the_program_only_loads_weights_safely() -> None:
    problems = []
    files = [path for folder in PROGRAM_DIRS for path in sorted((REPO / folder).rglob("*.py"))]
    assert len(files) > 30, "the program's sources were not found"
    for path in files:
        problems += [f"{path.relative_to(REPO)}:{hit}"
                     for hit in unsafe_loads(path.read_text(encoding="utf-8"))]
    assert not problems, f"unsafe loads: {problems}"
