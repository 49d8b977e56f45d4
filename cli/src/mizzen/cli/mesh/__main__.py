"""The detached supervisor: ``python -m mizzen.cli.mesh --lock-fd N --config JSON``.

Started by ``mizzen up --detach`` only (in its own session, output to the supervisor log),
with the home's lock already held on descriptor ``N``. It runs the mesh until SIGTERM
(``mizzen down``); the state file is its only display.
"""

from __future__ import annotations

import argparse
import sys

from mizzen.cli.mesh.config import MeshConfig
from mizzen.cli.mesh.display import NullDisplay
from mizzen.cli.mesh.home import HomeLock, MeshHome
from mizzen.cli.mesh.runner import Prepared, run_mesh


def main(argv: list[str] | None = None) -> int:
    """Run the detached supervisor; returns its exit status."""
    parser = argparse.ArgumentParser(prog="python -m mizzen.cli.mesh")
    parser.add_argument("--lock-fd", type=int, required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    config = MeshConfig.from_json(args.config)
    try:
        lock = HomeLock.adopt(args.lock_fd)
    except OSError as exc:
        print(f"mizzen supervisor: cannot hold the home's lock: {exc}", file=sys.stderr)
        return 1
    home = MeshHome(config.home)
    binaries = {}
    if not config.all_in_one:
        from mizzen.cli.mesh.components import BINARIES, resolve_binary

        binaries = {name: resolve_binary(name, config.bin_dir) for name in BINARIES}
    return run_mesh(config, Prepared(home, lock, binaries), NullDisplay())


if __name__ == "__main__":
    sys.exit(main())
