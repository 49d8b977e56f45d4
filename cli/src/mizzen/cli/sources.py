"""Reading ``-f FILE|DIR|-`` arguments into named sources."""

from __future__ import annotations

import sys
from pathlib import Path

from mizzen.protos.config.v1 import config_pb2 as pb

_SUFFIXES = {".yaml", ".yml", ".json"}


def read_sources(paths: tuple[str, ...]) -> list[pb.SourceFile]:
    """Every file named (``-`` is standard input; a directory gives its YAML/JSON files,
    recursively, in name order). Raises ``click.BadParameter`` for what cannot be read."""
    import click

    sources: list[pb.SourceFile] = []
    for raw in paths:
        if raw == "-":
            sources.append(pb.SourceFile(name="-", content=sys.stdin.read()))
            continue
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
            if not files:
                raise click.BadParameter(f"{raw}: no .yaml, .yml or .json files", param_hint="-f")
        else:
            files = [path]
        for file in files:
            try:
                content = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise click.BadParameter(f"{file}: {exc}", param_hint="-f") from exc
            sources.append(pb.SourceFile(name=str(file), content=content))
    return sources
