"""The root of every error tenet reports to its user, and the exit codes those errors mean.

Each kind of error, in the compiler and in the runtime, derives from `TenetError` and says
which exit code it stands for. `tenet.runtime.cli.main` is the one place that turns an error into
a message and an exit code, so a command never needs its own list of exceptions to catch.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a `tenet` exit status means (the table in docs/language.md)."""

    OK = 0
    POLICY = 1  # the policy has errors; `diff` found differences; `fmt --check` found unformatted files
    USAGE = 2  # how tenet was called, or a file, model, data set or store it could not use
    GATE_FAILED = 3  # `compile-and-train` registered a model that failed a gate: not promoted
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


# One line per code, for `--format json` summaries and docs/ci.md (kept equal by a test).
EXIT_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success: promoted, nothing to train, or no errors",
    ExitCode.POLICY: "the policy has errors (or `diff` found changes, `fmt --check` unformatted files)",
    ExitCode.USAGE: "usage error, or a file, model, data set or store tenet could not use",
    ExitCode.GATE_FAILED: "a gate failed: the model is registered but not promoted",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


class TenetError(Exception):
    """Base of every error a user can act on: the CLI prints `render()` and exits with `exit_code`."""

    exit_code: ExitCode = ExitCode.USAGE

    def render(self) -> str:
        """The text the user sees: `error: ` and the message."""
        return f"error: {self}"


class NothingToDo(TenetError):
    """A command stopped early because there was nothing to do: an outcome, not a failure.

    The CLI prints the message on stdout and exits 0.
    """

    exit_code = ExitCode.OK
    outcome = "nothing-to-do"  # the `outcome` of a `--format json` summary

    def render(self) -> str:
        """The message alone, with no `error:` prefix."""
        return str(self)
