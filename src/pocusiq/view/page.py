"""``pocusiq view``: one self-contained HTML page of before | after comparisons.

Every image is inlined as a ``data:`` URI and the style and script are inlined too, so the page is
ONE file that opens from disk with no server and no network, and can be mailed or archived without
losing its pictures (a sibling assets folder breaks as soon as the page is moved alone). The cost
is size; cine loops are therefore bounded (see :mod:`pocusiq.view.frames`).

Each pair gets a card: a wipe viewer (drag across the image, or use the range below it: "before"
left of the line, "after" right of it), for cine loops a play/pause button and a frame scrubber
that drive both sides from one timer, and beside it a table of NIQE/PIQE before and after and
every number a JSON report holds for the file. All text from files (names, report keys, error
messages) is HTML-escaped; JSON inside ``<script>`` has ``<``, ``>`` and ``&`` escaped.
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pocusiq.atomic import atomic_write_text
from pocusiq.errors import PocusiqError
from pocusiq.view.frames import (
    DEFAULT_CINE_MAX_SIDE,
    DEFAULT_MAX_CINE_FRAMES,
    data_uri,
    display_jpeg,
    encode,
    frames_at,
    read_for_view,
    to_display,
)
from pocusiq.view.pairs import Pair
from pocusiq.view.scores import Row, load_report, quality_rows, report_rows, run_rows

NIQE_CAVEAT = (
    "NIQE and PIQE are no-reference scores (lower is better): they reward clean-looking texture and can "
    "improve while a model erases targets, paints streaks or invents dark spots. Read them with the "
    "fidelity numbers and look at the images before calling anything better."
)


def static_text(name: str) -> str:
    """``pocusiq/view/static/<name>`` (the wipe's CSS and script) as text."""
    return resources.files("pocusiq.view").joinpath("static", name).read_text(encoding="utf-8")


def script_json(value: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">`` (no ``</script>`` break-out)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:.4g}" if abs(value) < 1e5 else f"{value:.3e}"
    return f"{text} {unit}".strip()


def _change(row: Row) -> str:
    if row.before is None or row.after is None:
        return ""
    delta = row.after - row.before
    cls = ""
    if row.higher_is_better is not None and delta != 0:
        cls = "better" if (delta > 0) == row.higher_is_better else "worse"
    return f'<span class="{cls}">{delta:+.3g}</span>'


def _direction(row: Row) -> str:
    if row.higher_is_better is None:
        return ""
    return '<span class="dir">higher is better</span>' if row.higher_is_better else \
        '<span class="dir">lower is better</span>'


def report_table(rows: list[Row], caption: str) -> str:
    """A table of single values (report numbers), labelled and with their direction where known."""
    parts = ['<table class="metrics report">', f"<caption>{esc(caption)}</caption>",
             "<tr><th>metric</th><th>value</th></tr>"]
    for row in rows:
        title = f' title="{esc(row.key)}"' if row.key != row.label else ""
        parts.append(f'<tr data-metric="{esc(row.key)}"><td{title}>{esc(row.label)}<br>{_direction(row)}</td>'
                     f"<td>{esc(fmt(row.after, row.unit))}</td></tr>")
    parts.append("</table>")
    return "".join(parts)


def metrics_table(quality: list[Row], scope: str, report: list[Row]) -> str:
    """The numbers beside one comparison (HTML)."""
    parts = ['<table class="metrics quality">', f"<caption>Quality, no reference ({esc(scope)})</caption>",
             "<tr><th>metric</th><th>before</th><th>after</th><th>change</th></tr>"]
    for row in quality:
        parts.append(
            f'<tr data-metric="{esc(row.key)}"><td>{esc(row.label)}<br>{_direction(row)}</td>'
            f"<td>{esc(fmt(row.before, row.unit))}</td><td>{esc(fmt(row.after, row.unit))}</td>"
            f"<td>{_change(row)}</td></tr>"
        )
        if row.note:
            parts.append(f'<tr><td colspan="4" class="na">{esc(row.label)} n/a: {esc(row.note)}</td></tr>')
    parts.append("</table>")
    if report:
        parts.append(report_table(report, "From the enhance report"))
    else:
        parts.append('<p class="na">No fidelity numbers for this file: no enhance report found '
                     "(<code>pocusiq enhance --report</code>, or pass <code>--report FILE</code>).</p>")
    return "\n".join(parts)


def display_width(width: int) -> int:
    """CSS width of a viewer: native, but small frames are enlarged (up to 4x) towards 640 px."""
    return int(max(width, min(640, 4 * width)))


def wipe_html(before_src: str, after_src: str, alt: str, width: int, side_by_side: bool = False) -> str:
    """The viewer: a wipe (before underneath, after clipped right of the line, and a range input),
    or the two side by side (``side_by_side``, the default for cine loops); a button switches."""
    shown = display_width(width)
    classes = "wipe" + (" zoomed" if shown > width else "") + (" sbs" if side_by_side else "")
    return (
        f'<div class="{classes}" style="--w:{shown}px; width:{shown}px">'
        f'<img class="before" alt="before: {esc(alt)}" src="{esc(before_src)}">'
        f'<img class="after" alt="after: {esc(alt)}" src="{esc(after_src)}">'
        '<div class="divider"></div><span class="tag before">before</span><span class="tag after">after</span>'
        "</div>"
        '<div class="controls"><button class="layout" type="button">Side by side</button><span class="label">wipe</span>'
        '<input type="range" class="wipe-range" min="0" max="1000" value="500" aria-label="wipe position">'
        "</div>"
    )


def cine_controls() -> str:
    return ('<div class="controls"><button class="play" type="button">Play</button>'
            '<input type="range" class="scrub" min="0" max="0" value="0" aria-label="frame">'
            '<span class="label frame-label"></span></div>')


@dataclass
class PageOptions:
    """How a page is built.

    Attributes:
        title: page heading.
        max_cine_frames: most frames per cine loop (evenly spaced).
        cine_max_side: longest side of cine frames, px.
        reports: JSON report files read for per-file numbers.
        scores: compute NIQE/PIQE (off: faster pages of long loops).
    """

    title: str = "pocusiq: before | after"
    max_cine_frames: int = DEFAULT_MAX_CINE_FRAMES
    cine_max_side: int = DEFAULT_CINE_MAX_SIDE
    reports: list[Path] = field(default_factory=list)
    scores: bool = True


def pair_card(pair: Pair, options: PageOptions, reports: list[Any], index: int) -> str:
    """One comparison card (HTML); a file that cannot be read gives a card with the error."""
    title = f'<h2>{esc(pair.name)}</h2>'
    sub = f'<div class="sub">before: {esc(pair.before)}<br>after: {esc(pair.after)}'
    if pair.note:
        sub += f"<br>{esc(pair.note)}"
    prepare = None if pair.kind == "image" else display_jpeg(options.cine_max_side)  # loops hold JPEGs
    try:
        before = read_for_view(pair.before, pair.kind, left_half=pair.before_is_left_half,
                               max_frames=options.max_cine_frames, prepare=prepare)
        after = read_for_view(pair.after, pair.kind, max_frames=options.max_cine_frames, prepare=prepare)
        cine = before.total > 1 or after.total > 1
        if not cine and prepare is not None:  # a one-frame DICOM/video is shown losslessly: read it in full
            before.frames = frames_at(pair.before, pair.kind, [0], left_half=pair.before_is_left_half)
            after.frames = frames_at(pair.after, pair.kind, [0])
    except (PocusiqError, ValueError, OSError) as exc:
        return f'<section class="card failed" id="pair-{index}">{title}{sub}</div>' \
               f'<div class="error">cannot show this pair: {esc(exc)}</div></section>'
    if before.size != after.size:
        return (f'<section class="card failed" id="pair-{index}">{title}{sub}</div><div class="error">'
                f"before is {before.size[1]}x{before.size[0]} px but after is "
                f"{after.size[1]}x{after.size[0]} px: not the same image</div></section>")
    if options.scores:
        quality, scope = quality_rows(pair, before, after)
    else:
        quality, scope = [], "not computed (--no-scores)"
    extra: list[Row] = []
    for report in reports:
        extra.extend(report_rows(report, pair))
    numbers = metrics_table(quality, scope, extra)
    if not cine:
        h, w = before.frames[0].shape[:2]
        sub += f"<br>{w}x{h} px, {esc(pair.kind)}"
        viewer = wipe_html(data_uri(encode(to_display(before.frames[0], before.max_value))),
                           data_uri(encode(to_display(after.frames[0], after.max_value))), pair.name, w)
        return (f'<section class="card still" id="pair-{index}">{title}{sub}</div><div class="row">'
                f'<div class="viewer">{viewer}</div><div class="numbers">{numbers}</div></div></section>')
    n = min(len(before.frames), len(after.frames))
    rate = before.rate or after.rate
    fps = float(rate) / before.stride if rate else 10.0
    b_uris = [data_uri(d, "JPEG") for d in before.frames[:n]]
    a_uris = [data_uri(d, "JPEG") for d in after.frames[:n]]
    h, w = before.size
    sub += (f"<br>{w}x{h} px, {esc(pair.kind)}, {before.total} frames"
            + (f" at {float(rate):.4g} frames/s" if rate else " (no frame rate stored: played at 10 frames/s)")
            + f"; shown: {n} frames (every {before.stride}), JPEG, longer side at most {options.cine_max_side} px")
    if before.total != after.total:
        sub += f"<br>frame counts differ: before {before.total}, after {after.total}; the first {n} shown"
    data = {"fps": fps, "before": b_uris, "after": a_uris, "labels": [i + 1 for i in before.indices[:n]]}
    shown_w = min(w, round(w * options.cine_max_side / max(w, h)))
    viewer = wipe_html(b_uris[0], a_uris[0], pair.name, shown_w, side_by_side=True) + cine_controls()
    return (f'<section class="card cine" id="pair-{index}">{title}{sub}</div><div class="row">'
            f'<div class="viewer">{viewer}</div><div class="numbers">{numbers}</div></div>'
            f'<script type="application/json" class="cine-data">{script_json(data)}</script></section>')


def build_page(pairs: list[Pair], options: PageOptions | None = None, skipped: list[str] | None = None,
               source: str = "") -> str:
    """The whole page (HTML text) for ``pairs``."""
    from pocusiq import __version__
    from pocusiq.enhance.files import NOT_FOR_DIAGNOSIS

    options = options or PageOptions()
    reports = [load_report(path) for path in options.reports]
    cards = [pair_card(pair, options, reports, i) for i, pair in enumerate(pairs)]
    run = [row for report in reports for row in run_rows(report, pairs)]
    head = [f"<h1>{esc(options.title)}</h1>",
            f'<p class="note">{esc(source)} &middot; {len(pairs)} comparison(s) &middot; pocusiq {esc(__version__)} '
            f'&middot; {esc(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))}</p>',
            '<p class="note">Drag across an image (or use the range under it): before is left of the line, '
            "after is right of it. Cine loops start side by side, both driven by one player; the button under "
            "each viewer switches between side by side and wipe.</p>",
            f'<div class="warn">{esc(NOT_FOR_DIAGNOSIS)}<br>{esc(NIQE_CAVEAT)}</div>']
    if options.reports:
        head.append('<p class="note">Reports: ' + ", ".join(esc(p) for p in options.reports) + "</p>")
    if run:
        head.append(report_table(run, "Run summary from the enhance report"))
    for message in skipped or []:
        head.append(f'<div class="error">skipped: {esc(message)}</div>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{esc(options.title)}</title><style>{static_text('wipe.css')}</style></head><body>"
        f'<header class="top">{"".join(head)}</header><main>{"".join(cards)}</main>'
        f"<script>{static_text('wipe.js')}</script></body></html>\n"
    )


def write_page(pairs: list[Pair], out: str | os.PathLike[str], options: PageOptions | None = None,
               skipped: list[str] | None = None, source: str = "") -> Path:
    """Build the page and write it atomically to ``out``."""
    out = Path(out)
    atomic_write_text(out, build_page(pairs, options, skipped, source))
    return out
