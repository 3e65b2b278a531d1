"""Layer 3: a lesson's Go tests, run from a notebook, their results as data.

``go test -json`` reports every test's outcome; :func:`go_test` runs one package that way
and returns a :class:`TestReport`: each test's outcomes (a test run ``count`` times has
``count`` of them), the failure messages the tests printed, and any race reports.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .goreports import GoReport, race_reports
from .toolchain import find_go


@dataclass
class TestReport:
    command: str
    exit_code: int
    results: dict[str, list[str]] = field(default_factory=dict)  # test -> ["pass", "fail", ...]
    messages: list[str] = field(default_factory=list)  # lines the tests logged (file_test.go:N)
    output: list[str] = field(default_factory=list)  # everything the tests printed

    __test__ = False  # not a pytest test class, despite its name

    @property
    def runs(self) -> int:
        return sum(len(r) for r in self.results.values())

    @property
    def failed(self) -> int:
        return sum(r.count("fail") for r in self.results.values())

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and self.failed == 0

    def race_reports(self) -> list[GoReport]:
        return race_reports(self.output)

    def rows(self) -> list[dict]:
        """One row per test: its name, runs, failures (for :func:`gopitfalls.plots.table`)."""
        return [{"test": name, "runs": len(r), "failed": r.count("fail")}
                for name, r in self.results.items()]

    def __str__(self) -> str:
        lines = [f"$ {self.command}"]
        lines += [f"--- {'FAIL' if 'fail' in r else 'PASS'}: {name} ({len(r)} run(s), "
                  f"{r.count('fail')} failed)" for name, r in self.results.items()]
        lines.append(f"exit code {self.exit_code}")
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def module_root(package_dir: Path) -> Path:
    """The folder of the go.mod that ``package_dir`` belongs to."""
    for folder in (package_dir, *package_dir.parents):
        if (folder / "go.mod").exists():
            return folder
    raise FileNotFoundError(f"no go.mod above {package_dir}")


def go_test(package_dir: Path, run: str | None = None, *, count: int = 1,
            parallel: int | None = None, race: bool = False, tags: tuple[str, ...] = (),
            timeout_s: float = 240, env: dict[str, str] | None = None) -> TestReport:
    """``go test -json`` on one package (a folder of a Go module); ``run`` selects tests
    (a regular expression, as ``go test -run``); ``env`` is added to the tests' environment."""
    go = find_go()
    root = module_root(package_dir)
    args = ["test", "-json", f"-count={count}"]
    args += ["-race"] if race else []
    args += ["-parallel", str(parallel)] if parallel else []
    args += ["-tags", ",".join(tags)] if tags else []
    args += ["-run", run] if run else []
    args.append("./" + package_dir.relative_to(root).as_posix())
    proc = subprocess.run([str(go.binary), *args], env=go.env(**(env or {})), cwd=root,
                          capture_output=True, text=True, timeout=timeout_s)
    report = TestReport("go " + shlex.join(args[:1] + args[2:]), proc.returncode)
    for line in proc.stdout.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        text = event.get("Output", "").rstrip("\n")
        if event.get("Test") and event.get("Action") in ("pass", "fail"):
            report.results.setdefault(event["Test"], []).append(event["Action"])
        elif event.get("Action") == "output":
            report.output.append(text)
            if "_test.go:" in text:
                report.messages.append(text.strip())
    if not report.results:
        raise RuntimeError(f"{report.command} ran no test (exit code {proc.returncode}):\n"
                           + proc.stdout[-2000:] + proc.stderr[-2000:])
    return report
