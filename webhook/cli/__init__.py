"""The `bess-duos` command line: one parser, sub-commands registered by their modules."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

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
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
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


if __name__ == "__main__":
    sys.exit(main())
