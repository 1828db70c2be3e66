"""Optional dependencies: which extra installs a module, and the error that names it.

A feature that needs an extra (pyarrow for labeling; datasets, torch, TRL and MLflow for pairs
and training) imports it when it runs, under `needs_extras`, which turns the missing module
into `MissingExtra` naming the extra to install.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from tenet.compiler.errors import TenetError

# The extra that installs each optional top-level module (pyproject.toml's optional-dependencies).
EXTRA_OF = {
    "pyarrow": "label", "re2": "label", "vaderSentiment": "label", "numpy": "label",
    "torch": "train", "transformers": "train", "trl": "train", "datasets": "train", "peft": "train",
    "accelerate": "train", "gguf": "train", "mlflow": "train", "tqdm": "train",
    "pygls": "lsp", "lsprotocol": "lsp", "ray": "scale",
}


class MissingExtra(TenetError):
    """A feature needs an optional dependency that is not installed (exit 2).

    Args:
        feature: What needed it, as the message names it (`labeling`, `tenet label`).
        extras: The extra, or extras, that install what it needs (`label`, `train`).
    """

    def __init__(self, feature: str, extras: str | Sequence[str]):
        self.feature, self.extras = feature, (extras,) if isinstance(extras, str) else tuple(extras)
        names = ",".join(self.extras)
        noun = "extra" if len(self.extras) == 1 else "extras"
        super().__init__(f'{feature} needs the [{names}] {noun}: pip install "tenet[{names}]"')

    def named(self, feature: str) -> MissingExtra:
        """The same error, naming another feature (the CLI names its command)."""
        return MissingExtra(feature, self.extras)


@contextmanager
def needs_extras(feature: str, extras: Sequence[str] = ()) -> Iterator[None]:
    """Turn an optional module missing inside the block into `MissingExtra`.

    Args:
        feature: What is running, as the message names it.
        extras: The extras the feature needs; the message names them all (and the missing
            module's own extra), so that one install is enough.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        raise MissingExtra(feature, sorted({*extras, extra})) from exc


def needing(feature: str, *extras: str) -> Callable[[Callable], Callable]:
    """Run the decorated function under `needs_extras(feature, extras)`."""
    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with needs_extras(feature, extras):
                return function(*args, **kwargs)
        return wrapper
    return decorate
