"""Layer 8: Go source and diffs as HTML, for a lesson's notebook (``Lesson.show_source``
and ``Lesson.diff`` choose the lines; this module only draws them)."""

from __future__ import annotations

import html

_BOX = ("font-family:monospace;font-size:12px;white-space:pre;border:1px solid #ddd;"
        "padding:6px;overflow-x:auto")


class Html(str):
    """Markup that a notebook renders as HTML; still a plain string to Python."""

    def _repr_html_(self) -> str:
        return str(self)


def code_html(lines: list[str], first_number: int, marked: set[int], caption: str) -> Html:
    """Numbered source lines under a caption, the line numbers in ``marked`` highlighted."""
    rows = []
    for n, text in enumerate(lines, first_number):
        style = "background:#fff3b0;" if n in marked else ""
        rows.append(f'<div style="{style}"><span style="color:#999;user-select:none">'
                    f"{n:4d}  </span>{html.escape(text)}</div>")
    return Html(f'<div style="{_BOX}"><div style="color:#666">'
                f"{html.escape(caption)}</div>{''.join(rows)}</div>")


def diff_html(lines: list[str]) -> Html:
    """Unified-diff lines, added, removed and hunk-header lines coloured."""
    colors = {"+": "#e6ffec", "-": "#ffebe9", "@": "#ddf4ff"}
    rows = [f'<div style="background:{colors.get(ln[:1], "")}">{html.escape(ln)}</div>'
            for ln in lines]
    return Html(f'<div style="{_BOX}">' + "".join(rows) + "</div>")
