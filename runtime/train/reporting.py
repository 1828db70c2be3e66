"""transformers' MLflow reporting, with every logged param passed through tenet's redaction.

`TrainingArguments` and the model config hold machine paths (`output_dir`, `logging_dir`,
`_name_or_path`) and may hold credentials; transformers' own `MLflowCallback` logs them as
they are. Trainers get `report_to=[]` and this callback instead, which logs the same params
and metrics, with param values redacted by `tenet.runtime.redact.redact_mapping`.
"""

from __future__ import annotations

from typing import Any

from transformers.integrations import MLflowCallback

from tenet.runtime.redact import redact_mapping


class _RedactingMlflow:
    """The `mlflow` module as MLflowCallback uses it, with `log_params` redacted."""

    def __init__(self, mlflow: Any) -> None:
        self._mlflow = mlflow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mlflow, name)

    def log_params(self, params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        """Log params whose values name no secret and no local path."""
        return self._mlflow.log_params(redact_mapping(params), *args, **kwargs)


class RedactingMLflowCallback(MLflowCallback):
    """MLflowCallback whose params go through tenet's redaction."""

    def __init__(self) -> None:
        super().__init__()
        self._ml_flow = _RedactingMlflow(self._ml_flow)


def reporting_callbacks(report_to: tuple[str, ...]) -> list[Any]:
    """The reporting callbacks for a job's `report_to` (only MLflow is ever reported to)."""
    return [RedactingMLflowCallback()] if "mlflow" in report_to else []
