"""The PD disaggregation flags of `smg launch`, mapped onto `PdConfig`.

`--prefill URL [BOOTSTRAP_PORT|none]` and `--decode URL` repeat once per worker,
as in the original; a missing or `none` port is sent as null.
"""

from __future__ import annotations

import argparse

from smg.config import PdConfig

SUPPORTED_SCHEMES = ("http://", "https://")
NO_PORT = "none"


def add_pd_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("PD Disaggregation")
    group.add_argument(
        "--pd-disaggregation",
        action="store_true",
        help="Serve each request with a prefill and a decode worker",
    )
    group.add_argument(
        "--prefill",
        nargs="+",
        action="append",
        default=[],
        metavar=("URL", "BOOTSTRAP_PORT"),
        help="A prefill worker and its bootstrap port (or none); repeatable",
    )
    group.add_argument(
        "--decode",
        action="append",
        default=[],
        metavar="URL",
        help="A decode worker; repeatable",
    )


def pd_config(args: argparse.Namespace) -> PdConfig:
    prefill = tuple((entry[0], _port(entry)) for entry in args.prefill if entry)
    return PdConfig(
        enabled=args.pd_disaggregation,
        prefill=prefill,
        decode_urls=tuple(args.decode),
    )


def _port(entry: list[str]) -> int | None:
    if len(entry) < 2 or entry[1].lower() == NO_PORT:
        return None
    try:
        return int(entry[1])
    except ValueError:
        return None


def pd_problems(args: argparse.Namespace) -> list[str]:
    """Every problem with the PD flags, each naming the flag and value."""
    if not args.pd_disaggregation:
        if args.prefill or args.decode:
            return ["--prefill and --decode need --pd-disaggregation"]
        return []
    problems = []
    if not args.prefill or not args.decode:
        problems.append(
            "--pd-disaggregation needs at least one --prefill and one --decode"
        )
    if args.worker_urls:
        problems.append(
            "--worker-urls cannot be combined with --pd-disaggregation; "
            "list workers with --prefill and --decode"
        )
    for entry in args.prefill:
        problems += _prefill_problems(entry)
    for url in args.decode:
        if not url.startswith(SUPPORTED_SCHEMES):
            problems.append(f"--decode {url}: expected http://host:port")
    return problems


def _prefill_problems(entry: list[str]) -> list[str]:
    problems = []
    if not entry[0].startswith(SUPPORTED_SCHEMES):
        problems.append(f"--prefill {entry[0]}: expected http://host:port")
    if len(entry) > 2:
        problems.append(
            f"--prefill takes URL [BOOTSTRAP_PORT|none], got {' '.join(entry)}"
        )
    if len(entry) == 2 and entry[1].lower() != NO_PORT:
        port = entry[1]
        if not (port.isdigit() and 1 <= int(port) <= 65535):
            problems.append(
                f"--prefill {entry[0]}: bootstrap port must be 1-65535 or none, "
                f"got {port}"
            )
    return problems
