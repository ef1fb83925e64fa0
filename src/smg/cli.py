"""The `smg` command: `launch` (also the bare form), `serve` and `sim`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

SUBCOMMANDS = ("launch", "serve", "sim")


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args and args[0] in SUBCOMMANDS else "launch"
    rest = args[1:] if args and args[0] in SUBCOMMANDS else args
    if command == "sim":
        from smg.sim import cli as sim_cli

        parser = argparse.ArgumentParser(
            prog="smg sim", description="Simulated SGLang/vLLM-like inference worker"
        )
        sim_cli.add_arguments(parser)
        sim_cli.run(parser.parse_args(rest))
    elif command == "serve":
        from smg import serve

        serve.main(rest)
    else:
        from smg import launch

        launch.main(rest)
