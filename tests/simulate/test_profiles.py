"""Transducer profiles: built-ins, derived physics, loading user profiles and its errors."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from pocusiq.errors import ConfigError
from pocusiq.simulate.profiles import HIGH_END, POCUS, TransducerProfile, get_profile, load_profiles

REPO = Path(__file__).resolve().parents[2]


def test_builtin_profiles_encode_the_device_classes():
    assert get_profile("high_end") is HIGH_END and get_profile("pocus") is POCUS
    assert HIGH_END.center_frequency_mhz > POCUS.center_frequency_mhz
    assert HIGH_END.fractional_bandwidth > POCUS.fractional_bandwidth
    assert HIGH_END.dynamic_receive_focus and not POCUS.dynamic_receive_focus
    assert len(HIGH_END.compounding_angles_deg) > 1 and POCUS.compounding_angles_deg == (0.0,)
    assert HIGH_END.noise_db < POCUS.noise_db
    assert HIGH_END.dynamic_range_db > POCUS.dynamic_range_db
    assert HIGH_END.bit_depth > POCUS.bit_depth and POCUS.jpeg_quality is not None


def test_derived_quantities_known_values():
    p = dataclasses.replace(POCUS, center_frequency_mhz=5.0, fractional_bandwidth=0.6, sound_speed_m_s=1540.0)
    assert p.wavelength_mm == pytest.approx(0.308)
    # sigma_t = sqrt(2 ln2) / (pi B f0); sigma_z = c sigma_t / 2
    sigma_t_us = math.sqrt(2 * math.log(2)) / (math.pi * 0.6 * 5.0)
    assert p.axial_sigma_mm == pytest.approx(1.54 * sigma_t_us / 2)
    assert p.axial_fwhm_mm == pytest.approx(2.3548 * p.axial_sigma_mm, rel=1e-4)
    # aperture limited by the array: 4 elements x 0.3 mm = 1.2 mm < 18/3 mm
    small = dataclasses.replace(POCUS, n_elements=4)
    assert small.tx_aperture_mm == pytest.approx(1.2)
    assert small.effective_f_number == pytest.approx(POCUS.tx_focus_mm / 1.2)


def test_get_profile_unknown_name_lists_known():
    with pytest.raises(ConfigError, match=r"unknown transducer profile 'nope'; known profiles: high_end, pocus"):
        get_profile("nope")


def test_invalid_values_raise_value_error_naming_the_field():
    with pytest.raises(ValueError, match=r"profile 'x': center_frequency_mhz must be in \(0.0, 50.0\], got -1"):
        dataclasses.replace(POCUS, name="x", center_frequency_mhz=-1.0)
    with pytest.raises(ValueError, match=r"geometry must be one of 'linear', 'curvilinear', got 'phased'"):
        dataclasses.replace(POCUS, geometry="phased")
    with pytest.raises(ValueError, match=r"bit_depth must be in \[1, 8\], got 12"):
        dataclasses.replace(POCUS, bit_depth=12)


def test_example_profiles_file_loads():
    profiles = load_profiles(REPO / "examples" / "profiles.yaml")
    assert set(profiles) == {"pocus_curvilinear", "pocus_linear_hf", "midrange_linear"}
    curved = profiles["pocus_curvilinear"]
    assert curved.geometry == "curvilinear" and curved.name == "pocus_curvilinear"
    # fields not given are inherited from the base profile
    assert curved.bit_depth == POCUS.bit_depth and curved.jpeg_quality == POCUS.jpeg_quality
    assert profiles["midrange_linear"].compounding_angles_deg == (-7.0, 0.0, 7.0)
    assert get_profile("midrange_linear", profiles) is profiles["midrange_linear"]


def test_json_round_trip(tmp_path):
    path = tmp_path / "p.json"
    data = {"mine": HIGH_END.to_dict()}
    path.write_text(json.dumps(data))
    loaded = load_profiles(path)["mine"]
    assert loaded == dataclasses.replace(HIGH_END, name="mine")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mine:\n  base: pocus\n  f_number: 0\n", r"p\.yaml: transducer profile 'mine': f_number must be > 0.0, got 0"),
        ("mine:\n  base: pocus\n  colour: red\n", r"p\.yaml: profile 'mine': unknown config key\(s\) colour; valid: attenuation_db_cm_mhz"),
        ("mine:\n  base: cart\n", r"p\.yaml: profile 'mine' has unknown base 'cart'"),
        ("mine:\n  fractional_bandwidth: 0.5\n", r"p\.yaml: profile 'mine': missing config key\(s\) center_frequency_mhz"),
        ("mine: [1, 2]\n", r"p\.yaml: profile 'mine' must be a mapping of fields, got list"),
        ("- 1\n- 2\n", r"p\.yaml: expected a non-empty mapping of profile name -> fields"),
        ("mine: {base: pocus\n", r"p\.yaml: not valid YAML"),
        ("mine:\n  base: pocus\n  jpeg_quality: 100\n", r"jpeg_quality must be in \[1, 95\], got 100"),
        ("mine:\n  base: pocus\n  tgc_compensation: true\n", r"tgc_compensation: expected a number, got True"),
        ("mine:\n  base: pocus\n  noise_db: .inf\n", r"noise_db must be a finite number, got inf"),
        ("mine:\n  base: pocus\n  compounding_angles_deg: [0, 50]\n", r"compounding_angles_deg\[1\] must be in \(-45.0, 45.0\), got 50"),
        ("mine:\n  base: pocus\n  fractional_bandwidth: wide\n", r"fractional_bandwidth: expected a number, got 'wide'"),
    ],
)
def test_bad_profile_files_raise_config_error(tmp_path, text, message):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_profiles(path)


def test_missing_file_raises_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.yaml: profile file not found"):
        load_profiles(tmp_path / "absent.yaml")


def test_profiles_are_hashable_and_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        HIGH_END.center_frequency_mhz = 3.0  # type: ignore[misc]
    # equal profiles hash equal (bmode caches beam transfer functions keyed by the profile)
    twin = TransducerProfile(**{**HIGH_END.to_dict(), "compounding_angles_deg": HIGH_END.compounding_angles_deg})
    assert twin == HIGH_END and hash(twin) == hash(HIGH_END)
    assert dataclasses.replace(HIGH_END, gain_db=-45.0) != HIGH_END


def test_set_overrides_start_built_ins_from_their_base_and_check_values(tmp_path):
    from pocusiq.simulate.profiles import profiles_with_overrides

    data = profiles_with_overrides(None, ["pocus.noise_db=-40", "pocus.jpeg_quality=null"])
    assert data == {"pocus": {"base": "pocus", "noise_db": -40, "jpeg_quality": None}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    pocus = load_profiles(path)["pocus"]
    assert pocus.noise_db == -40.0 and pocus.jpeg_quality is None and pocus.bit_depth == POCUS.bit_depth
    with pytest.raises(ConfigError, match=r"unknown transducer profile 'cart'"):
        profiles_with_overrides(None, ["cart.noise_db=-40"])


def test_simulate_cli_set_changes_the_pairs(tmp_path):
    from pocusiq.cli import main
    from pocusiq.imaging.grey import read_grey_image

    args = ["simulate", "--n", "2", "--size", "64", "--no-progress", "--fractions", "1", "0", "0"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--set", "pocus.gain_db=-20"]) == 0
    a = sorted((tmp_path / "a" / "low").glob("*.png"))
    b = sorted((tmp_path / "b" / "low").glob("*.png"))
    assert a and [p.name for p in a] == [p.name for p in b]
    assert not np.array_equal(read_grey_image(a[0]), read_grey_image(b[0]))  # brighter POCUS images
    assert np.array_equal(read_grey_image(tmp_path / "a" / "high" / a[0].name),
                          read_grey_image(tmp_path / "b" / "high" / b[0].name))
    assert main(["simulate", "--n", "2", "--out", str(tmp_path / "c"), "--set", "pocus.bit_depth=12"]) == 2
