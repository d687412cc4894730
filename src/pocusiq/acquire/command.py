"""``pocusiq acquire``: run a gantry acquisition plan into a session folder (resumable).

Usage::

    pocusiq acquire --plan examples/sim_gantry.yaml --out /tmp/sess
    pocusiq acquire --plan plan.yaml --out sess --check          # validate the plan only
    pocusiq acquire --plan plan.yaml --out sess --pause-between-passes   # swap probes by hand

Re-running the same command after a crash or Ctrl-C resumes: finished poses are kept.
"""

from __future__ import annotations

import argparse
import sys

from pocusiq.acquire.plan import DeviceConfig, load_plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", required=True, help="acquisition plan (YAML)")
    parser.add_argument("--out", help="session folder (created, or resumed if it exists); not needed with --check")
    parser.add_argument("--check", action="store_true", help="only validate the plan and print a summary")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a plan value, e.g. --set settle_s=0.5 or --set devices.1.profile=high_end "
                             "(repeatable; the session then stores the resulting plan)")
    parser.add_argument(
        "--pause-between-passes",
        action="store_true",
        help="before each device's pass, wait for Enter (to mount that device's probe)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    plan = load_plan(args.plan, args.overrides)
    total = len(plan.poses) * len(plan.devices) * plan.frames_per_pose
    print(
        f"plan {args.plan}: specimen {plan.specimen!r}, {len(plan.poses)} poses x "
        f"{len(plan.devices)} devices ({', '.join(d.name for d in plan.devices)}) x "
        f"{plan.frames_per_pose} frames = {total} frames, stage {plan.stage.kind}"
    )
    if args.check:
        return 0
    if not args.out:
        print("pocusiq acquire: error: --out SESSION_DIR is required (unless --check)", file=sys.stderr)
        return 2
    from pocusiq.acquire.acquisition import run_acquisition

    def pause(device: DeviceConfig) -> None:
        print(f"mount the probe of device {device.name!r}, then press Enter", file=sys.stderr)
        input()

    result = run_acquisition(
        plan,
        args.out,
        plan_file=None if args.overrides else args.plan,  # overridden: the session stores the plan used
        progress=not args.no_progress,
        before_pass=pause if args.pause_between_passes else None,
    )
    if result.dropped_bytes:
        print(f"resumed: dropped a torn last log line ({result.dropped_bytes} bytes)")
    print(
        f"session {result.session_dir}: captured {result.captured_frames} frames at "
        f"{result.captured_poses} (device, pose) steps, {result.skipped_poses} already done; "
        f"{'finished' if result.finished else 'NOT finished'}"
    )
    return 0 if result.finished else 1
