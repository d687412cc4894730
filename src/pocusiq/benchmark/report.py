"""Benchmark report: ``report.md`` and ``report.html`` with tables and figures.

From a :class:`pocusiq.benchmark.runner.BenchmarkResult` it writes (atomically):

- ``figures/examples.png``: for a few pairs, input | each method | target (greyscale, full range);
- ``figures/boxplots.png``: one box plot per metric over the per-image values of every method;
- ``report.md``: the protocol (name, version, hash), dataset and versions, the results table
  (mean +- sample std per method and metric, the input first and the high-end target last), the
  "input -> method" table (input mean -> method mean, with the paired mean change), failures,
  and the figures (linked);
- ``report.html``: the same content as a single self-contained page (figures embedded).

Figures use matplotlib's object API with the Agg canvas (no pyplot, no display, no global state).
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pocusiq.atomic import atomic_path, atomic_write_text
from pocusiq.metrics import METRICS

if TYPE_CHECKING:  # pragma: no cover
    from pocusiq.benchmark.results import BenchmarkResult

__all__ = ["results_table", "change_table", "write_report", "plot_boxplots", "plot_examples"]

def _display(metric: str) -> tuple[str, str, int]:
    """(column title, better direction, decimals) of a metric, from the registry."""
    info = METRICS.get(metric)
    return (info.display, info.arrow, info.decimals) if info else (metric, "", 3)


NA = "n/a"


def _title(metric: str) -> str:
    title, arrow, _ = _display(metric)
    return f"{title} {arrow}".strip()


def _fmt(value: float | None, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    if math.isinf(value):
        return "inf"
    return f"{value:.{_display(metric)[2]}f}"


def _mean_std(stats: dict[str, Any] | None, metric: str) -> str:
    if not stats or stats.get("mean") is None:
        return NA
    return f"{_fmt(stats['mean'], metric)} ± {_fmt(stats['std'], metric)}"


def _signed(value: float | None, metric: str) -> str:
    if value is None:
        return ""
    text = _fmt(abs(value), metric)
    return f" ({'+' if value >= 0 else '−'}{text})"


def _display_name(name: str, input_name: str) -> str:
    if name == input_name:
        return f"input ({name})"
    if name == "target":
        return "target (high-end)"
    return name


def results_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: per method, mean ± std of each metric, s/image, failures.

    Rows: the input (identity) first, then the other methods, then the high-end target (whose
    full-reference cells are "—").
    """
    metrics = summary["metrics"]
    input_name = summary["input_method"]
    header = ["Method", *(_title(m) for m in metrics), "s / image", "failed"]
    rows: list[list[str]] = []
    names = [input_name] + [n for n in summary["methods"] if n != input_name]
    for name in names:
        entry = summary["methods"][name]
        seconds = entry.get("seconds_per_image")
        rows.append(
            [
                _display_name(name, input_name),
                *(_mean_std(entry["metrics"].get(m), m) for m in metrics),
                NA if seconds is None else f"{seconds:.3f}",
                str(entry.get("n_failed", 0)),
            ]
        )
    target = summary.get("target")
    if target:
        cells = ["—" if m in ("ssim", "psnr") else _mean_std(target["metrics"].get(m), m) for m in metrics]
        rows.append([_display_name("target", input_name), *cells, "—", str(target.get("n_failed", 0))])
    return header, rows


def change_table(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the "input -> method" table: ``input mean -> method mean (paired change)``."""
    metrics = summary["metrics"]
    input_name = summary["input_method"]
    inputs = summary["methods"][input_name]["metrics"]
    header = ["Method", *(_title(m) for m in metrics)]
    rows: list[list[str]] = []
    for name, entry in summary["methods"].items():
        if name == input_name:
            continue
        cells = []
        for m in metrics:
            before = (inputs.get(m) or {}).get("mean")
            stats = entry["metrics"].get(m) or {}
            after = stats.get("mean")
            if before is None and after is None:
                cells.append(NA)
                continue
            cells.append(f"{_fmt(before, m)} → {_fmt(after, m)}{_signed(stats.get('change_vs_input'), m)}")
        rows.append([name, *cells])
    return header, rows


# ---------------------------------------------------------------------------------------------
# figures


def _save_figure(figure: Any, path: Path, dpi: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi)
    return path


def plot_boxplots(result: BenchmarkResult, path: Path) -> Path:
    """Box plots of the per-image values, one panel per metric, one box per method (PNG at ``path``)."""
    from matplotlib.figure import Figure

    summary = result.summary
    metrics = summary["metrics"]
    input_name = summary["input_method"]
    names = [m.name for m in result.methods] + ["target"]
    ncols = min(3, len(metrics))
    nrows = math.ceil(len(metrics) / ncols)
    width = max(4.0, 0.55 * len(names) + 1.5)
    figure = Figure(figsize=(width * ncols, 3.6 * nrows))
    # Fixed margins rather than constrained layout: the layout solver costs seconds per figure.
    axes = figure.subplots(nrows, ncols, squeeze=False)
    figure.subplots_adjust(left=0.06, right=0.98, top=1 - 0.35 / (3.6 * nrows), bottom=1.1 / (3.6 * nrows), wspace=0.25, hspace=0.6)
    for index, metric in enumerate(metrics):
        ax = axes[index // ncols][index % ncols]
        data, labels = [], []
        for name in names:
            if name == "target" and metric in ("ssim", "psnr"):
                continue
            values = np.asarray(
                [r.get(metric) for r in result.records if r["method"] == name and r.get("status") == "ok" and r.get(metric) is not None],
                dtype=np.float64,
            )
            values = values[np.isfinite(values)]
            data.append(values if values.size else np.asarray([np.nan]))
            labels.append("input" if name == input_name else name)
        if any(np.isfinite(d).any() for d in data):
            ax.boxplot(data, tick_labels=labels, showfliers=True)
        else:
            ax.text(0.5, 0.5, "n/a (no values)", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
        ax.set_title(_title(metric))
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    for index in range(len(metrics), nrows * ncols):
        axes[index // ncols][index % ncols].set_visible(False)
    return _save_figure(figure, path, dpi=100)


def plot_examples(result: BenchmarkResult, path: Path) -> Path | None:
    """Figure of input | each method | target for the example pairs (PNG at ``path``); None if no examples."""
    from matplotlib.figure import Figure

    from pocusiq.benchmark.results import example_image_path
    from pocusiq.imaging.grey import read_grey_image

    pair_ids = result.summary["dataset"]["example_pair_ids"]
    if not pair_ids:
        return None
    input_name = result.summary["input_method"]
    columns = [input_name] + [m.name for m in result.methods if m.name != input_name] + ["target"]
    ncols, nrows = len(columns), len(pair_ids)
    height = 2.0 * nrows + 0.3
    figure = Figure(figsize=(1.9 * ncols, height))
    axes = figure.subplots(nrows, ncols, squeeze=False)
    figure.subplots_adjust(left=0.12 / ncols * 2, right=0.99, top=1 - 0.3 / height, bottom=0.05 / height, wspace=0.05, hspace=0.08)
    for r, pair_id in enumerate(pair_ids):
        for c, name in enumerate(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            file = example_image_path(result.out_dir, name, pair_id)
            if file.is_file():
                image = read_grey_image(file)
                top = 255 if image.dtype == np.uint8 else int(np.iinfo(image.dtype).max)
                ax.imshow(image, cmap="gray", vmin=0, vmax=top, interpolation="nearest")
            else:
                ax.text(0.5, 0.5, "failed / n/a", ha="center", va="center", transform=ax.transAxes, fontsize=8)
                reference = example_image_path(result.out_dir, input_name, pair_id)
                if reference.is_file():
                    from pocusiq.imaging.grey import png_header

                    header = png_header(reference)
                    ax.set_box_aspect(header.height / header.width)
            if r == 0:
                label = "input" if name == input_name else ("target (high-end)" if name == "target" else name)
                ax.set_title(label if len(label) <= 22 else label[:20] + "…", fontsize=8)
            if c == 0:
                ax.set_ylabel(pair_id, fontsize=8)
    return _save_figure(figure, path, dpi=100)


# ---------------------------------------------------------------------------------------------
# documents


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(summary: dict[str, Any]) -> list[tuple[str, str]]:
    proto = summary["protocol"]
    data = summary["dataset"]
    versions = ", ".join(f"{k} {v}" for k, v in summary["versions"].items())
    n_pairs = f"{data['n_pairs']}" + (f" (limited to the first {data['limit']})" if data.get("limit") else "")
    return [
        ("Protocol", f"{proto['name']} v{proto['version']} (from {proto['source']})"),
        ("Protocol hash", proto["hash"]),
        ("Dataset", data["path"]),
        ("Manifest sha256", data.get("manifest_sha256") or NA),
        ("Split / pairs", f"{data['split']} / {n_pairs}"),
        ("Seed", str(summary["seeds"]["protocol_seed"])),
        ("Created (UTC)", summary["created_utc"]),
        ("Versions", versions),
    ]


NOTES = (
    "Cells are mean ± sample standard deviation over the pairs where the method succeeded. "
    "SSIM and PSNR compare each output with the high-end target; NIQE and PIQE score the output "
    "alone (lower is better); gCNR/CNR compare each ground-truth target mask with a background ring "
    "around it and are n/a where the dataset has no target masks. The fidelity metrics compare each "
    "output with its own input on the targets of the dataset's wires/cysts/hyperechoic masks (found "
    "in the input where there are none): wire contrast kept (worst target), wire width ratio, cyst "
    "gCNR change, new cyst-like spots, streak ratio, and keeps every target (1 when every wire keeps "
    ">= 80 % of its contrast and widens <= 20 %, no cyst loses gCNR, no new spot appears and streaks "
    "stay <= 1.5x the input's; its mean is the fraction of images kept; pocusiq.metrics.fidelity). "
    "The input row is the unprocessed "
    "low-end image (identity method); the target row is the high-end image itself. In the "
    "input → method table the bracket is the mean over pairs of (method − input)."
)


def _methods_list(result: BenchmarkResult) -> list[tuple[str, str]]:
    return [(m.name, f"{m.spec} (fingerprint {m.fingerprint})") for m in result.methods]


def write_report(result: BenchmarkResult) -> dict[str, Path]:
    """Write the figures, ``report.md`` and ``report.html`` into ``result.out_dir``.

    Returns:
        ``{"report_md", "report_html", "boxplots_png", "examples_png"?}`` -> paths.
    """
    out = Path(result.out_dir)
    summary = result.summary
    paths: dict[str, Path] = {}
    paths["boxplots_png"] = plot_boxplots(result, out / "figures" / "boxplots.png")
    examples = plot_examples(result, out / "figures" / "examples.png")
    if examples is not None:
        paths["examples_png"] = examples
    header, rows = results_table(summary)
    c_header, c_rows = change_table(summary)
    failures = result.failures
    proto_short = summary["protocol"]["hash"][:12]
    title = f"pocusiq benchmark — {summary['dataset']['split']} split, protocol {summary['protocol']['name']} v{summary['protocol']['version']} ({proto_short})"

    md: list[str] = [f"# {title}", ""]
    md += [f"- **{k}**: {v}" for k, v in _facts(summary)]
    md += ["", "## Results", "", _md_table(header, rows), "", "## Input → method", "", _md_table(c_header, c_rows) if c_rows else "(only the input was benchmarked)", ""]
    md += [NOTES, ""]
    warnings = result.summary.get("warnings") or []
    if warnings:
        md += [f"## Warnings ({len(warnings)})", "", "Metrics without a value (shown as n/a above), and why:", ""]
        md += [f"- {line}" for line in warnings] + [""]
    md += ["## Methods", ""] + [f"- `{name}`: {text}" for name, text in _methods_list(result)] + [""]
    if failures:
        md += [f"## Failures ({len(failures)})", ""] + [f"- {f['error'] or (f['method'] + ' on ' + f['pair_id'])}" for f in failures[:200]]
        if len(failures) > 200:
            md.append(f"- … and {len(failures) - 200} more (see per_image.csv)")
        md.append("")
    md += ["## Figures", ""]
    if examples is not None:
        md += ["Examples (input | each method | target):", "", "![examples](figures/examples.png)", ""]
    md += ["Per-image distributions:", "", "![box plots](figures/boxplots.png)", ""]
    md += ["Per-image values: `per_image.csv`; statistics, protocol settings and versions: `summary.json`.", ""]
    paths["report_md"] = out / "report.md"
    atomic_write_text(paths["report_md"], "\n".join(md))

    def embed(path: Path | None, alt: str) -> str:
        if path is None:
            return ""
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'

    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in _facts(summary))
    methods = "".join(f"<li><code>{html.escape(n)}</code>: {html.escape(t)}</li>" for n, t in _methods_list(result))
    fail_html = ""
    if failures:
        items = "".join(f"<li>{html.escape(f['error'])}</li>" for f in failures[:200])
        fail_html = f"<h2>Failures ({len(failures)})</h2><ul>{items}</ul>"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }}
thead th {{ background: #f3f3f3; }}
img {{ max-width: 100%; }}
figure {{ margin: 1em 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<table>{facts}</table>
<h2>Results</h2>
{_html_table(header, rows)}
<h2>Input → method</h2>
{_html_table(c_header, c_rows) if c_rows else "<p>(only the input was benchmarked)</p>"}
<p>{html.escape(NOTES)}</p>
<h2>Methods</h2><ul>{methods}</ul>
{fail_html}
<h2>Figures</h2>
{embed(examples, "Examples: input | each method | target")}
{embed(paths["boxplots_png"], "Per-image distributions of each metric")}
<p>Per-image values: <code>per_image.csv</code>; statistics, protocol settings and versions: <code>summary.json</code>.</p>
</body></html>
"""
    paths["report_html"] = out / "report.html"
    atomic_write_text(paths["report_html"], page)
    return paths
