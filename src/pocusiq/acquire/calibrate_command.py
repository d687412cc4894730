"""``pocusiq calibrate``: measure where each probe's image sits on the gantry (wire phantom).

Usage::

    pocusiq calibrate --plan examples/sim_calibration.yaml --out cal.json
    pocusiq calibrate --plan plan.yaml --out cal.json --session sess   # acquire into / resume sess
    pocusiq calibrate --session sess --out cal.json                    # an acquired session only
    pocusiq pair --session data-sess --out ds --calibration cal.json

With ``--plan`` the calibration plan is acquired (into ``--session``, default ``<out>.session``
next to the calibration file; re-running resumes it), then calibrated; with only
``--session`` the session's own plan (its ``calibration`` section) is used. Writes the
calibration file (JSON), ``<out>.png`` (found vs predicted targets, residuals) and prints
the transform with its uncertainty and the per-target residuals. Exit status 0 on success, 2
on errors (e.g. targets in too few frames, an ill-conditioned pose set: the message says
which poses to add).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


OUT_IS_FILE = True  # --out is the calibration file; the cli checks the folder holding it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", default=None, help="calibration plan (YAML): an acquisition plan with a calibration section")
    parser.add_argument("--out", required=True, metavar="CAL", help="calibration file to write (JSON)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a plan value, e.g. --set calibration.match_gate_mm=2 (repeatable)")
    parser.add_argument("--session", default=None, metavar="SESSION_DIR",
                        help="session folder: acquired into with --plan (resumed if it exists), else read")
    parser.add_argument("--figure", default=None, metavar="PNG", help="figure path (default: CAL with .png)")
    parser.add_argument("--ignore-mount", action="store_true",
                        help="start the solve from no mounting offset instead of the plan's nominal one")
    parser.add_argument("--pause-between-passes", action="store_true",
                        help="before each device's pass, wait for Enter (to mount that device's probe)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pocusiq.acquire.calibration import calibrate_session, report_lines, save_calibration_figure
    from pocusiq.acquire.session import read_session

    out = Path(args.out)
    if args.plan is None and args.session is None:
        print("pocusiq calibrate: error: give --plan (acquire and calibrate) or --session (calibrate a session)",
              file=sys.stderr)
        return 2
    config = None
    if args.plan is not None:
        from pocusiq.acquire.acquisition import run_acquisition
        from pocusiq.acquire.plan import load_plan

        plan = load_plan(args.plan, args.overrides)
        if plan.calibration is None:
            print(f"pocusiq calibrate: error: {args.plan}: no 'calibration' section (targets_mm) in the plan",
                  file=sys.stderr)
            return 2
        config = plan.calibration
        session_dir = Path(args.session) if args.session else out.with_name(out.name + ".session")

        def pause(device) -> None:
            print(f"mount the probe of device {device.name!r}, then press Enter", file=sys.stderr)
            input()

        result = run_acquisition(
            plan, session_dir, plan_file=None if args.overrides else args.plan, progress=not args.no_progress,
            before_pass=pause if args.pause_between_passes else None,
        )
        print(f"session {session_dir}: {result.captured_frames} frames captured, "
              f"{result.skipped_poses} (device, pose) steps already done")
        if not result.finished:
            print(f"pocusiq calibrate: error: session {session_dir} is not finished", file=sys.stderr)
            return 2
    else:
        if args.overrides:
            print("pocusiq calibrate: error: --set needs --plan (a session keeps the plan it was taken with)",
                  file=sys.stderr)
            return 2
        session_dir = Path(args.session)
    session = read_session(session_dir)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(desc="finding targets", unit="frame")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        calibration = calibrate_session(session, config, use_mount=not args.ignore_mount, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    calibration.save(out)
    figure = Path(args.figure) if args.figure else out.with_suffix(".png")
    save_calibration_figure(calibration, figure)
    for line in report_lines(calibration):
        print(line)
    print(f"calibration {out}; figure {figure}")
    return 0
