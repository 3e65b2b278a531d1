"""Layer 2: compile any ``package main`` into a static binary, with the probe injected.

The telemetry probe (``probe/probe.go``) is added to package main through
``go build -overlay``, so lesson code and a learner's code carry no telemetry of their
own. A directory outside any Go module gets a virtual ``go.mod`` the same way.
Compile errors raise :class:`BuildError`: file:line with the source lines, which a
notebook shows as a message instead of a traceback.

A build stamp beside each binary records a hash of everything the build reads (the Go
toolchain, the flags, and every Go source of the module trees the package can import
from, local ``replace`` targets included); while it matches, ``build()`` returns the
binary without invoking ``go`` at all (each ``go build`` costs 0.3-1 s of package loading
even when nothing changed). Builds of one output hold a file lock on it, so a background
``gopitfalls warm`` and a lesson run (or two kernels) never write the same binary at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .toolchain import Go, cache_root, find_go

PROBE_SOURCE = Path(__file__).parent / "probe" / "probe.go"
TOOLS_DIR = Path(__file__).parent / "gotools"  # the engine's own Go programs
PROBE_FILE_NAME = "0_gopitfalls_probe.go"  # sorts first: its key is read first
BUILD_TIMEOUT_S = 300

_ERROR_LINE = re.compile(
    r"^(?P<file>[^\s:][^:]*\.go):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<msg>.*)$"
)


@dataclass(frozen=True)
class Binary:
    """A built program, ready for a backend to run."""

    path: Path
    name: str
    source: Path
    race: bool
    probe: bool
    build_seconds: float  # every build links statically, race builds included


@dataclass
class CompileError:
    file: str
    line: int
    column: int | None
    message: str
    context: list[tuple[int, str]] = field(default_factory=list)

    def format(self) -> str:
        where = f"{self.file}:{self.line}" + (f":{self.column}" if self.column else "")
        lines = [f"{where}: {self.message}"]
        for number, text in self.context:
            marker = ">" if number == self.line else " "
            lines.append(f"  {marker} {number:4d} | {text}")
        return "\n".join(lines)


class BuildError(Exception):
    """The Go program did not compile. ``str()`` is the learner-facing message."""

    def __init__(self, source: Path, errors: list[CompileError], raw: str, hint: str = ""):
        self.source = source
        self.errors = errors
        self.raw = raw
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        parts = [f"Go build failed for {self.source}:"]
        parts += [e.format() for e in self.errors] or [self.raw.strip()]
        if self.hint:
            parts.append(f"Fix: {self.hint}")
        return "\n".join(parts)

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: the learner sees only the
        # compiler's findings with their source lines.
        return ["\x1b[31mBuildError\x1b[0m: " + self._message()]


def _find_module_root(directory: Path) -> Path | None:
    for parent in [directory, *directory.parents]:
        if (parent / "go.mod").exists():
            return parent
    return None


def _source_context(path: Path, line: int, radius: int = 1) -> list[tuple[int, str]]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    lo, hi = max(1, line - radius), min(len(lines), line + radius)
    return [(n, lines[n - 1]) for n in range(lo, hi + 1)]


def parse_compiler_output(output: str, workdir: Path) -> list[CompileError]:
    """Turn ``go build`` output into CompileErrors (probe-file lines are hidden)."""
    errors = []
    for raw_line in output.splitlines():
        m = _ERROR_LINE.match(raw_line.strip())
        if not m or m.group("file").endswith(PROBE_FILE_NAME):
            continue
        path = (workdir / m.group("file")).resolve()
        line = int(m.group("line"))
        errors.append(
            CompileError(
                file=str(path),
                line=line,
                column=int(m.group("col")) if m.group("col") else None,
                message=m.group("msg"),
                context=_source_context(path, line),
            )
        )
    return errors


def _hint(output: str) -> str:
    if "function main is undeclared" in output:
        return "a runnable program needs 'func main()' in package main."
    # "found packages main (the probe's file) and shop (lib.go)": the probe's file sorts first
    if re.search(r"found packages (main .* and \w+|\w+ .* and main)", output) \
            or "is not a main package" in output:
        return "declare 'package main' at the top of every file of the program."
    if "no Go files" in output:
        return "the directory has no .go files: point build() at the program's folder."
    if "cannot find module providing package" in output or "is not in std" in output:
        return "only the standard library is available here (no module downloads)."
    return ""


# What a build reads besides .go files: assembly, cgo sources, module files.
_SOURCE_SUFFIXES = {".go", ".s", ".c", ".h", ".syso"}
_MODULE_FILES = {"go.mod", "go.sum", "go.work"}
_LOCAL_REPLACE = re.compile(r"=>\s*(\.{1,2}/\S*)")
# Environment variables that change what `go build` produces.
_GO_ENV_KEYS = ("GOFLAGS", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "GOEXPERIMENT", "CC",
                "CGO_CFLAGS", "CGO_LDFLAGS")


def _module_trees(source: Path) -> list[Path]:
    """The folders whose Go files the package may compile: its module (or, outside any
    module, its own folder) and every local ``replace`` target, followed transitively."""
    start = _find_module_root(source) or source
    trees, todo = [], [start]
    while todo:
        root = todo.pop().resolve()
        if root in trees or not root.is_dir():
            continue
        trees.append(root)
        gomod = root / "go.mod"
        if gomod.is_file():
            todo += [root / target for target in _LOCAL_REPLACE.findall(gomod.read_text())]
    return trees


def _hash_tree(root: Path, digest) -> None:
    """Feed every file of ``root`` a Go build may read into ``digest`` (path and content).

    Folders Go ignores (``.x``, ``_x``) are skipped; a folder whose Go files embed files
    (``//go:embed``) is hashed whole."""
    embedding = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if name in _MODULE_FILES or os.path.splitext(name)[1] in _SOURCE_SUFFIXES:
                path = os.path.join(folder, name)
                content = Path(path).read_bytes()
                digest.update(f"{path}\0{len(content)}\0".encode() + content)
                if name.endswith(".go") and b"//go:embed" in content:
                    embedding.append(folder)
    for folder in sorted(set(embedding)):
        for sub, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(sub, name)
                digest.update(f"embed {path}\0".encode() + Path(path).read_bytes())


def build_key(source: Path, go: Go, flags: list[str], env: dict[str, str]) -> str:
    """A hash of everything that could change the binary ``go build`` makes of ``source``:
    the toolchain (its version and binary), the command's flags, the environment Go reads,
    the probe's source and every Go source of the module trees the package can import."""
    digest = hashlib.sha256()
    stat = go.binary.stat()
    digest.update(f"{go.version}|{go.binary}|{stat.st_size}|{stat.st_mtime_ns}|"
                  f"{go.goroot}|{flags}|{source}".encode())
    digest.update(repr([(k, env.get(k)) for k in _GO_ENV_KEYS]).encode())
    digest.update(PROBE_SOURCE.read_bytes())
    for tree in _module_trees(source):
        _hash_tree(tree, digest)
    return digest.hexdigest()


def _stamp_of(binary: Path) -> Path:
    return binary.with_name(binary.name + ".stamp")


def _read_stamp(binary: Path) -> dict:
    """The stamp recorded for ``binary`` and the binary's size and mtime now ({} if either
    is missing)."""
    try:
        stamp = json.loads(_stamp_of(binary).read_text())
        stat = binary.stat()
    except (OSError, ValueError):
        return {}
    return {"stamp": stamp, "now": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}}


def _stamp_matches(binary: Path, key: str) -> bool:
    """True when ``binary`` is the one built under ``key`` and is unchanged since."""
    found = _read_stamp(binary)
    return bool(found) and found["stamp"] == {"key": key, **found["now"]}


def _forget_unrecorded(binary: Path) -> None:
    """Remove ``binary`` unless it is the one the stamp recorded. Go trusts a binary whose
    header carries the right build ID, even one cut short by a build killed half-way."""
    found = _read_stamp(binary)
    if not found or {k: found["stamp"].get(k) for k in found["now"]} != found["now"]:
        binary.unlink(missing_ok=True)


def _write_stamp(binary: Path, key: str) -> None:
    stat = binary.stat()
    tmp = _stamp_of(binary).with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"key": key, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    os.replace(tmp, _stamp_of(binary))


def _output_path(source: Path, race: bool, probe: bool, tags: tuple[str, ...]) -> Path:
    # One stable path per (program, flavour): go build then skips relinking a binary
    # that is already up to date, which keeps warm re-runs cheap.
    key = hashlib.sha256(f"{source}|{race}|{probe}|{tags}".encode()).hexdigest()[:16]
    out_dir = cache_root() / "bin" / key
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / (source.name if source.name not in ("broken", "fixed") else
                      f"{source.parent.name}-{source.name}")


def build(
    source: str | Path,
    *,
    race: bool = False,
    probe: bool = True,
    tags: tuple[str, ...] = (),
    ldflags: str = "",
) -> Binary:
    """Compile the ``package main`` in directory ``source`` into a static binary."""
    source = Path(source).resolve()
    if not source.is_dir():
        raise BuildError(source, [], f"{source} is not a directory",
                         "pass the folder that holds the program's .go files.")
    if not any(source.glob("*.go")):
        raise BuildError(source, [], f"no .go files in {source}", _hint("no Go files"))
    go = find_go()
    out = _output_path(source, race, probe, tags)
    # netgo/osusergo keep even cgo (race) builds free of glibc's NSS at run time.
    flags = ["-tags=" + ",".join(("netgo", "osusergo", *tags))]
    if race:
        flags.append("-race")
        ldflags = f"-linkmode=external -extldflags=-static {ldflags}".strip()
    if ldflags:
        flags.append(f"-ldflags={ldflags}")
    env = go.env(CGO_ENABLED="1" if race else "0")
    started = time.monotonic()
    key = build_key(source, go, [*flags, f"probe={probe}"], env)
    # One build of an output at a time, across processes: a second caller waits, then
    # finds the stamp the first one wrote.
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _stamp_matches(out, key):
            _forget_unrecorded(out)
            _go_build(go, source, out, flags, env, probe, race)
            _write_stamp(out, key)
    elapsed = time.monotonic() - started
    return Binary(path=out, name=out.name, source=source, race=race, probe=probe,
                  build_seconds=elapsed)


def _go_build(go: Go, source: Path, out: Path, flags: list[str], env: dict[str, str],
              probe: bool, race: bool) -> None:
    """Run ``go build`` in place (Go itself skips relinking an up-to-date binary); raise
    BuildError with the compiler's findings when it fails."""
    overlay: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="gopitfalls-build-") as tmp:
        if probe:
            overlay[str(source / PROBE_FILE_NAME)] = str(PROBE_SOURCE)
        if _find_module_root(source) is None:
            gomod = Path(tmp) / "go.mod"
            gomod.write_text("module lab\n\ngo 1.27\n")
            overlay[str(source / "go.mod")] = str(gomod)
        cmd = [str(go.binary), "build", "-o", str(out)]
        if overlay:
            overlay_file = Path(tmp) / "overlay.json"
            overlay_file.write_text(json.dumps({"Replace": overlay}))
            cmd.append(f"-overlay={overlay_file}")
        cmd += [*flags, "."]
        try:
            proc = subprocess.run(cmd, cwd=source, env=env, capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(source, [], f"go build took longer than {BUILD_TIMEOUT_S} s",
                             "retry once the build cache is warm.") from exc
    if proc.returncode != 0:
        output = proc.stderr + proc.stdout
        if race and "C compiler" in output:
            raise BuildError(source, [], output,
                             "race builds need cgo and a C compiler: apt-get install gcc.")
        raise BuildError(source, parse_compiler_output(output, source), output, _hint(output))


def tool(name: str) -> Binary:
    """Build (once; later calls hit Go's cache) one of the engine's own Go tools in
    ``gotools/``: ``loadgen`` (layer 6), ``upstream`` or ``logsink`` (layer 5, with the
    probe)."""
    return build(TOOLS_DIR / name, probe=name in ("upstream", "logsink"))
