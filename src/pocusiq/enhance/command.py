"""``pocusiq enhance INPUT... [--model CKPT] --out DIR [--report]``: enhance images, DICOM files and videos
(without ``--model``: the generator shipped with pocusiq, :meth:`pocusiq.enhance.enhancer.Enhancer.default`).

Thin layer over :func:`pocusiq.enhance.files.enhance_files`. Exit code 0 when every file was
enhanced, 1 when some failed (each failure is printed with its file name), 2 on a usage or
model error.
"""

from __future__ import annotations

import argparse
import sys

from pocusiq.enhance.engines import ENGINES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="PNG/JPEG/TIFF images, DICOM files, MP4/AVI/MOV videos or folders (walked)")
    parser.add_argument("--model", default="default", metavar="CKPT",
                        help="generator checkpoint (.safetensors or a run folder), an exported .onnx file, or "
                             "'default' / 'default:realtime' for the model shipped with pocusiq (default: the "
                             "shipped cpu model; see pocusiq/models/pretrained/MODEL_CARD.md)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="inference engine (auto: ONNX Runtime when available on CPU)")
    parser.add_argument("--device", default="cpu", help="torch device for --engine torch (cpu, cuda)")
    parser.add_argument("--roi", default="auto", metavar="auto|full|x,y,w,h",
                        help="region to enhance: detect the imaging region (auto), the whole frame (full), "
                             "or a pixel box x,y,w,h; everything outside is left untouched")
    parser.add_argument("--side-by-side", action="store_true",
                        help="also write <name>_side_by_side (input | enhanced) for viewing")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--spacing", type=float, default=None, metavar="MM",
                        help="pixel size (mm/pixel) of inputs that do not record one (PNG, video); the "
                             "model then enhances them at the spacing it was trained at")
    parser.add_argument("--allow-partial", action="store_true",
                        help="enhance a truncated video's decodable frames (warns) instead of failing")
    parser.add_argument("--tile-size", type=int, default=None, metavar="PX",
                        help="images larger than this are enhanced in blended tiles (default 2048)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for inference (0: library default)")
    parser.add_argument("--report", action="store_true",
                        help="also score each enhanced still image (imaging region): NIQE/PIQE before and after "
                             "and the fidelity metrics; writes quality.json ({file: {metric: value}}) and "
                             "quality.md in the output folder")


def run(args: argparse.Namespace) -> int:
    from pocusiq.enhance.enhancer import Enhancer, default_tiling
    from pocusiq.enhance.files import enhance_files
    from pocusiq.imaging.region import parse_box
    from pocusiq.enhance.tiling import TilingConfig

    roi = args.roi
    if roi not in ("auto", "full"):
        try:
            roi = parse_box(roi)
        except ValueError as exc:
            print(f"pocusiq enhance: error: {exc}", file=sys.stderr)
            return 2
    if args.spacing is not None and not (args.spacing > 0 and args.spacing < 100):
        print(f"pocusiq enhance: error: --spacing {args.spacing}: expected mm per pixel, > 0", file=sys.stderr)
        return 2
    # --out was checked by pocusiq.cli before this runs (a file in the way, not writable)
    if args.threads < 0:
        print(f"pocusiq enhance: error: --threads {args.threads}: must be >= 0 (0: library default)", file=sys.stderr)
        return 2
    if args.engine != "onnx" or args.device != "cpu":
        from pocusiq.train.distributed import resolve_device

        resolve_device(args.device)  # ConfigError for bogus names or CUDA without CUDA, before loading
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    if args.model in ("default", "default:cpu", "default:realtime"):
        kind = args.model.partition(":")[2] or "cpu"
        enhancer = Enhancer.default(kind, device=args.device, engine=args.engine, onnx_threads=max(args.threads, 0))
    else:
        enhancer = Enhancer.from_checkpoint(args.model, device=args.device, engine=args.engine,
                                            onnx_threads=max(args.threads, 0))
    if args.tile_size is not None:
        base = default_tiling(enhancer.multiple)
        try:
            enhancer.tiling = TilingConfig(multiple=base.multiple, tile_size=args.tile_size,
                                           overlap=min(base.overlap, max(args.tile_size // 4, 1)),
                                           batch_size=base.batch_size)
        except ValueError as exc:
            print(f"pocusiq enhance: error: --tile-size {args.tile_size}: {exc}", file=sys.stderr)
            return 2
    print(f"pocusiq enhance: model {enhancer.model_name}, engine {enhancer.engine_name}")

    def show(result) -> None:
        if result.ok:
            region = f", region {result.region_kind} {result.region}" if result.region else ""
            if result.spacing_mm is not None:
                value = result.spacing_mm
                shown = f"{value:.4g}" if isinstance(value, float) else "x".join(f"{v:.4g}" for v in value)
                region += f", {shown} mm/pixel ({result.spacing_source})"
            print(f"  ok   {result.source} -> {result.output} ({result.kind}, {result.frames} frame(s)"
                  f"{region}, {result.seconds:.2f} s)")
            for warning in result.warnings:
                print(f"  WARN {warning}", file=sys.stderr)
        else:
            print(f"  FAIL {result.error}", file=sys.stderr)

    report = enhance_files(enhancer, args.inputs, args.out, roi=roi, overwrite=args.overwrite,
                           side_by_side=args.side_by_side, allow_partial=args.allow_partial,
                           spacing_mm=args.spacing, on_result=show)
    if report.skipped:
        print(f"pocusiq enhance: skipped {len(report.skipped)} file(s) written by pocusiq (earlier outputs "
              f"are never inputs), e.g. {report.skipped[0]}")
    if not report.results:
        print("pocusiq enhance: error: no image, DICOM or video files found in the inputs", file=sys.stderr)
        return 2
    if args.report:
        _write_quality(report, args.out)
    failed = len(report.failed)
    print(f"pocusiq enhance: {len(report.results) - failed} of {len(report.results)} file(s) enhanced"
          f"{f', {failed} failed' if failed else ''}; outputs are machine-enhanced, not for diagnosis "
          f"(see {report.readme})")
    return 0 if failed == 0 else 1


def _write_quality(report, out_dir: str) -> None:
    """Score every enhanced still image and write quality.json / quality.md (see enhance.quality)."""
    from pathlib import Path

    from pocusiq.imaging.still import read_image
    from pocusiq.enhance.quality import score_still, write_quality_report

    out = Path(out_dir)
    scores = {}
    for result in report.results:
        if not result.ok or result.output is None:
            continue
        if result.kind != "image":
            print(f"  report: {result.source}: {result.kind} outputs are not scored (still images only)")
            continue
        try:
            values = score_still(read_image(result.source).pixels, read_image(result.output).pixels,
                                 result.frame_region)
        except Exception as exc:  # a metric failure must not lose the enhanced files
            print(f"  report: {result.source}: not scored: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        name = str(Path(result.output).resolve().relative_to(out.resolve()))
        scores[name] = values
        v, failures = values
        print(f"  report: {name}: NIQE {v['niqe_before']:.2f} -> {v['niqe_after']:.2f}, "
              f"PIQE {v['piqe_before']:.2f} -> {v['piqe_after']:.2f}, "
              f"{'keeps every target' if v['keeps_every_target'] else 'FAILS: ' + failures}")
    if scores:
        json_path, md_path = write_quality_report(out, scores)
        print(f"pocusiq enhance: quality report {json_path} and {md_path}")
