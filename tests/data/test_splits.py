from __future__ import annotations

import pytest

from pocusiq.data.splits import specimen_from_name, split_by_specimen, split_counts


def test_every_frame_of_a_specimen_shares_one_split():
    frames = [f"spec{i % 13}" for i in range(200)]  # 13 specimens, many frames each
    assignment = split_by_specimen(frames, (0.6, 0.2, 0.2), seed=3)
    assert set(assignment) == set(frames)
    assert set(assignment.values()) == {"train", "val", "test"}
    per_split = {s: {k for k, v in assignment.items() if v == s} for s in ("train", "val", "test")}
    assert not (per_split["train"] & per_split["test"]) and not (per_split["train"] & per_split["val"])
    assert [len(per_split[s]) for s in ("train", "val", "test")] == split_counts(13, (0.6, 0.2, 0.2))


def test_split_is_deterministic_order_free_and_seed_dependent():
    specimens = [f"s{i}" for i in range(40)]
    a = split_by_specimen(specimens, seed=7)
    assert a == split_by_specimen(list(reversed(specimens)) * 2, seed=7)
    assert a != split_by_specimen(specimens, seed=8)


def test_split_counts_largest_remainder_and_at_least_one_each():
    assert split_counts(10, (0.8, 0.1, 0.1)) == [8, 1, 1]
    assert split_counts(3, (0.8, 0.1, 0.1)) == [1, 1, 1]
    assert split_counts(2, (0.8, 0.1, 0.1)) == [2, 0, 0]
    assert split_counts(5, (1, 0, 0)) == [5, 0, 0]
    assert sum(split_counts(101, (0.7, 0.2, 0.1))) == 101
    with pytest.raises(ValueError, match="3 values"):
        split_counts(5, (0.5, 0.5))
    with pytest.raises(ValueError, match="non-negative"):
        split_counts(5, (1, -1, 0))


@pytest.mark.parametrize(
    "stem,specimen",
    [("patient3_frame012", "patient3"), ("case07-3", "case07"), ("img001", "img001"), ("17", "17"),
     ("liver 2.5", "liver 2"), ("a_b", "a_b")],
)
def test_specimen_from_name_default_rule(stem, specimen):
    assert specimen_from_name(stem) == specimen


def test_specimen_from_name_with_pattern():
    assert specimen_from_name("P012_S3_F9", r"^(P\d+)_") == "P012"
    assert specimen_from_name("x-P7-y", r"(?P<specimen>P\d+)") == "P7"
    with pytest.raises(ValueError, match=r"does not match file name 'nope'"):
        specimen_from_name("nope", r"P\d+")
