"""One static page, index.html: tables, numbers and figures (PNGs beside it, relative links)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from lossland.report.tables import formatted

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
tr.paper td { color: #777; font-style: italic; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; max-width: 1000px; }
.note { color: #555; font-size: 0.9em; } .warn { color: #a40; }
nav a { margin-right: 1em; }
"""


@dataclass
class Section:
    """One <section>: an id (for the menu), a title and its HTML body."""

    id: str
    title: str
    parts: list[str] = field(default_factory=list)

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
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_page(title: str, intro: list[str], sections: list[Section]) -> str:
    menu = " ".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(
        f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>\n'
        + "\n".join(s.parts)
        + "</section>"
        for s in sections
    )
    paras = "".join(f'<p class="note">{html.escape(p)}</p>' for p in intro)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><h1>{html.escape(title)}</h1>{paras}<nav>{menu}</nav>\n{body}\n</body></html>\n"
    )
