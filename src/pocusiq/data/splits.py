"""Train/val/test splits made by specimen (phantom, subject), never by frame.

All frames of one specimen land in the same split, so no tissue is seen in training and
again in testing. :func:`split_by_specimen` shuffles the distinct specimen ids with a seeded
``numpy.random.Generator`` and deals them out by the largest-remainder rule; every split with
a non-zero fraction gets at least one specimen when there are enough specimens.

:func:`specimen_from_name` is the rule the importers use when a source does not say which
specimen a file shows.

Written here (a shuffle and a count rule) rather than with scikit-learn's
``GroupShuffleSplit``: scikit-learn is not a dependency, and that splitter makes two-way splits
sized by samples, whereas pocusiq needs three splits with exact per-specimen counts.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence

import numpy as np

from pocusiq.data.manifest import SPLITS

__all__ = [
    "DEFAULT_FRACTIONS",
    "FRAME_SUFFIX",
    "permuted_index",
    "specimen_from_name",
    "split_by_specimen",
    "split_counts",
    "split_for_index",
]

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)

# A trailing frame number separated by '_', '-', '.' or ' ' (e.g. "case07_012" -> "case07").
FRAME_SUFFIX = re.compile(r"^(?P<specimen>.*?[A-Za-z0-9])[_\-. ]+(?:frame|f|img|image)?\d+$", re.IGNORECASE)


def specimen_from_name(stem: str, pattern: str | re.Pattern[str] | None = None) -> str:
    """Specimen id for a file stem whose source does not name the specimen.

    Args:
        stem: file name without extension, e.g. ``"patient3_frame012"``.
        pattern: optional regex; its group ``specimen`` (or group 1, or the whole match) is the
            specimen. A stem that does not match raises ValueError.

    Returns:
        With ``pattern`` None: ``stem`` without a trailing, separated frame number
        (``"patient3_frame012"`` -> ``"patient3"``, ``"case07-3"`` -> ``"case07"``); a stem without
        such a suffix (``"img001"``, ``"17"``) is its own specimen.
    """
    if pattern is None:
        match = FRAME_SUFFIX.match(stem)
        return match.group("specimen") if match else stem
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    match = regex.search(stem)
    if match is None:
        raise ValueError(f"specimen pattern {regex.pattern!r} does not match file name {stem!r}")
    if "specimen" in regex.groupindex:
        value = match.group("specimen")
    elif regex.groups:
        value = match.group(1)
    else:
        value = match.group(0)
    if not value:
        raise ValueError(f"specimen pattern {regex.pattern!r} gives an empty specimen for {stem!r}")
    return value


def split_counts(n: int, fractions: Sequence[float]) -> list[int]:
    """How many of ``n`` items each split gets: largest remainder, >= 1 per non-zero fraction if possible."""
    fractions = [float(f) for f in fractions]
    if len(fractions) != len(SPLITS):
        raise ValueError(f"fractions must have {len(SPLITS)} values ({'/'.join(SPLITS)}), got {fractions}")
    if any(f < 0 or not math.isfinite(f) for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"fractions must be non-negative with a positive sum, got {fractions}")
    total = sum(fractions)
    shares = [n * f / total for f in fractions]
    counts = [math.floor(s) for s in shares]
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(wanted):
        for i in wanted:
            if counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: (counts[j], -j))
                counts[donor] -= 1
                counts[i] += 1
    return counts


def split_by_specimen(
    specimens: Sequence[str],
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> dict[str, str]:
    """Assign each distinct specimen to ``train``/``val``/``test``.

    Args:
        specimens: specimen ids (repeats allowed: one entry per frame is fine).
        fractions: wanted share of specimens for (train, val, test); need not sum to 1.
        seed: shuffle seed; the result depends only on the set of ids, ``fractions`` and ``seed``.

    Returns:
        ``{specimen: split}`` for every distinct specimen.
    """
    distinct = sorted(set(specimens))
    counts = split_counts(len(distinct), fractions)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(distinct))
    assignment: dict[str, str] = {}
    start = 0
    for split, count in zip(SPLITS, counts):
        for position in order[start : start + count]:
            assignment[distinct[int(position)]] = split
        start += count
    return assignment


def _feistel_round(value: int, key: bytes, round_index: int, half_bits: int) -> int:
    digest = hashlib.blake2b(value.to_bytes(8, "little") + bytes([round_index]), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << half_bits) - 1)


def permuted_index(index: int, n: int, seed: int) -> int:
    """Position of ``index`` in a seeded pseudo-random permutation of ``range(n)``, in O(1) memory.

    A 4-round Feistel network (keyed BLAKE2b round function) on the smallest even number of bits
    covering ``n``, with cycle walking to stay below ``n``: a bijection of ``range(n)`` that needs
    no list of ``n`` entries, so a simulated dataset of any size can be split pair by pair.
    Written here because NumPy's permutations materialise all ``n`` values.
    """
    if not 0 <= index < n:
        raise ValueError(f"index {index} is outside range({n})")
    half_bits = max(1, (max(n - 1, 1).bit_length() + 1) // 2)
    mask = (1 << half_bits) - 1
    key = hashlib.blake2b(f"pocusiq-split:{int(seed)}".encode(), digest_size=16).digest()
    value = index
    while True:
        left, right = value >> half_bits, value & mask
        for round_index in range(4):
            left, right = right, left ^ _feistel_round(right, key, round_index, half_bits)
        value = (left << half_bits) | right
        if value < n:
            return value


def split_for_index(index: int, n: int, fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> str:
    """Split of item ``index`` of ``n`` items that are each their own specimen, in O(1) memory.

    The counts are exactly :func:`split_counts` (``n``, ``fractions``); which items get which
    split is the seeded permutation :func:`permuted_index`. Used by the simulator, whose every
    pair is a fresh specimen, so that memory does not grow with the number of pairs.
    """
    counts = split_counts(n, fractions)
    position = permuted_index(index, n, seed)
    for split, end in zip(SPLITS, np.cumsum(counts)):
        if position < end:
            return split
    raise AssertionError("unreachable: counts sum to n")  # pragma: no cover
