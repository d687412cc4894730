"""Gantry calibration on the simulator: recovered vs true mountings, and pairing TRE with it.

Usage::

    .venv/bin/python bench/calibration.py [--cal-plan examples/sim_calibration.yaml]
                                          [--data-plan examples/sim_gantry.yaml] [--tilts -4 0 4]
                                          [--ruler-error 0.5 -0.5 1.0] [--keep DIR]

1. Acquires the calibration plan (wire phantom, the devices' TRUE mountings in the plan) and
   runs :func:`pocusiq.acquire.calibration.calibrate_session` starting from no mounting at all
   (``use_mount=False``), with the image-based wire detection; prints recovered vs true
   offsets/rotations, their standard deviations and the residuals.
2. Acquires the data plan (tissue phantom; its devices get the calibration plan's true
   mountings; ``--tilts`` replaces its tilts) and pairs it four times with
   :func:`pocusiq.pair.session.pair_session`:
   ``nominal`` -- the mounting as measured with a ruler: the first device's true mounting and
   the others' off by ``--ruler-error`` (dx, dz mm, rotation deg; a pair is relative, so only
   the devices' relative error matters; placed with the pairing's usual region-top-centre
   convention), and ``with
   calibration`` -- the calibration file of step 1; each ``before registration``
   (``register=False``: the placement alone) and ``after registration`` (the default rigid +
   affine registration starting from it).
   TRE (mm) of every pair (accepted or not) against the simulator's truth at a 9 x 9 grid over
   the output image (:mod:`pocusiq.pair.tre`): the median of the per-pair medians, the 95th
   percentile of the per-pair p95s, and the worst point.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cal-plan", default=str(REPO / "examples" / "sim_calibration.yaml"))
    parser.add_argument("--data-plan", default=str(REPO / "examples" / "sim_gantry.yaml"))
    parser.add_argument("--tilts", type=float, nargs="*", default=[-4.0, 0.0, 4.0])
    parser.add_argument("--ruler-error", type=float, nargs=3, default=[0.5, -0.5, 1.0],
                        metavar=("DX_MM", "DZ_MM", "ROT_DEG"), help="error of the nominal (ruler) mounting")
    parser.add_argument("--keep", default=None, help="keep sessions, calibration and datasets in this folder")
    args = parser.parse_args()

    import numpy as np
    import yaml

    from pocusiq.acquire.acquisition import run_acquisition
    from pocusiq.acquire.calibration import (
        Calibration,
        DeviceCalibration,
        calibrate_session,
        report_lines,
        save_calibration_figure,
    )
    from pocusiq.acquire.plan import load_plan
    from pocusiq.acquire.session import read_session
    from pocusiq.atomic import atomic_write_text
    from pocusiq.config import read_config_file
    from pocusiq.pair.frames import PairingConfig
    from pocusiq.pair.session import pair_session

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pocusiq-calibration-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        # 1. calibration
        cal_plan = load_plan(args.cal_plan)
        truth = {d.name: d.mount for d in cal_plan.devices}
        t0 = time.perf_counter()
        run_acquisition(cal_plan, work / "cal_session", plan_file=args.cal_plan, progress=False)
        t_acq = time.perf_counter() - t0
        cpu0, t0 = time.process_time(), time.perf_counter()
        calibration = calibrate_session(read_session(work / "cal_session"), use_mount=False)
        t_cal, cpu_cal = time.perf_counter() - t0, time.process_time() - cpu0
        calibration.save(work / "cal.json")
        save_calibration_figure(calibration, work / "cal.png")
        print(f"calibration plan {args.cal_plan}: {len(cal_plan.poses)} poses x {len(cal_plan.devices)} devices, "
              f"{len(cal_plan.calibration.targets_mm)} wires; acquisition {t_acq:.1f} s, "
              f"calibration {t_cal:.1f} s wall / {cpu_cal:.1f} s CPU (load {os.getloadavg()[0]:.1f})")
        print("device     | true dx, dz (mm), rot (deg) | recovered (+- 1 sd)                             | error")
        for name, dev in calibration.devices.items():
            m, sd = truth[name], dev.std
            print(f"{name:10s} | {m.dx_mm:+6.3f} {m.dz_mm:+6.3f} {m.rotation_deg:+6.3f}     | "
                  f"{dev.offset_mm[0]:+6.3f}+-{sd['dx_mm']:.3f} {dev.offset_mm[1]:+6.3f}+-{sd['dz_mm']:.3f} "
                  f"{dev.rotation_deg:+6.3f}+-{sd['rotation_deg']:.3f} | "
                  f"{dev.offset_mm[0] - m.dx_mm:+.3f} mm {dev.offset_mm[1] - m.dz_mm:+.3f} mm "
                  f"{dev.rotation_deg - m.rotation_deg:+.3f} deg")
        for line in report_lines(calibration):
            if not line.startswith("    target"):
                print("  " + line)
        ok = all(abs(d.offset_mm[0] - truth[n].dx_mm) <= 0.1 and abs(d.offset_mm[1] - truth[n].dz_mm) <= 0.1
                 and abs(d.rotation_deg - truth[n].rotation_deg) <= 0.2 for n, d in calibration.devices.items())
        print(f"target 0.1 mm / 0.2 deg: {'met' if ok else 'NOT met'}")

        # 2. a data session with the same true mountings, paired four ways
        data = read_config_file(args.data_plan, "plan file")
        for device in data["devices"]:
            m = truth[device["name"]]
            device["mount"] = {"dx_mm": m.dx_mm, "dz_mm": m.dz_mm, "rotation_deg": m.rotation_deg}
        if args.tilts:
            data["poses"]["tilt_deg"] = list(args.tilts)
            lo, hi = data["stage"].get("tilt_limits_deg", [0, 0])
            data["stage"]["tilt_limits_deg"] = [min(lo, *args.tilts), max(hi, *args.tilts)]
        data_plan_file = work / "data_plan.yaml"
        atomic_write_text(data_plan_file, yaml.safe_dump(data, sort_keys=False))
        data_plan = load_plan(data_plan_file)
        run_acquisition(data_plan, work / "data_session", plan_file=data_plan_file, progress=False)
        session = read_session(work / "data_session")
        dx_e, dz_e, rot_e = args.ruler_error
        ruler = {}
        for i, name in enumerate(calibration.devices):
            record = next(f for f in session.frames if f.device == name)
            c0, r0, w, _ = record.truth.region  # the region the pairing finds; its top centre
            s = record.truth.image_spacing_mm
            m = truth[name]
            k = 0.0 if i == 0 else 1.0
            ruler[name] = DeviceCalibration(name, (s, s), m.rotation_deg + k * rot_e,
                                            (m.dx_mm + k * dx_e, m.dz_mm + k * dz_e),
                                            (c0 + (w - 1) / 2.0, r0 - 0.5), True)
        nominal = Calibration(devices=ruler, source="ruler")
        print(f"\ndata plan {args.data_plan}: {len(data_plan.poses)} poses, tilts "
              f"{sorted({p.tilt_deg for p in data_plan.poses})} deg; nominal = true mountings, "
              f"{list(calibration.devices)[1:]} off by ({dx_e:+g} mm, {dz_e:+g} mm, {rot_e:+g} deg)")
        print("placement        | registration | accepted | TRE median | TRE p95 | TRE max | s/pair (wall, CPU)")
        for label, cal in (("nominal", nominal), ("with calibration", calibration)):
            for register in (False, True):
                out = work / f"ds_{label.replace(' ', '_')}_{'reg' if register else 'noreg'}"
                shutil.rmtree(out, ignore_errors=True)
                cpu0, t0 = time.process_time(), time.perf_counter()
                summary = pair_session(work / "data_session", out, calibration=cal, use_mount=False,
                                       config=PairingConfig(register=register))
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                rows = [r for r in summary.rows if not np.isnan(r.tre_p95_mm)]
                med = float(np.median([r.tre_median_mm for r in rows])) if rows else float("nan")
                p95 = float(np.percentile([r.tre_p95_mm for r in rows], 95)) if rows else float("nan")
                worst = max((r.tre_max_mm for r in rows), default=float("nan"))
                n = max(len(summary.rows), 1)
                print(f"{label:16s} | {'after' if register else 'before':12s} | {summary.accepted:3d}/{len(summary.rows):<4d} | "
                      f"{med:7.3f} mm | {p95:5.3f}   | {worst:5.3f}   | {wall / n:.2f}, {cpu / n:.2f}")
        print(f"(load average {os.getloadavg()[0]:.1f}; files in {work if args.keep else 'a removed temp folder'})")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
