"""Where models run and in which precision: one choice, used by training, generation,
evaluation and the model scorers alike.

`device = auto` means CUDA when torch sees a GPU, else the CPU. `precision = auto` means bf16
on a GPU that supports it, fp16 on an older GPU (bf16 there is emulated or refused), and
fp32 on the CPU, where half precision is slower than full. The functions are pure apart
from asking torch what the machine has, so tests mock `torch.cuda` to check every branch.
"""

from __future__ import annotations

import os
from typing import Any, Literal

Device = Literal["cpu", "cuda"]
Precision = Literal["fp32", "bf16", "fp16"]


def select_device(setting: str | None) -> Device:
    """The device for a `device` setting: `cpu`, `cuda`, or `auto`/None (CUDA when present)."""
    if setting in ("cpu", "cuda"):
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def select_precision(device: Device, setting: str | None) -> Precision:
    """The precision for a `precision` setting on `device`.

    On CUDA, `auto` and `bf16` fall back to fp16 when the GPU lacks bf16; on the CPU, `auto`
    is fp32 and `bf16` is kept (autocast).
    """
    if device == "cpu":
        return "bf16" if setting == "bf16" else "fp32"
    if setting == "fp32":
        return "fp32"
    import torch

    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def torch_dtype(precision: Precision) -> Any:
    """The torch dtype for model weights at inference in `precision`."""
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def inference_dtype(device: Device, setting: str | None = "auto") -> Any:
    """The dtype to load a model in for generation or scoring on `device`.

    Half precision halves the memory and time of inference on a GPU; on the CPU weights stay
    fp32, since CPU kernels for half types are slow or missing.
    """
    if device == "cpu":
        return torch_dtype("fp32")
    return torch_dtype(select_precision(device, setting))


def training_arguments(setting_device: str | None, setting_precision: str | None) -> dict[str, Any]:
    """The `use_cpu`/`bf16`/`fp16` fields of TrainingArguments for the two settings.

    TRL configs default to bf16=True, which fails on a CPU without `use_cpu`; tenet always
    sets all three.
    """
    device = select_device(setting_device)
    precision = select_precision(device, setting_precision)
    return {"use_cpu": device == "cpu", "bf16": precision == "bf16", "fp16": precision == "fp16"}


def rank() -> int:
    """This process's rank in a distributed launch: `RANK`, or 0 (the main process) outside one."""
    return int(os.environ.get("RANK", "0") or 0)


def world_size() -> int:
    """How many processes the launcher started: `WORLD_SIZE`, or 1 outside a distributed launch."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)
