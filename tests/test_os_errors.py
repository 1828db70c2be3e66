"""Disk full, read-only folders and missing models: one clear line, exit 2, no traceback.

`tenet.runtime.errors` maps an OSError (found anywhere in an exception's chain) to one message;
`tenet.runtime.cli.main` prints it. Disk full and read-only file systems are simulated by raising
the OSError a real write would raise: tests run as root here, where chmod does not stop
writes (the chmod test runs only for other users).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers import FIXTURES, run_cli, write_policy
from tenet.runtime.errors import describe_failure, describe_os_error

pytest_plugins = ["tiny_models"]

MINIMAL = FIXTURES / "synthesize" / "minimal.policy"
LABEL_POLICY = 'dsl 1\npolicy p version "1"\n\nrule no-x (high):\n  forbid response contains "x"\n'


def disk_full(path: object = None) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), None if path is None else str(path))


def assert_one_clear_line(code: int, out: str, err: str, *phrases: str) -> None:
    """Exit 2 and a single `error:` line holding every phrase, without a traceback or its hint."""
    assert code == 2, (out, err)
    # Progress bars may share the stream (and, for `pairs`, the line): look for the error itself.
    lines = [line[line.index("error: "):] for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "--debug" not in err
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


# --- the mapping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code, phrase", [
    (errno.ENOSPC, "no space left on device: /data/out.parquet; free some space"),
    (errno.EROFS, "read-only file system: /data/out.parquet; write somewhere writable"),
    (errno.EACCES, "permission denied: /data/out.parquet; check the file's permissions"),
    (errno.EDQUOT, "disk quota exceeded: /data/out.parquet"),
])
def test_each_os_error_has_one_message_naming_the_file(code, phrase):
    assert describe_os_error(OSError(code, os.strerror(code), "/data/out.parquet")).startswith(phrase)


def test_an_unlisted_errno_falls_back_to_the_system_message():
    assert describe_os_error(OSError(errno.EBADF, "Bad file descriptor", "x")) == "Bad file descriptor: x"


def test_os_error_is_found_behind_a_library_exception():
    try:
        try:
            raise disk_full("/work/model.safetensors")
        except OSError as exc:
            raise RuntimeError("saving the checkpoint failed") from exc
    except RuntimeError as wrapped:
        assert describe_failure(wrapped).startswith("no space left on device: /work/model.safetensors")


@pytest.mark.parametrize("message, start", [
    ("Error writing bytes to file. Detail: [errno 28] No space left on device", "no space left on device"),
    ("(sqlite3.OperationalError) database or disk is full", "no space left on device"),
    ("(sqlite3.OperationalError) attempt to write a readonly database", "read-only file system"),
])
def test_os_errors_that_libraries_report_only_in_words(message, start):
    assert describe_failure(RuntimeError(message)).startswith(start)


def test_other_failures_are_not_taken_for_os_errors():
    assert describe_failure(ValueError("bad value")) is None
    assert describe_failure(OSError("no errno at all")) is None


# --- disk full --------------------------------------------------------------------------------------


def test_disk_full_while_writing_pairs(tmp_path, monkeypatch):
    from tenet.runtime.synthesize import output

    def full(rows, path, columns):
        raise disk_full(path)

    monkeypatch.setattr(output, "write_parquet", full)
    out = tmp_path / "pairs"
    code, stdout, stderr = run_cli(["pairs", str(MINIMAL), "--out", str(out), "--strategies", "examples"])
    assert_one_clear_line(code, stdout, stderr, "no space left on device", str(out / "pairs.parquet"),
                          "free some space")


def test_disk_full_with_debug_shows_the_traceback(tmp_path, monkeypatch):
    from tenet.runtime.synthesize import output

    monkeypatch.setattr(output, "write_parquet", lambda rows, path, columns: (_ for _ in ()).throw(disk_full(path)))
    code, _, stderr = run_cli(["--debug", "pairs", str(MINIMAL), "--out", str(tmp_path / "p"),
                               "--strategies", "examples"])
    assert code == 2 and "Traceback" in stderr and "OSError: [Errno 28]" in stderr


def test_disk_full_while_writing_labels_leaves_nothing_behind(tmp_path, monkeypatch):
    def full(self, table, *args, **kwargs):
        raise disk_full()

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    policy = write_policy(tmp_path, "p.policy", LABEL_POLICY)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "labels.parquet"
    code, stdout, stderr = run_cli(["label", str(policy), str(data), "--out", str(out)])
    assert_one_clear_line(code, stdout, stderr, f"cannot write {out}", "No space left on device")
    assert list(out.parent.iterdir()) == []  # neither the output nor its temp file


def test_disk_full_while_writing_an_artifact(tmp_path, monkeypatch):
    from tenet.runtime.commands import compiling

    def full(artifact, path):
        raise disk_full(path)

    monkeypatch.setattr(compiling, "write_artifact", full)
    code, stdout, stderr = run_cli(["compile", str(MINIMAL), "-o", str(tmp_path / "a.json")])
    assert_one_clear_line(code, stdout, stderr, f"cannot write {tmp_path / 'a.json'}", "No space left on device")


def test_any_command_failing_on_a_wrapped_disk_full_gets_the_one_line(monkeypatch):
    from tenet.runtime.commands import compiling

    def wrapped(args, console):
        try:
            raise disk_full("/work/mlflow.db")
        except OSError as exc:
            raise RuntimeError("tracking failed") from exc

    monkeypatch.setattr(compiling, "cmd_check", wrapped)
    code, stdout, stderr = run_cli(["check", str(MINIMAL)])
    assert_one_clear_line(code, stdout, stderr, "no space left on device: /work/mlflow.db")


# --- read-only folders --------------------------------------------------------------------------------


def test_read_only_file_system_for_pairs(tmp_path, monkeypatch):
    out = tmp_path / "ro" / "pairs"
    real_mkdir = Path.mkdir

    def read_only(self, *args, **kwargs):
        if self == out:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, stdout, stderr = run_cli(["pairs", str(MINIMAL), "--out", str(out), "--strategies", "examples"])
    assert_one_clear_line(code, stdout, stderr, f"read-only file system: {out}", "write somewhere writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod 0o555; the simulated EROFS test covers it")
def test_read_only_folder_for_pairs(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, stdout, stderr = run_cli(["pairs", str(MINIMAL), "--out", str(folder / "pairs"),
                                        "--strategies", "examples"])
    finally:
        folder.chmod(0o755)
    assert_one_clear_line(code, stdout, stderr, "permission denied", str(folder / "pairs"))


def test_read_only_folder_for_labels(tmp_path, monkeypatch):
    def read_only(self, where, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(where))

    monkeypatch.setattr(pq.ParquetWriter, "__init__", read_only)
    policy = write_policy(tmp_path, "p.policy", LABEL_POLICY)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "p", "response": "r"}) + "\n", encoding="utf-8")
    code, stdout, stderr = run_cli(["label", str(policy), str(data), "--out", str(tmp_path / "o.parquet")])
    assert_one_clear_line(code, stdout, stderr, "cannot write", "Read-only file system")


# --- missing models ----------------------------------------------------------------------------------------


def test_missing_model_path_for_pairs(tmp_path):
    missing = tmp_path / "no-such-model"
    code, stdout, stderr = run_cli(["pairs", str(MINIMAL), "--out", str(tmp_path / "p"),
                                    "--strategies", "sample", "--model", str(missing)])
    assert_one_clear_line(code, stdout, stderr, f"model path '{missing}' does not exist")


def test_model_directory_without_weights_for_pairs(tmp_path):
    model = tmp_path / "half-copied"
    model.mkdir()
    (model / "config.json").write_text("{}", encoding="utf-8")
    code, stdout, stderr = run_cli(["pairs", str(MINIMAL), "--out", str(tmp_path / "p"),
                                    "--strategies", "sample", "--model", str(model)])
    assert_one_clear_line(code, stdout, stderr, f"model directory {model} has no weights")


def classifier_policy(tmp_path: Path) -> Path:
    return write_policy(tmp_path, "c.policy", (FIXTURES / "label" / "classifier.policy").read_text(encoding="utf-8"))


def label_with_classifier(tmp_path: Path) -> tuple[int, str, str]:
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"prompt": "p", "response": "thanks"}) + "\n", encoding="utf-8")
    return run_cli(["label", str(classifier_policy(tmp_path)), str(data), "--out", str(tmp_path / "o.parquet")])


def test_missing_classifier_model_for_labels(tmp_path):
    code, stdout, stderr = label_with_classifier(tmp_path)
    # `models/tox` could also be a hub id: the message names both readings.
    assert_one_clear_line(code, stdout, stderr, f"({tmp_path / 'models' / 'tox'} does not exist)",
                          "not in the Hugging Face cache")


def test_classifier_model_with_broken_files_for_labels(tmp_path, tiny_classifier):
    """Regression: transformers' OSError for a broken model was reported as 'cannot write OUT'."""
    shutil.copytree(tiny_classifier, tmp_path / "models" / "tox")
    (tmp_path / "models" / "tox" / "model.safetensors").write_bytes(b"not safetensors")
    code, stdout, stderr = label_with_classifier(tmp_path)
    assert_one_clear_line(code, stdout, stderr, "cannot load the model at")
    assert "cannot write" not in stderr


@pytest.mark.slow
def test_missing_base_model_for_compile_and_train(tmp_path):
    code, stdout, stderr = run_cli(["compile-and-train", str(MINIMAL), "--base-model", str(tmp_path / "nope"),
                                    "--work-dir", str(tmp_path / "work")])
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    assert errors == [f"error: model path '{tmp_path / 'nope'}' does not exist"]
    assert "Traceback" not in stderr
