"""Layer 3: reading what the Go runtime reports about itself, as data.

A program built with ``-race`` prints a report per data race (from ``WARNING: DATA RACE``
to a line of ``=``); a program that dies of a ``fatal error:`` or an unrecovered
``panic:`` prints the reason and every goroutine's stack. Lessons show both, trimmed to
the frames of the lesson's own code, with the source line each frame points at.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

RACE_START = "WARNING: DATA RACE"
CRASH_START = ("fatal error:", "panic:")
_FRAME_LOCATION = re.compile(r"^\s+(\S+\.go):(\d+)")


@dataclass(frozen=True)
class Frame:
    """One stack frame: ``func`` (``main.(*server).view``), the file and line it was in."""

    func: str
    file: str
    line: int

    def render(self, source: list[str] | None = None, variant_file: str = "") -> str:
        """``  main.view      main.go:42   the source line`` (the source line only when
        ``source`` is given and the frame is in ``variant_file``, a path suffix)."""
        text = ""
        if source and variant_file and self.file.endswith(variant_file) and \
                0 < self.line <= len(source):
            text = source[self.line - 1].strip()
        where = f"{os.path.basename(self.file)}:{self.line}"
        return f"  {self.func:34s} {where:14s} {text}".rstrip()


@dataclass
class Section:
    """A heading of a report ("Write at 0x... by goroutine 8:", "goroutine 7 [running]:")
    and the frames under it."""

    heading: str
    frames: list[Frame] = field(default_factory=list)


@dataclass
class GoReport:
    """A race report or a crash report: its first line, its sections, its raw lines."""

    title: str
    sections: list[Section]
    lines: list[str]

    def frames(self, prefixes: tuple[str, ...] = ("main.",)) -> list[Frame]:
        """Every frame whose function starts with one of ``prefixes``, in order."""
        return [f for s in self.sections for f in s.frames if f.func.startswith(prefixes)]

    def render(self, source: str | None = None, variant_file: str = "main.go",
               prefixes: tuple[str, ...] = ("main.",), sections: int | None = None) -> str:
        """The title, then each section's heading and its frames from ``prefixes``, with the
        source line of frames in ``variant_file`` when ``source`` (the file's text) is
        given. ``sections`` keeps only the first N sections."""
        src = source.splitlines() if source else None
        out = [self.title]
        for section in self.sections[:sections]:
            out.append(section.heading)
            out += [f.render(src, variant_file) for f in section.frames
                    if f.func.startswith(prefixes)]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


def _parse_sections(lines: list[str]) -> list[Section]:
    sections: list[Section] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")) and line.rstrip().endswith(":"):
            sections.append(Section(line.strip()))
        elif sections and i + 1 < len(lines) and (m := _FRAME_LOCATION.match(lines[i + 1])):
            func = line.strip()
            func = func[:func.rindex("(")] if func.endswith(")") and "(" in func else func
            sections[-1].frames.append(Frame(func, m.group(1), int(m.group(2))))
    return sections


def race_reports(lines: list[str]) -> list[GoReport]:
    """Every race report in a program's (or ``go test``'s) output."""
    reports, current = [], None
    for line in lines:
        if line.startswith(RACE_START):
            current = [line]
            reports.append(current)
        elif current is not None:
            if line.startswith("=================="):
                current = None
            else:
                current.append(line)
    return [GoReport(r[0], _parse_sections(r[1:]), r) for r in reports]


def crash_report(lines: list[str]) -> GoReport | None:
    """The first ``fatal error:`` or ``panic:`` and the stacks after it; None if the output
    has none. Its sections are the goroutines, the one that crashed first."""
    start = next((i for i, line in enumerate(lines) if line.startswith(CRASH_START)), None)
    if start is None:
        return None
    body = lines[start + 1:]
    return GoReport(lines[start], _parse_sections(body), lines[start:])
