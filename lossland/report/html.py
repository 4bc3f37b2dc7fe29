"""One static page, index.html: tables, numbers and figures (PNGs beside it, relative links)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from lossland.report.tables import formatted

# Wide tables scroll inside their own box (.scroll), so the page itself never scrolls sideways.
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; padding: 0 1em; max-width: 1200px;
  color: #222; overflow-wrap: anywhere; }
.scroll { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; overflow-wrap: normal; }
td { white-space: nowrap; } table.text td { white-space: normal; overflow-wrap: break-word; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
tr.paper td { color: #777; font-style: italic; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; max-width: 1000px; }
.note { color: #555; font-size: 0.9em; } .warn { color: #a40; }
nav.toc { margin: 1em 0 2em; } nav.toc ol { margin: 0.3em 0; columns: 2; }
details > summary { cursor: pointer; font-weight: 600; margin: 0.5em 0; }
"""


@dataclass
class Section:
    """One <section>: an id (for the table of contents), a title and its HTML body; with
    `fold`, the body sits in a <details> whose summary is `fold` (closed unless `open`)."""

    id: str
    title: str
    parts: list[str] = field(default_factory=list)
    fold: str = ""
    open: bool = False

    def text(self, text: str, cls: str = "note") -> Section:
        self.parts.append(f'<p class="{cls}">{html.escape(text)}</p>')
        return self

    def items(self, lines: list[str], cls: str = "note") -> Section:
        if lines:
            li = "".join(f"<li>{html.escape(x)}</li>" for x in lines)
            self.parts.append(f'<ul class="{cls}">{li}</ul>')
        return self

    def table(self, df: pd.DataFrame, caption: str = "", style: str = "g") -> Section:
        self.parts.append(table_html(df, caption, style))
        return self

    def figure(self, src: str, caption: str) -> Section:
        self.parts.append(
            f'<figure><img src="{html.escape(src)}" alt="{html.escape(src)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self


def table_html(df: pd.DataFrame, caption: str = "", style: str = "g") -> str:
    """A plain HTML table, floats in `style` (tables.fmt: e or g; `str` for plain text); rows
    whose `source` is `paper` are greyed (the paper's values)."""
    if df.empty:
        return f'<p class="note">{html.escape(caption)}: none.</p>' if caption else ""
    text = df.astype(str) if style == "str" else formatted(df, style)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for (_, raw), row in zip(df.iterrows(), text.itertuples(index=False), strict=True):
        cls = ' class="paper"' if raw.get("source") == "paper" else ""
        body.append(
            f"<tr{cls}>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    cls = ' class="text"' if style == "str" else ""
    table = f"<table{cls}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f'<div class="scroll">{table}</div>'


def render_section(s: Section) -> str:
    body = "\n".join(s.parts)
    if s.fold:
        body = (
            f"<details{' open' if s.open else ''}><summary>{html.escape(s.fold)}</summary>\n"
            f"{body}</details>"
        )
    return f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>\n{body}</section>'


def render_page(title: str, intro: list[str], sections: list[Section]) -> str:
    """The title, the intro, a table of contents (one link per section), the sections."""
    toc = "".join(f'<li><a href="#{s.id}">{html.escape(s.title)}</a></li>' for s in sections)
    body = "\n".join(render_section(s) for s in sections)
    paras = "".join(f'<p class="note">{html.escape(p)}</p>' for p in intro)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>{paras}"
        f'<nav class="toc"><strong>Contents</strong><ol>{toc}</ol></nav>\n{body}\n</body></html>\n'
    )
