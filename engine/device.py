"""Choosing the torch device: "auto" means CUDA when it is there, else the CPU.

torch is imported by each function, not by the module: the GUI imports this module, and its
window must open without torch (it comes with the first neural model)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The device to run on; asking for CUDA without CUDA is an error that says so."""
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was asked for but PyTorch sees no CUDA device; use 'cpu' or 'auto'")
    return resolved


def cuda_unavailable_reason() -> str | None:
    """Why the device "cuda" cannot be used on this machine, or None when it can."""
    import torch

    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None and torch.version.hip is None:  # ROCm answers as "cuda"
        return "this PyTorch build has no CUDA support"
    return "PyTorch sees no CUDA device"
