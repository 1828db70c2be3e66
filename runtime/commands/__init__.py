"""The `tenet` subcommands by group; each module's `make_parser(command)` adds its commands (runtime/cli.py)."""
