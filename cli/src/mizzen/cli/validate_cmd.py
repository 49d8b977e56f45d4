"""``mizzen validate``: check documents offline, with Mizzen's (and Istio's) rules."""

from __future__ import annotations

import click

from mizzen.api import ValidationError, parse_documents
from mizzen.cli.sources import read_sources


@click.command()
@click.option("-f", "--filename", "files", multiple=True, required=True, metavar="FILE|DIR|-",
              help="A YAML/JSON file, a directory of them, or - for standard input.")  # fmt: skip
def validate(files: tuple[str, ...]) -> None:
    """Validate documents without a server; exit 1 if any is invalid.

    \b
    Examples:
      mizzen validate -f samples/bookinfo/
      kubectl get vs -o yaml | mizzen validate -f -
    """
    count = 0
    problems: list[str] = []
    for source in read_sources(files):
        try:
            count += len(parse_documents(source.content, source.name))
        except ValidationError as exc:
            problems.extend(str(e) for e in exc.errors)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        raise click.ClickException(f"{len(problems)} problem(s) found")
    click.echo(f"{count} document(s) valid")
