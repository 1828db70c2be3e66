"""The `tenet` command line: thin commands over the Python API (runtime/api.py), with explicit exit codes.

Exit codes (`tenet.compiler.errors.ExitCode`): 0 success, 1 policy errors (or `diff` found changes,
`fmt --check` unformatted files, `explain` a BAD verdict), 2 usage or I/O errors, 3 a
`compile-and-train` gate failed (registered, not promoted). Commands raise; `main` alone turns an
error into its message and exit code. No traceback reaches the user unless `--debug` is given.
Every command that reports takes `--format text|json`; with json, stdout holds one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import sys
import traceback
from typing import Callable

from tenet.compiler import __version__
from tenet.compiler.diagnostics import CompileError
from tenet.compiler.errors import ExitCode, TenetError
from tenet.runtime.errors import UsageError
from tenet.runtime.extras import MissingExtra, needs_extras
from tenet.runtime.commands import compiling, cycles, data
from tenet.runtime.console import Console


def main(argv: list[str] | None = None, console: Console | None = None) -> int:
    """Run the CLI and return its exit code."""
    console = console or Console()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "check" and not (args.policies or args.explain):
            args.parser.error("name at least one POLICY, or a code with --explain CODE")
    except SystemExit as exc:  # argparse already printed usage
        return ExitCode.OK if exc.code == 0 else ExitCode.USAGE
    try:
        with needs_extras(f"tenet {args.command}", getattr(args, "extras", ())):
            return args.handler(args, console)
    except KeyboardInterrupt:
        console.error("interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        return _fail(exc, args, console)


def _fail(exc: Exception, args: argparse.Namespace, console: Console) -> int:
    """Print a command's failure as its kind asks and return its exit code: the one error mapping.

    A `TenetError` prints its own message (an outcome such as `NothingToTrain` on stdout, exit 0).
    Anything else is unexpected: a traceback with `--debug`, else one line, naming the OS
    problem (disk full, read-only, permissions) when there is one in the exception's chain.
    """
    if isinstance(exc, args.usage_errors):
        exc = UsageError(str(exc))
    if isinstance(exc, MissingExtra):
        exc = exc.named(f"tenet {args.command}")  # the command the user typed, not the API's feature
    if isinstance(exc, TenetError):
        as_json = getattr(args, "format", "text") == "json" and hasattr(args, "policy")
        if as_json and exc.exit_code == ExitCode.OK:
            from tenet.runtime.summary import outcome_summary, to_json

            # `--format json` owns stdout: an outcome such as "nothing to train" is a summary too.
            console.print_json(to_json(outcome_summary(args.policy, exc)))
            return exc.exit_code
        if as_json and isinstance(exc, CompileError):
            from tenet.runtime.summary import errors_summary, to_json

            # A policy error found while the command ran (no held-out rows in its prompt files).
            console.print_json(to_json(errors_summary(args.policy, exc.diagnostics)))
        say = console.print if exc.exit_code == ExitCode.OK else console.error
        say(exc.render())
        return exc.exit_code
    from tenet.runtime.errors import describe_failure

    if args.debug:
        console.error("".join(traceback.format_exception(exc)))
    elif (os_problem := describe_failure(exc)) is not None:
        # Disk full, read-only, permissions: the user's to fix, so no traceback hint.
        console.error(f"error: {os_problem}")
    else:
        console.error(f"error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)")
    return ExitCode.USAGE


def build_parser() -> argparse.ArgumentParser:
    """Define the commands and their options."""
    parser = argparse.ArgumentParser(prog="tenet", description="Compile policies into aligned models.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--version", action="version", version=f"tenet {__version__}",
                        help="print tenet's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="one of the commands below; `tenet COMMAND --help` for its options")
    command = functools.partial(_command, commands)
    compiling.make_parser(command)
    data.make_parser(command)
    cycles.make_parser(command)
    compiling.make_authoring_parser(command)
    return parser


def _command(commands, name: str, handler: Callable, help: str,
             usage_errors: tuple[type[Exception], ...] = (),
             extras: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """Add one subcommand.

    Args:
        commands: The parser's subparsers.
        name: The command's name.
        handler: `cmd_*`, called with the parsed arguments and the console.
        help: One line for `tenet --help` and the command's own help.
        usage_errors: Exceptions that are not tenet's own but that this command reports as
            usage errors, with their message alone (see `_fail`).
        extras: The optional dependencies it needs (pyproject.toml's extras), named together
            when one of their modules is missing.
    """
    sub = commands.add_parser(name, help=help, description=help)
    sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    sub.set_defaults(handler=handler, usage_errors=usage_errors, extras=extras, parser=sub)
    return sub


def main_entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    main_entry()
