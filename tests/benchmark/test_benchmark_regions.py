"""gCNR target regions: components, background rings, exclusions."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pocusiq.benchmark.protocol import RegionSettings
from pocusiq.benchmark.regions import select_target_masks, target_regions


def _disc(shape: tuple[int, int], centre: tuple[int, int], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_select_by_pattern() -> None:
    assert select_target_masks(["cysts", "sector", "vessels", "hyperechoic", "lesion2"], ("cyst*", "lesion*", "vessel*")) == [
        "cysts",
        "vessels",
        "lesion2",
    ]


def test_each_component_gets_a_ring_at_the_right_distance() -> None:
    shape = (80, 80)
    cysts = _disc(shape, (20, 20), 5) | _disc(shape, (60, 60), 6)
    settings = RegionSettings(masks=("cysts",), ring_gap_px=2, ring_width_px=4, min_pixels=10)
    regions = target_regions({"cysts": cysts, "sector": np.ones(shape, bool)}, settings)
    assert len(regions) == 2
    for target, ring in regions:
        assert not (target & ring).any()
        distance = ndimage.distance_transform_edt(~target)
        assert distance[ring].min() > 2 and distance[ring].max() <= 6
        # the ring covers the whole annulus (no other target nearby)
        assert ring.sum() == int(((distance > 2) & (distance <= 6)).sum())


def test_ring_excludes_neighbouring_targets_and_stays_in_the_valid_region() -> None:
    shape = (60, 60)
    a = _disc(shape, (30, 20), 5)
    b = _disc(shape, (30, 33), 4)  # 3-4 px from a's edge: inside a's ring
    valid = np.zeros(shape, bool)
    valid[:, :40] = True
    settings = RegionSettings(masks=("cysts",), ring_gap_px=1, ring_width_px=8, min_pixels=5)
    regions = target_regions({"cysts": a | b}, settings, valid=valid)
    near_b = ndimage.distance_transform_edt(~b) <= 1
    for _, ring in regions:
        assert not (ring & near_b).any()
        assert not (ring & ~valid).any()


def test_small_targets_and_no_targets_give_no_regions() -> None:
    shape = (40, 40)
    settings = RegionSettings(masks=("cysts",), min_pixels=50)
    assert target_regions({"cysts": _disc(shape, (20, 20), 2)}, settings) == []  # 13 px < 50
    assert target_regions({"cysts": np.zeros(shape, bool)}, settings) == []
    assert target_regions({"sector": np.ones(shape, bool)}, settings) == []
