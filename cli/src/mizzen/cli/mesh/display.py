"""Showing the mesh: a live table on a terminal, one line per change otherwise.

Both displays are fed whole :class:`~mizzen.cli.mesh.state.MeshState` records (from the
supervisor in the foreground, from the state file while ``--detach`` waits), so they show
the same thing whichever process runs the mesh. :func:`render_table` is also what
``mizzen status`` prints.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Mapping
from typing import Protocol, TextIO

from mizzen.cli.mesh.state import ComponentState, MeshState, Phase, Status

_COLORS = {
    Status.HEALTHY: "32",  # green
    Status.STARTING: "33",  # yellow
    Status.RESTARTING: "33",
    Status.STOPPING: "33",
    Status.FAILED: "31",  # red
    Status.PENDING: "2",  # dim
    Status.STOPPED: "2",
}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_HEALTH_COLORS = {"healthy": "32", "down": "31", "unhealthy": "31"}


class Display(Protocol):
    """Something that shows the mesh's progress; ``update`` is called after every change."""

    def update(self, state: MeshState) -> None:
        """Show ``state`` (the display must not mutate or keep it)."""
        ...

    def close(self) -> None:
        """Leave the output in a clean state (the last frame stays visible)."""
        ...


def _paint(text: str, code: str | None, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def render_table(state: MeshState, *, health: Mapping[str, str] | None = None,
                 color: bool = False, now: float | None = None,
                 max_width: int | None = None) -> list[str]:  # fmt: skip
    """The components of ``state`` as aligned lines (a header first).

    With ``health`` (component → ``healthy``/``unhealthy``/``down``, from probes), the
    HEALTH column shows it; without, it shows what the supervisor recorded. ``max_width``
    shortens the trailing detail so that no line is wider.
    """
    now = time.time() if now is None else now
    rows = [("COMPONENT", "HEALTH", "ADDRESS", "PID", "RESTARTS", "SINCE", "")]
    codes: list[str | None] = [None]
    for record in state.components.values():
        shown = health.get(record.name, "down") if health is not None else str(record.status)
        if health is not None and record.status is Status.RESTARTING:
            shown = "restarting"
        code = _HEALTH_COLORS.get(shown, "33") if health is not None else _COLORS.get(record.status)
        rows.append((record.name, shown, record.address, str(record.pid or "-"),
                     str(record.restarts), _age(now - record.since), record.detail))  # fmt: skip
        codes.append(code)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row, code in zip(rows, codes, strict=True):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        visible = len("  ".join(cells))
        cells[1] = _paint(cells[1], code, color)
        line = "  ".join(cells)
        detail = row[-1]
        if detail and max_width is not None and visible + 2 + len(detail) > max_width:
            room = max(0, max_width - visible - 3)
            detail = detail[:room] + "…" if room else ""
        if detail:
            line += "  " + detail
        lines.append(line.rstrip())
    return lines


def render_environment(env: Mapping[str, str]) -> list[str]:
    """``export NAME=value`` lines for a shell."""
    return [f"export {name}={value}" for name, value in env.items()]


def ready_footer(state: MeshState, stop_hint: str) -> list[str]:
    """What to print once the mesh is ready: the environment and how to stop it."""
    return [
        "",
        "The mesh is ready. To use it from other shells and tools:",
        *(f"  {line}" for line in render_environment(state.env)),
        "",
        stop_hint,
    ]


class LiveDisplay:
    """A table redrawn in place on a terminal (ANSI cursor movement)."""

    def __init__(self, out: TextIO, *, stop_hint: str, color: bool = True) -> None:
        self._out = out
        self._stop_hint = stop_hint
        self._color = color
        self._drawn = 0
        self._frame: list[str] = []

    def update(self, state: MeshState) -> None:
        """See :meth:`Display.update`."""
        title = {
            Phase.STARTING: "starting the local mesh",
            Phase.READY: "local mesh running",
            Phase.STOPPING: "stopping the local mesh",
            Phase.STOPPED: "local mesh stopped",
            Phase.FAILED: "local mesh failed to start",
        }[state.phase]
        width = shutil.get_terminal_size().columns - 1
        frame = [f"mizzen: {title} in {state.home} ({state.mode})"[:width], "",
                 *render_table(state, color=self._color, max_width=width)]  # fmt: skip
        if state.phase is Phase.READY:
            frame += ready_footer(state, self._stop_hint)
        if frame == self._frame:
            return  # polled again, nothing new to show
        self._frame = frame
        parts = []
        if self._drawn:
            parts.append(f"\x1b[{self._drawn}F")  # to the start of the first drawn line
        parts += [f"\x1b[2K{line}\n" for line in frame]
        parts.append("\x1b[J")  # clear whatever an earlier, longer frame left below
        self._out.write("".join(parts))
        self._out.flush()
        # Long lines (the exports) wrap: count the rows they take on screen.
        columns = width + 1
        self._drawn = sum(max(1, -(-len(_ANSI.sub("", line)) // columns)) for line in frame)

    def close(self) -> None:
        """See :meth:`Display.close`."""
        self._out.flush()


class PlainDisplay:
    """One line per change of a component (status, pid, restarts), for logs and pipes."""

    def __init__(self, out: TextIO, *, stop_hint: str) -> None:
        self._out = out
        self._stop_hint = stop_hint
        self._seen: dict[str, tuple[Status, int | None, int]] = {}
        self._phase: Phase | None = None

    def _line(self, record: ComponentState) -> str:
        text = f"{record.name}: {record.status}"
        if record.status in (Status.STARTING, Status.HEALTHY):
            text += f" at {record.address}"
        if record.pid:
            text += f" (pid {record.pid})"
        if record.restarts:
            text += f", restarts: {record.restarts}"
        if record.detail:
            text += f" - {record.detail}"
        return text

    def update(self, state: MeshState) -> None:
        """See :meth:`Display.update`."""
        lines = []
        if self._phase is None:
            lines.append(f"mizzen: starting the local mesh in {state.home} ({state.mode})")
        for record in state.components.values():
            key = (record.status, record.pid, record.restarts)
            if record.status is not Status.PENDING and self._seen.get(record.name) != key:
                self._seen[record.name] = key
                lines.append(self._line(record))
        if state.phase is not self._phase:
            if state.phase is Phase.READY:
                lines += ready_footer(state, self._stop_hint)
            elif state.phase is Phase.STOPPED:
                lines.append("mizzen: local mesh stopped")
            self._phase = state.phase
        if lines:
            self._out.write("".join(f"{line}\n" for line in lines))
            self._out.flush()

    def close(self) -> None:
        """See :meth:`Display.close`."""
        self._out.flush()


class NullDisplay:
    """Shows nothing (the detached supervisor: its state file is its display)."""

    def update(self, state: MeshState) -> None:
        """See :meth:`Display.update`."""

    def close(self) -> None:
        """See :meth:`Display.close`."""


def make_display(out: TextIO, *, stop_hint: str) -> Display:
    """A live display when ``out`` is a terminal, plain lines otherwise."""
    isatty = getattr(out, "isatty", None)
    if callable(isatty) and isatty():
        return LiveDisplay(out, stop_hint=stop_hint)
    return PlainDisplay(out, stop_hint=stop_hint)
