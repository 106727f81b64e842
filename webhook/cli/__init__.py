"""The `bess-duos` command line: one parser, sub-commands registered by their modules.

Every command reports failure by raising `errors.CliError` (or a core error of a known kind,
see `errors.as_cli_error`); `main` handles it here, once: one line on stderr, a JSON object
on stdout with `--json`, and the exit code from `errors.EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

from bess_duos.webhook.cli.errors import EXIT_CODES, EXIT_INPUT, CliError, as_cli_error
from bess_duos.webhook.cli.output import output_format

# Each module exposes `register(subparsers)` and sets `func` on the parsers it adds.
COMMAND_MODULES: tuple[str, ...] = (
    "bess_duos.webhook.cli.mpan",
    "bess_duos.webhook.cli.profile",
    "bess_duos.webhook.cli.tariffs",
    "bess_duos.webhook.cli.postcode",
    "bess_duos.webhook.cli.duos",
    "bess_duos.webhook.cli.site",
    "bess_duos.webhook.cli.portfolio",
    "bess_duos.webhook.cli.keys",
)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="bess-duos",
        description="GB DUoS charges and battery/flexibility value from an MPAN and a HH profile.",
        epilog="exit codes (every command):\n" + "\n".join(
            f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def report(args: argparse.Namespace, error: CliError) -> int:
    """Say what went wrong (stderr; and stdout as JSON with --json); returns the exit code."""
    if output_format(args) == "json":
        print(json.dumps({"ok": False, "error": error.kind, "exit_code": error.exit_code,
                          "message": error.message}, indent=2))
    for line in error.message.splitlines() or [""]:  # one line per problem
        print(f"error: {line}", file=sys.stderr)
    return error.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0), or a usage error argparse has printed (2)
        return stop.code if isinstance(stop.code, int) else EXIT_INPUT
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_INPUT
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `bess-duos dno list | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as exc:  # a known kind is a CliError; anything else is a fault
        error = as_cli_error(exc)
        if error is None:
            raise
        return report(args, error)


if __name__ == "__main__":
    sys.exit(main())
