"""Plan validation: good plans parse; bad ones raise ConfigError naming the file and field."""

from __future__ import annotations

import copy

import pytest
import yaml

from pocusiq.acquire.plan import Pose, SimulatedDeviceConfig, load_plan, plan_from_dict
from pocusiq.errors import ConfigError

GOOD = {
    "specimen": "phantom-01",
    "stage": {"kind": "simulated", "limits_mm": {"x": [0, 80], "y": [0, 20], "z": [0, 10]}},
    "poses": {"x_mm": [25, 35, 45], "y_mm": {"start": 0, "stop": 10, "num": 2}},
    "settle_s": 0.1,
    "frames_per_pose": 2,
    "devices": [
        {"name": "pocus", "kind": "simulated", "profile": "pocus"},
        {"name": "high_end", "kind": "simulated", "profile": "high_end", "mount": {"dx_mm": 1.0}},
    ],
}


def _write(tmp_path, data, name="plan.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_good_plan_grid_order_and_defaults(tmp_path):
    plan = load_plan(_write(tmp_path, GOOD))
    assert plan.specimen == "phantom-01"
    # x fastest, then y
    assert plan.poses == (
        Pose(25, 0), Pose(35, 0), Pose(45, 0), Pose(25, 10), Pose(35, 10), Pose(45, 10)
    )
    assert [d.name for d in plan.devices] == ["pocus", "high_end"]
    high = plan.device("high_end")
    assert isinstance(high, SimulatedDeviceConfig)
    assert high.mount.dx_mm == 1.0 and high.mount.dz_mm == 0.0
    assert high.color == "grey" and plan.device("pocus").color == "rgb"  # profile defaults
    assert plan.frames_per_pose == 2 and plan.settle_s == 0.1
    assert plan.phantom is not None  # default phantom for simulated devices


def test_fingerprint_ignores_formatting_but_not_content(tmp_path):
    a = load_plan(_write(tmp_path, GOOD, "a.yaml"))
    text = "# a comment\n" + yaml.safe_dump(GOOD, default_flow_style=True)
    (tmp_path / "b.yaml").write_text(text)
    b = load_plan(tmp_path / "b.yaml")
    assert a.fingerprint == b.fingerprint
    changed = copy.deepcopy(GOOD)
    changed["settle_s"] = 0.2
    assert load_plan(_write(tmp_path, changed, "c.yaml")).fingerprint != a.fingerprint


def _mutate(path_keys, value):
    data = copy.deepcopy(GOOD)
    target = data
    for key in path_keys[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path_keys[-1]]
    else:
        target[path_keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("keys", "value", "field", "message"),
    [
        (("specimen",), KeyError, "specimen", "missing"),
        (("stage", "kind"), "robot", "stage.kind", "must be one of simulated, grbl"),
        (("stage", "limits_mm", "z"), KeyError, "stage.limits_mm.z", "missing"),
        (("stage", "limits_mm", "x"), [5, 1], "stage.limits_mm.x", "min 5 is greater than max 1"),
        (("poses", "x_mm"), [25, "far"], "poses.x_mm[1]", "expected a number, got str 'far'"),
        (("poses", "x_mm"), [25, 90], "poses[1].x_mm", "90 mm is outside stage.limits_mm.x [0, 80]"),
        (("poses", "tilt_deg"), [5], "poses[0].tilt_deg", "outside stage.tilt_limits_deg [0, 0]"),
        (("poses", "y_mm", "num"), 0, "poses.y_mm.num", "must be >= 1"),
        (("settle_s",), -1, "settle_s", "must be >= 0"),
        (("frames_per_pose",), 1.5, "frames_per_pose", "expected an integer"),
        (("devices",), [], "devices", "expected a non-empty list"),
        (("devices", 0, "kind"), "camera", "devices[0].kind", "must be one of simulated, video, folder"),
        (("devices", 1, "name"), "pocus", "devices[1].name", "duplicate device name 'pocus'"),
        (("devices", 1, "name"), "high end", "devices[1].name", "may only contain"),
        (("devices", 0, "profile"), "cart", "devices[0].profile", "must be one of pocus, high_end"),
        (("devices", 0, "frame_size"), [100, 100], "devices[0].frame_size", "does not fit"),
        (("devices", 1, "mount"), {"dy_mm": 1}, "devices[1].mount.dy_mm", "unknown key (valid: dx_mm, dz_mm, rotation_deg)"),
        (("devices", 0, "colour"), "rgb", "devices[0].colour", "unknown key (valid: color,"),
        (("devices", 0, "fov_mm"), float("inf"), "devices[0].fov_mm", "must be a finite number"),
        (("devices", 0, "frame_size"), [640], "devices[0].frame_size", "expected 2 values, got 1"),
        (("phantom",), {"seed": -1}, "phantom.seed", "must be >= 0, got -1"),
        (("phantom",), {"preset": "liver"}, "phantom.preset", "must be one of 'random_tissue'"),
    ],
)
def test_bad_plan_names_file_and_field(tmp_path, keys, value, field, message):
    path = _write(tmp_path, _mutate(keys, value))
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    text = str(info.value)
    assert text.startswith(f"{path}: field '{field}'"), text
    assert message in text


def test_simulated_devices_must_image_inside_the_phantom():
    data = copy.deepcopy(GOOD)
    data["phantom"] = {"width_mm": 60, "depth_mm": 60}
    # pocus default fov 40 mm at x = 45: images x 25..65 mm
    with pytest.raises(ConfigError, match=r"field 'poses\[2\]': device 'pocus' would image x 25.0..65.0 mm"):
        plan_from_dict(data, source="p.yaml")
    data["poses"]["x_mm"] = [20, 30]
    data["poses"]["y_mm"] = [0]
    data["devices"][1]["mount"] = {"dz_mm": 25}  # high_end depth 40 mm + 25 mm > 60 mm
    with pytest.raises(ConfigError, match=r"device 'high_end' would image .* z 25.0..65.0 mm"):
        plan_from_dict(data, source="p.yaml")
    data["devices"][1]["mount"] = {"dz_mm": 5}
    assert len(plan_from_dict(data, source="p.yaml").poses) == 2


def test_grbl_stage_needs_port_and_tilt_axis(tmp_path):
    data = copy.deepcopy(GOOD)
    data["stage"] = {"kind": "grbl", "limits_mm": GOOD["stage"]["limits_mm"]}
    with pytest.raises(ConfigError, match=r"field 'stage.port': missing"):
        plan_from_dict(data, source="p.yaml")
    data["stage"]["port"] = "/dev/ttyUSB0"
    data["stage"]["tilt_limits_deg"] = [-5, 5]
    with pytest.raises(ConfigError, match=r"field 'stage.tilt_limits_deg': a non-zero tilt range needs"):
        plan_from_dict(data, source="p.yaml")
    data["stage"]["tilt_axis"] = "A"
    plan = plan_from_dict(data, source="p.yaml")
    assert plan.stage.tilt_axis == "A" and plan.stage.port == "/dev/ttyUSB0"


def test_folder_device_paths_resolve_against_plan_folder(tmp_path):
    data = copy.deepcopy(GOOD)
    data["devices"] = [
        {"name": "cart", "kind": "folder", "path": "exports", "pattern": "*.dcm", "pixel_spacing_mm": 0.2},
        {"name": "grab", "kind": "video", "source": 0, "region": [10, 20, 300, 400]},
    ]
    plan = load_plan(_write(tmp_path, data))
    cart, grab = plan.devices
    assert cart.path == str(tmp_path.resolve() / "exports")
    assert cart.pixel_spacing_mm == (0.2, 0.2)
    assert grab.region == (10, 20, 300, 400)
    assert plan.phantom is None


def test_unreadable_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="plan file not found"):
        load_plan(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("specimen: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML"):
        load_plan(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list.yaml: expected a mapping at the top level"):
        load_plan(tmp_path / "list.yaml")


def test_real_devices_may_state_their_mount():
    data = copy.deepcopy(GOOD)
    data["devices"] = [
        {"name": "grab", "kind": "video", "source": 1, "mount": {"dx_mm": -2.0, "rotation_deg": 1.5}},
        {"name": "cart", "kind": "folder", "path": "/tmp", "mount": {"dz_mm": "x"}},
    ]
    with pytest.raises(ConfigError, match=r"field 'devices\[1\].mount.dz_mm': expected a number"):
        plan_from_dict(data, source="p.yaml")
    data["devices"][1]["mount"] = {"dz_mm": 0.5}
    grab, cart = plan_from_dict(data, source="p.yaml").devices
    assert (grab.mount.dx_mm, grab.mount.rotation_deg, cart.mount.dz_mm) == (-2.0, 1.5, 0.5)


def test_set_overrides_apply_to_the_plan_and_its_fingerprint():
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "sim_gantry.yaml"
    plan = load_plan(example)
    changed = load_plan(example, ["settle_s=0.5", "devices.0.name=probe_a"])
    assert changed.settle_s == 0.5 and changed.devices[0].name == "probe_a"
    assert changed.fingerprint != plan.fingerprint and "--set" in changed.source
    with pytest.raises(ConfigError, match=r"field 'settle_s'"):
        load_plan(example, ["settle_s=-1"])
