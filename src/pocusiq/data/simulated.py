"""Write a simulated paired dataset: the physics simulator -> ``low/``, ``high/``, ``masks/``, ``manifest.csv``.

Pair ``i`` of a run with seed ``S`` is ``sim<i:06d>``; it is simulated from
``pair_seed = pair_seed_for(S, i)`` (a ``numpy.random.SeedSequence([S, i])`` draw), so the
bytes of every file do not depend on the number of worker processes or on the order in which
pairs finish. Each pair is a fresh phantom instance, i.e. its own specimen
(``sim-<pair_seed>``); splits are made over those specimens by
:func:`pocusiq.data.splits.split_by_specimen` with seed ``S``.

Resuming: a pair is skipped when the manifest (or journal) holds a row for it whose files
exist with the recorded sha256 *and* whose recorded request (seed, index, size, phantom,
profiles, split) equals this run's; anything else is (re)simulated. Rows are written through
:class:`pocusiq.data.writer.PairedDatasetWriter`, so a kill loses at most the pairs in flight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.data.splits import DEFAULT_FRACTIONS, split_by_specimen
from pocusiq.data.writer import PairedDatasetWriter
from pocusiq.errors import PocusiqError

PathLike = str | os.PathLike[str]

__all__ = [
    "SimulatedDatasetConfig",
    "SimulationSummary",
    "pair_id_for",
    "pair_seed_for",
    "write_simulated_dataset",
]


@dataclass(frozen=True)
class SimulatedDatasetConfig:
    """What to simulate.

    Attributes:
        n: number of pairs (>= 1).
        size: image side in pixels (square images).
        seed: dataset seed; pair seeds and the split are derived from it.
        phantom: simulator phantom preset name, or None for the simulator's default mix.
        low_profile, high_profile: transducer profile names (built-in, or keys of ``profiles_path``).
        profiles_path: YAML/JSON file of user-defined profiles
            (read by ``pocusiq.simulate.profiles.load_profiles``), or None for built-ins only.
        fractions: (train, val, test) shares of specimens.
        spacing_mm: pixel spacing (mm/pixel) of every image; the field of view is
            ``size * spacing_mm`` (default ``pocusiq.simulate.pairs.DEFAULT_SPACING_MM``, 0.08).
        randomise_device: draw each pair's low-end profile from the documented ranges of
            ``pocusiq.simulate.device_ranges`` (default True).
        anatomy: folder of real B-mode images to build phantoms from
            (``pocusiq.simulate.anatomy``), or None for the procedural phantoms.
        anatomy_spacing_mm: pixel spacing (mm) of the images in ``anatomy``.
    """

    n: int
    size: int = 256
    seed: int = 0
    phantom: str | None = None
    low_profile: str = "pocus"
    high_profile: str = "high_end"
    profiles_path: str | None = None
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    spacing_mm: float = 0.08
    randomise_device: bool = True
    anatomy: str | None = None
    anatomy_spacing_mm: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.spacing_mm, (int, float)) or isinstance(self.spacing_mm, bool) or not 0.005 <= self.spacing_mm <= 2.0:
            raise ValueError(f"spacing_mm must be a number in [0.005, 2] mm/pixel, got {self.spacing_mm!r}")
        if self.anatomy is not None and not Path(self.anatomy).is_dir():
            raise ValueError(f"anatomy folder not found: {self.anatomy}")
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be a positive int, got {self.n!r}")
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"size must be an int >= 8 pixels, got {self.size!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")


@dataclass
class SimulationSummary:
    """Outcome of :func:`write_simulated_dataset`: pairs simulated now, pairs already complete."""

    root: Path
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def pair_seed_for(seed: int, index: int) -> int:
    """Seed of pair ``index`` of dataset seed ``seed``: a 63-bit ``SeedSequence([seed, index])`` draw."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def pair_id_for(index: int) -> str:
    """Pair id of pair ``index``: ``sim000042``."""
    return f"sim{int(index):06d}"


def _jsonable(value: Any) -> Any:
    """numpy scalars/arrays, tuples, dataclasses, paths -> plain JSON types (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array {value.dtype} {value.shape}>"
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _fingerprint(profile: Any) -> str:
    """sha256 (first 16 hex) of a profile's parameters, to notice a changed user profile on resume."""
    text = json.dumps(_jsonable(profile), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _resolve_profiles(config: SimulatedDatasetConfig) -> tuple[Any, Any, dict[str, str]]:
    """(low, high, request fields): profile names, or TransducerProfile objects (file, then built-ins).

    Raises ConfigError (from the simulator's profile module) for a bad file or unknown name.
    """
    from pocusiq.simulate.profiles import get_profile, load_profiles

    if config.profiles_path is None:
        get_profile(config.low_profile)  # fail early, naming the known profiles
        get_profile(config.high_profile)
        return config.low_profile, config.high_profile, {}

    profiles = load_profiles(config.profiles_path)
    chosen = [get_profile(config.low_profile, profiles), get_profile(config.high_profile, profiles)]
    extra = {"low_profile_sha": _fingerprint(chosen[0]), "high_profile_sha": _fingerprint(chosen[1])}
    return chosen[0], chosen[1], extra


def _simulate_one(task: tuple[int, int, int, str | None, Any, Any, dict[str, Any]]) -> tuple[int, Any]:
    """Worker: simulate pair ``index`` (module level so that worker processes can import it)."""
    from pocusiq.simulate.pairs import simulate_pair

    index, pair_seed, size, phantom, low_profile, high_profile, options = task
    try:
        anatomy = None
        if options.get("anatomy"):
            from pocusiq.simulate.anatomy import anatomy_source

            anatomy = anatomy_source(options["anatomy"], options.get("anatomy_spacing_mm"))
        pair = simulate_pair(pair_seed, size, phantom=phantom, low_profile=low_profile, high_profile=high_profile,
                             spacing_mm=options["spacing_mm"], randomise_device=options["randomise_device"],
                             anatomy=anatomy)
    except (ValueError, PocusiqError) as exc:  # name the pair, keep the type the CLI reports
        raise type(exc)(f"simulating pair {pair_id_for(index)} (pair seed {pair_seed}): {exc}") from exc
    return index, pair


def write_simulated_dataset(
    out: PathLike,
    config: SimulatedDatasetConfig,
    *,
    workers: int = 1,
    progress: bool = True,
    on_pair: Callable[[str], None] | None = None,
) -> SimulationSummary:
    """Simulate ``config.n`` pairs into the paired dataset folder ``out``, resuming what is there.

    Args:
        out: dataset folder (created if needed; an existing pocusiq dataset is resumed).
        config: what to simulate.
        workers: worker processes (``ProcessPoolExecutor``); 1 = in this process. The output
            bytes are the same for any value.
        progress: show a tqdm progress bar on stderr.
        on_pair: called with each pair id after it is written (e.g. for logging).

    Returns:
        :class:`SimulationSummary` with the ids written now and those skipped as complete.

    Raises:
        ValueError for bad arguments; ConfigError for unknown profiles; DatasetError if ``out``
        holds a malformed dataset; whatever the simulator raises for a bad preset.
    """
    from tqdm.auto import tqdm

    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    import pocusiq.simulate.pairs  # noqa: F401  (imported once here; forked workers inherit it)

    low_profile, high_profile, profile_request = _resolve_profiles(config)
    seeds = [pair_seed_for(config.seed, i) for i in range(config.n)]
    specimens = [f"sim-{s}" for s in seeds]
    splits = split_by_specimen(specimens, config.fractions, seed=config.seed)
    summary = SimulationSummary(root=Path(out))

    def request(index: int) -> dict[str, Any]:
        return {
            "dataset_seed": config.seed,
            "index": index,
            "pair_seed": seeds[index],
            "size": config.size,
            "phantom_preset": config.phantom,
            "low_profile": config.low_profile,
            "high_profile": config.high_profile,
            "spacing_mm": config.spacing_mm,
            "randomise_device": config.randomise_device,
            "anatomy": config.anatomy,
            "anatomy_spacing_mm": config.anatomy_spacing_mm,
            **profile_request,
        }

    with PairedDatasetWriter(out, resume=True) as writer:
        todo: list[int] = []
        for index in range(config.n):
            pid = pair_id_for(index)
            row = writer.row(pid)
            complete = (
                row is not None
                and row.params.get("request") == _jsonable(request(index))
                and row.split == splits[specimens[index]]
                and writer.has(pid)
            )
            if complete:
                summary.skipped.append(pid)
            else:
                todo.append(index)

        def store(index: int, pair: Any) -> None:
            pid = pair_id_for(index)
            sim_params = getattr(pair, "params", None) or {}
            params = {"request": request(index), "simulator": _jsonable(sim_params)}
            writer.add(
                pid,
                np.asarray(pair.low),
                np.asarray(pair.high),
                split=splits[specimens[index]],
                source="sim",
                specimen=specimens[index],
                pose=str(sim_params.get("pose", "")),
                spacing_mm=float(pair.spacing_mm),
                masks=dict(getattr(pair, "masks", None) or {}),
                params=_jsonable(params),
                low_device=f"sim:{config.low_profile}" + ("~" if config.randomise_device else ""),
                high_device=f"sim:{config.high_profile}",
            )
            summary.written.append(pid)
            if on_pair is not None:
                on_pair(pid)

        options = {
            "spacing_mm": config.spacing_mm,
            "randomise_device": config.randomise_device,
            "anatomy": None if config.anatomy is None else str(Path(config.anatomy).resolve()),
            "anatomy_spacing_mm": config.anatomy_spacing_mm,
        }
        tasks = [(i, seeds[i], config.size, config.phantom, low_profile, high_profile, options) for i in todo]
        bar = tqdm(total=config.n, initial=len(summary.skipped), desc="simulate", unit="pair", disable=not progress)
        try:
            if workers == 1 or len(tasks) <= 1:
                for task in tasks:
                    store(*_simulate_one(task))
                    bar.update(1)
            else:
                _run_pool(tasks, workers, store, bar)
        finally:
            bar.close()
    summary.written.sort()
    return summary


def _worker_context() -> multiprocessing.context.BaseContext:
    """``fork`` (fast: workers inherit the imported simulator) unless torch is loaded here.

    Forking a process whose torch/OpenMP thread pools are running can hang the child, so a
    caller that has imported torch (e.g. the demo) gets ``spawn`` workers instead. The output
    is the same either way.
    """
    methods = multiprocessing.get_all_start_methods()
    if "torch" not in sys.modules and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_pool(tasks: list[tuple], workers: int, store: Callable[[int, Any], None], bar: Any) -> None:
    """Run ``tasks`` on a process pool, at most ``4 * workers`` in flight, storing results as they finish."""
    pending: set[Future] = set()
    queue = iter(tasks)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context())
    try:
        while True:
            while len(pending) < 4 * workers:
                task = next(queue, None)
                if task is None:
                    break
                pending.add(executor.submit(_simulate_one, task))
            if not pending:
                break
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                store(*future.result())
                bar.update(1)
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True)
