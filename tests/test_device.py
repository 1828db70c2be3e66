"""Device and precision selection (runtime/device.py), with `torch.cuda` mocked: CI has no GPU."""

from __future__ import annotations

import pytest
import torch

from tenet.runtime.device import inference_dtype, select_device, select_precision, training_arguments

pytest_plugins = ["tiny_models"]


def gpu(monkeypatch: pytest.MonkeyPatch, present: bool, bf16: bool = True) -> None:
    """Pretend the machine has (or lacks) a CUDA GPU, with or without bf16."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: present)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)


@pytest.mark.parametrize(("setting", "present", "expected"), [
    ("auto", True, "cuda"), ("auto", False, "cpu"), (None, True, "cuda"),
    ("cpu", True, "cpu"), ("cuda", False, "cuda"),  # an explicit choice is kept, and fails loudly
])
def test_device_selection(monkeypatch, setting, present, expected):
    gpu(monkeypatch, present)
    assert select_device(setting) == expected


@pytest.mark.parametrize(("device", "setting", "bf16", "expected"), [
    ("cuda", "auto", True, "bf16"), ("cuda", "auto", False, "fp16"),
    ("cuda", "bf16", False, "fp16"),  # a GPU without bf16 falls back rather than failing
    ("cuda", "fp32", True, "fp32"), ("cuda", "fp32", False, "fp32"),
    ("cpu", "auto", True, "fp32"), ("cpu", "bf16", True, "bf16"), ("cpu", "fp32", True, "fp32"),
])
def test_precision_selection(monkeypatch, device, setting, bf16, expected):
    gpu(monkeypatch, True, bf16)
    assert select_precision(device, setting) == expected


def test_training_arguments_on_each_kind_of_machine(monkeypatch):
    gpu(monkeypatch, False)
    assert training_arguments("auto", "auto") == {"use_cpu": True, "bf16": False, "fp16": False}
    gpu(monkeypatch, True, bf16=True)
    assert training_arguments("auto", "auto") == {"use_cpu": False, "bf16": True, "fp16": False}
    gpu(monkeypatch, True, bf16=False)
    assert training_arguments("auto", "auto") == {"use_cpu": False, "bf16": False, "fp16": True}
    assert training_arguments("cpu", "auto") == {"use_cpu": True, "bf16": False, "fp16": False}


def test_inference_runs_in_half_precision_only_on_a_gpu(monkeypatch):
    gpu(monkeypatch, True, bf16=False)
    assert inference_dtype("cuda") is torch.float16
    assert inference_dtype("cuda", "fp32") is torch.float32
    assert inference_dtype("cpu", "bf16") is torch.float32


def test_training_uses_the_same_selection(monkeypatch):
    from tenet.runtime.train.common import device_and_precision

    gpu(monkeypatch, True, bf16=False)
    assert device_and_precision("auto", "bf16") == {"use_cpu": False, "bf16": False, "fp16": True}


def test_generator_and_scorers_follow_auto(monkeypatch, tiny_llama):
    from tenet.runtime.label.scorers import Scorers
    from tenet.runtime.synthesize.generate import Generator

    gpu(monkeypatch, False)
    generator = Generator(str(tiny_llama), max_new_tokens=2)
    assert generator.device == "cpu" and generator.model.device.type == "cpu"
    assert generator.model.dtype is torch.float32
    assert Scorers().device == "cpu"
    gpu(monkeypatch, True)
    assert Scorers().device == "cuda" and Scorers(device="cpu").device == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_generation_and_scoring_run_on_the_gpu(tiny_llama, tiny_classifier):
    from tenet.compiler import ir
    from tenet.compiler.diagnostics import Span
    from tenet.runtime.label.scorers import Scorers
    from tenet.runtime.synthesize.generate import Generator

    generator = Generator(str(tiny_llama), max_new_tokens=3)
    assert generator.model.device.type == "cuda" and generator.model.dtype in (torch.bfloat16, torch.float16)
    assert len(generator.generate([[{"role": "user", "content": "hello"}]], n=2)[0]) == 2
    span = Span(file="p.policy", line=1, col=1, end_line=1, end_col=2, start=0, end=1)
    pred = ir.ScorePred(span=span, subject="response", fn="classifier", op=">=", threshold=0.5,
                        model=str(tiny_classifier), label="toxic")
    (score,) = Scorers(device="auto")(pred, ["hello world"])
    assert 0.0 <= score <= 1.0
