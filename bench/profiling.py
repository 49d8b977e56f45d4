"""Optional sampling profiles of the processes under benchmark, with py-spy.

py-spy is not a dependency of the project: install it into the environment for a one-off
(``python3 -m uv pip install --python .venv/bin/python py-spy``). :func:`profiled` samples
given pids while its body runs and writes one collapsed-stack file per process
(``<name>.txt``: ``frame;frame;... count`` per line, py-spy's ``raw`` format);
``python bench/profiling.py FILE [--top N]`` prints where the samples fall, by function:
``self`` counts samples whose innermost frame is the function, ``total`` samples where it
is anywhere on the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

RATE = 200  # samples per second


def find_py_spy() -> str:
    """The py-spy executable (next to this interpreter, else on PATH)."""
    candidates = [Path(sys.executable).parent / "py-spy"]
    on_path = shutil.which("py-spy")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError("py-spy is not installed (see bench/profiling.py)")


@asynccontextmanager
async def profiled(pids: Mapping[str, int], out_dir: Path, *, prefix: str = "",
                   idle: bool = False) -> AsyncIterator[None]:  # fmt: skip
    """Sample every ``{name: pid}`` while the body runs (``idle``: also threads that wait),
    into ``<out_dir>/<prefix><name>.txt`` (``out_dir`` must exist). The samplers are stopped
    (SIGINT, which makes py-spy write its file) whatever happens."""
    executable = find_py_spy()
    samplers = []
    for name, pid in pids.items():
        argv = [executable, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw",
                "--nonblocking", "--output", str(out_dir / f"{prefix}{name}.txt"),
                *(["--idle"] if idle else [])]  # fmt: skip
        quiet = asyncio.subprocess.DEVNULL
        samplers.append(await asyncio.create_subprocess_exec(*argv, stdout=quiet, stderr=quiet))
    try:
        yield
    finally:
        for sampler in samplers:
            with contextlib.suppress(ProcessLookupError):
                sampler.send_signal(signal.SIGINT)
        for sampler in samplers:
            try:
                await asyncio.wait_for(sampler.wait(), 30.0)
            except TimeoutError:
                sampler.kill()
                await sampler.wait()


def summarize(path: Path, top: int = 25, within: str = "") -> str:
    """The functions with the most samples in a collapsed-stack file (see the module); with
    ``within``, only the stacks where a function of that name appears (e.g. ``run_service``
    for a service's event-loop thread)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        if within and not any(_named(f, within) for f in frames):
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    if not total:
        return f"{path.name}: no samples" + (f" within {within}" if within else "")
    lines = [f"{path.name}: {total} samples ({total / RATE:.2f} s at {RATE}/s)", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("total:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in anywhere.most_common(top)]
    return "\n".join(lines)


def _named(function: str, name: str) -> bool:
    qualified = function.split(" (", 1)[0]
    return qualified == name or qualified.endswith("." + name)


def _function(frame: str) -> str:
    # py-spy frames read "function (path/to/module.py:line)"; keep function and module file.
    name, _, where = frame.partition(" (")
    module = where.rsplit("/", 1)[-1].split(":", 1)[0]
    return f"{name} ({module})" if module else name


def main(argv: Sequence[str] | None = None) -> None:
    """Print :func:`summarize` of each file given."""
    parser = argparse.ArgumentParser(description="Summarize py-spy raw profiles.")
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--within", default="", help="only stacks through this function")
    args = parser.parse_args(argv)
    for path in args.files:
        print(summarize(path, args.top, args.within))


if __name__ == "__main__":
    main()
