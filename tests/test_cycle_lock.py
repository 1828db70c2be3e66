"""The per-policy cycle lock in a shared work folder: it never follows a link or writes to another file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tenet.runtime.locks import LockError, exclusive

REPO = Path(__file__).resolve().parent.parent


def test_the_lock_holds_the_holders_pid_and_is_private(tmp_path):
    lock = tmp_path / "policy" / ".cycle.lock"
    with exclusive(lock):
        assert lock.read_text() == str(os.getpid())
    assert lock.read_text() == "" and (lock.stat().st_mode & 0o777) == 0o600


def test_a_symlinked_lock_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "elsewhere" / "precious.txt"
    target.parent.mkdir()
    target.write_text("keep me")
    work = tmp_path / "work" / "policy"
    work.mkdir(parents=True)
    (work / ".cycle.lock").symlink_to(target)
    with pytest.raises(LockError, match="symbolic link"):
        with exclusive(work / ".cycle.lock"):
            pytest.fail("the lock was taken through a link")
    assert target.read_text() == "keep me"


def test_a_dangling_symlink_does_not_create_its_target(tmp_path):
    target = tmp_path / "elsewhere" / "created.txt"
    target.parent.mkdir()
    (tmp_path / ".cycle.lock").symlink_to(target)
    with pytest.raises(LockError, match="symbolic link"):
        with exclusive(tmp_path / ".cycle.lock"):
            pass
    assert not target.exists()


def test_a_hard_linked_lock_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    os.link(target, tmp_path / ".cycle.lock")
    with pytest.raises(LockError, match="hard links"):
        with exclusive(tmp_path / ".cycle.lock"):
            pass
    assert target.read_text() == "keep me"


def test_a_lock_that_is_not_a_regular_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / ".cycle.lock")
    with pytest.raises(LockError, match="not a regular file"):
        with exclusive(tmp_path / ".cycle.lock"):
            pass


def test_the_cli_reports_a_planted_link_as_one_error_line(tmp_path):
    from helpers import run_cli

    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    policy = REPO / "tests" / "fixtures" / "cycle" / "tiny.policy"
    work = tmp_path / "work"
    (work / "tiny").mkdir(parents=True)
    (work / "tiny" / ".cycle.lock").symlink_to(target)
    code, out, err = run_cli(["compile-and-train", str(policy), "--work-dir", str(work)])
    assert code == 2 and "Traceback" not in err
    assert f"error: lock file {work / 'tiny' / '.cycle.lock'} is a symbolic link" in err
    assert target.read_text() == "keep me"


def test_a_second_holder_waits_and_is_told_who_holds_the_lock(tmp_path):
    lock = tmp_path / ".cycle.lock"
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from tenet.runtime.locks import exclusive\n"
            "with exclusive(sys.argv[2]):\n    print('held', flush=True); time.sleep(1.5)")
    child = subprocess.Popen([sys.executable, "-c", code, str(REPO), str(lock)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        waited = []
        start = time.monotonic()
        with exclusive(lock, on_wait=waited.append):
            assert time.monotonic() - start > 0.5
        assert waited == [str(child.pid)]
    finally:
        child.wait(timeout=30)
