"""Small HTML builders for the report: escaping, numbers, tables, embedded figures, the page.

Every piece of text passes through :func:`esc`; only strings wrapped in :class:`Raw` (built
here from escaped parts) go into the page as they are.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:#1f2328;background:#fff;overflow-wrap:break-word}
main{max-width:980px;margin:0 auto;padding:12px 14px 40px}
h1{font-size:1.5em;margin:.4em 0}
h2{font-size:1.25em;margin:1.6em 0 .5em;padding-bottom:.2em;border-bottom:2px solid #d0d7de}
h3{font-size:1.05em;margin:1.2em 0 .4em}
nav{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #d0d7de;font-size:.9em}
nav a{margin-right:.9em;white-space:nowrap;color:#0969da;text-decoration:none}
img{max-width:100%;height:auto;display:block;margin:0 auto}
figure{margin:1em 0}
figcaption{font-size:.85em;color:#57606a;text-align:center;margin-top:.3em}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5em 0}
table{border-collapse:collapse;font-size:.88em;min-width:50%}
th,td{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.overridden td{background:#fff8c5}
.tag{display:inline-block;font-size:.75em;padding:0 .45em;border-radius:.6em;background:#eaeef2;
margin-left:.3em;white-space:nowrap}
.note{color:#57606a;font-style:italic}
.finding{border-left:5px solid #8c959f;padding:.4em .8em;margin:.8em 0;background:#f6f8fa}
.finding.error{border-color:#cf222e;background:#ffebe9}
.finding.warning{border-color:#bf8700;background:#fff8c5}
.finding.info{border-color:#0969da;background:#ddf4ff}
.finding p{margin:.3em 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85em}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:.5em;margin:.3em 0}
.hash{word-break:break-all}
@media (max-width:600px){body{font-size:14px}main{padding:8px}th,td{padding:3px 5px}}
"""


class Raw(str):
    """A string that is already HTML (made here from escaped parts): :func:`esc` leaves it as it is."""


def esc(value: Any) -> Raw:
    """``value`` as escaped HTML text (quotes too); a :class:`Raw` string is returned unchanged."""
    if isinstance(value, Raw):
        return value
    return Raw(html.escape(fmt(value), quote=True))


def fmt(value: Any) -> str:
    """A value as short text: ``-`` for missing or non-finite numbers, 4 significant digits for
    floats, ``key: value`` lists for dicts, comma-separated lists."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"


def tag(text: str) -> Raw:
    return Raw(f'<span class="tag">{esc(text)}</span>')


def code(text: Any, cls: str = "") -> Raw:
    attr = f' class="{esc(cls)}"' if cls else ""
    return Raw(f"<code{attr}>{esc(text)}</code>")


def para(text: Any, cls: str = "") -> Raw:
    attr = f' class="{esc(cls)}"' if cls else ""
    return Raw(f"<p{attr}>{esc(text)}</p>")


def note(text: Any) -> Raw:
    return para(text, "note")


def pre(value: Any) -> Raw:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, sort_keys=True, default=str)
    return Raw(f"<pre>{esc(text)}</pre>")


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = (),
          row_classes: Sequence[str] | None = None) -> Raw:
    """An HTML table in a horizontally scrolling box; numbers in the columns ``numeric`` are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="num">{esc(c)}</td>' if j in numeric and _is_number(c) else f"<td>{esc(c)}</td>"
                        for j, c in enumerate(row))
        body.append(f'<tr class="{esc(cls)}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return Raw(f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def image(png: Path, alt: str, caption: str = "") -> Raw:
    """A PNG file embedded as a base64 data URI, in a ``<figure>`` with an optional caption."""
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Raw(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">{cap}</figure>')


def section(anchor: str, title: str, parts: Iterable[str]) -> Raw:
    return Raw(f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>\n' + "\n".join(parts) + "\n</section>")


def h3(title: str) -> Raw:
    return Raw(f"<h3>{esc(title)}</h3>")


def page(title: str, header: Iterable[str], sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document: ``sections`` are ``(anchor, title, html)``; a link bar leads to each."""
    links = "".join(f'<a href="#{esc(anchor)}">{esc(name)}</a>' for anchor, name, _ in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{esc(title)}</h1>\n" + "\n".join(header) + f"\n<nav>{links}</nav>\n"
        + "\n".join(body for _, _, body in sections)
        + "\n</main>\n</body>\n</html>\n"
    )
