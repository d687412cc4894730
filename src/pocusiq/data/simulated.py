"""Write a simulated paired dataset: the physics simulator -> ``low/``, ``high/``, ``masks/``, ``manifest.csv``.

Pair ``i`` of a run with seed ``S`` is ``sim<i:06d>``; it is simulated from
``pair_seed = pair_seed_for(S, i)`` (a ``numpy.random.SeedSequence([S, i])`` draw), so the
bytes of every file do not depend on the number of worker processes or on the order in which
pairs finish. Each pair is a fresh phantom instance, i.e. its own specimen
(``sim-<pair_seed>``); splits are made over those specimens by
:func:`pocusiq.data.splits.split_by_specimen` with seed ``S``.

Resuming: the run's parameters (n, size, seed, phantom, profiles, fractions) are stored in
``DIR/simulate.json``; a rerun into a folder that holds a dataset resumes only when they are
equal, and is refused otherwise with a message naming each parameter that differs (a smaller
``--n`` would leave extra pairs, another ``--n`` or ``--fractions`` would move pairs between
splits, another ``--size`` would mix sizes, another seed or profile would overwrite every pair).
A folder from an older pocusiq without ``simulate.json`` is resumed when every row's recorded
request and split equal this run's. Within a matching run a pair is skipped when its row's files
exist with the recorded sha256; anything else is (re)simulated. Rows are written through
:class:`pocusiq.data.writer.PairedDatasetWriter`, so a kill loses at most the pairs in flight.

Limits are checked before anything is written: ``size`` at most :data:`MAX_SIZE`, the memory of
one pair per worker within the machine's RAM, and the pairs still to write within the free disk
space. Memory does not grow with ``n``: seeds, specimens and splits
(:func:`pocusiq.data.splits.split_for_index`) are computed pair by pair, and at most
``4 * workers`` pairs are in flight. Worker processes exit when their parent dies (``kill -9``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.atomic import atomic_write_text
from pocusiq.data.manifest import JOURNAL_NAME, MANIFEST_NAME, read_manifest
from pocusiq.data.splits import DEFAULT_FRACTIONS, split_for_index
from pocusiq.data.writer import WRITER_LOCK_NAME, PairedDatasetWriter, read_journal
from pocusiq.errors import ConfigError, DatasetError, PocusiqError

PathLike = str | os.PathLike[str]

#: The run's parameters, stored in the dataset folder to refuse a rerun with other ones.
PARAMETERS_NAME = "simulate.json"

#: Largest image side. The simulator peaks at ~170 bytes per pixel (measured with ru_maxrss:
#: 42 MB at 512, 167 MB at 1024), i.e. ~2.9 GB per worker at 4096, and ~16 s per pair there.
MAX_SIZE = 4096
SIMULATOR_BYTES_PER_PIXEL = 170
#: Lower bound of the disk use of one pair per pixel: low + high 8-bit PNGs of speckle measured
#: 1.2 bytes per pixel together at 256x256 (masks extra), so 1 byte never over-estimates.
DISK_BYTES_PER_PIXEL = 1.0

__all__ = [
    "MAX_SIZE",
    "PARAMETERS_NAME",
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
        if self.size > MAX_SIZE:
            raise ValueError(
                f"--size {self.size}: images are at most {MAX_SIZE} pixels a side (the simulator needs about "
                f"{SIMULATOR_BYTES_PER_PIXEL} bytes per pixel: {_bytes(SIMULATOR_BYTES_PER_PIXEL * self.size**2)} "
                f"for {self.size}x{self.size})"
            )
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
    from pocusiq.simulate.phantoms import PHANTOM_PRESETS
    from pocusiq.simulate.profiles import get_profile, load_profiles

    if config.phantom is not None and config.phantom not in PHANTOM_PRESETS:
        raise ValueError(f"--phantom {config.phantom}: unknown preset; choose one of {', '.join(PHANTOM_PRESETS)}")
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


def _bytes(count: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB", "EB"):
        if count < 1000 or unit == "EB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return ""  # pragma: no cover


def _parameters(config: SimulatedDatasetConfig, profile_request: dict[str, str]) -> dict[str, Any]:
    """What :data:`PARAMETERS_NAME` records: everything that changes the bytes or splits of a pair."""
    from pocusiq.simulate.pairs import SIMULATOR_REVISION

    return {
        "format": "pocusiq-simulate/1",
        "simulator_revision": SIMULATOR_REVISION,
        "n": config.n,
        "size": config.size,
        "seed": config.seed,
        "phantom": config.phantom,
        "low_profile": config.low_profile,
        "high_profile": config.high_profile,
        **profile_request,
        "spacing_mm": config.spacing_mm,
        "randomise_device": config.randomise_device,
        "anatomy": config.anatomy,
        "anatomy_spacing_mm": config.anatomy_spacing_mm,
        "fractions": [float(f) for f in config.fractions],
        "split_rule": "split_for_index/1",
    }


#: CLI option of each parameter, for messages.
_OPTIONS = {"n": "--n", "size": "--size", "seed": "--seed", "phantom": "--phantom", "low_profile": "--low-profile",
            "high_profile": "--high-profile", "low_profile_sha": "--profiles", "high_profile_sha": "--profiles",
            "fractions": "--fractions", "spacing_mm": "--spacing/--depth-mm",
            "randomise_device": "--no-randomise-device", "anatomy": "--anatomy", "anatomy_spacing_mm": "--anatomy-spacing",
            "simulator_revision": "a dataset simulated by another pocusiq version"}


def _differences(recorded: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [
        f"{key} (dataset {recorded.get(key)!r}, this run {wanted.get(key)!r}{', ' + _OPTIONS[key] if key in _OPTIONS else ''})"
        for key in sorted(set(recorded) | set(wanted))
        if recorded.get(key) != wanted.get(key)
    ]


def _refuse(root: Path, differences: list[str], why: str) -> ConfigError:
    return ConfigError(
        f"{root}: {why}; parameters that differ: {'; '.join(differences)}. A rerun resumes only with the "
        "same parameters (another n or fractions moves pairs between splits, another size mixes sizes, "
        "another seed or profile overwrites every pair): rerun with the dataset's values or choose a new --out folder"
    )


def _check_existing(root: Path, parameters: dict[str, Any], request: Callable[[int], dict[str, Any]],
                    split_of: Callable[[int], str], n: int) -> bool:
    """Refuse to touch a dataset made with other parameters; True if ``root`` already holds one of ours.

    Reads only (nothing is created or changed). Raises ConfigError naming what differs.
    """
    path = root / PARAMETERS_NAME
    if path.is_file():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(recorded, dict):
                raise ValueError("not a JSON object")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"{path}: unreadable simulation parameters ({exc}); choose a new --out folder") from exc
        differences = _differences(recorded, parameters)
        if differences:
            raise _refuse(root, differences, "this dataset was simulated with other parameters")
        return True
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: exists and is not a folder")
    if not ((root / MANIFEST_NAME).exists() or (root / JOURNAL_NAME).exists()):
        return False
    rows = {}
    if (root / MANIFEST_NAME).exists():
        rows.update({row.id: row for row in read_manifest(root, strict=False)})
    rows.update({row.id: row for row in read_journal(root)})
    requests: dict[str, tuple[int, dict[str, Any]]] = {}
    for pair_id, row in sorted(rows.items()):
        recorded = row.params.get("request") if isinstance(row.params, dict) else None
        index = recorded.get("index") if isinstance(recorded, dict) else None
        if row.source != "sim" or not isinstance(index, int) or pair_id != pair_id_for(index):
            raise ConfigError(
                f"{root}: holds a dataset not made by pocusiq simulate (pair {pair_id}); choose a new --out folder"
            )
        requests[pair_id] = (index, recorded)
    last = max(requests.items(), key=lambda item: item[1][0], default=None)
    if last is not None and last[1][0] >= n:
        raise _refuse(root, [f"n (dataset has pair {last[0]}, this run {n!r}, --n)"],
                      "this dataset holds more pairs than this run asks for")
    for pair_id, (index, recorded) in requests.items():
        row = rows[pair_id]
        wanted = _jsonable(request(index))
        differences = _differences(recorded, wanted)
        if row.split != split_of(index):
            differences.append(f"split of {pair_id} (dataset {row.split!r}, this run {split_of(index)!r}; "
                               "another --n or --fractions, or a dataset from an older pocusiq)")
        if differences:
            raise _refuse(root, differences, f"pair {pair_id} was simulated with other parameters")
    return True


def _check_disk_space(root: Path, pairs: int, size: int) -> None:
    """Refuse a run whose pairs cannot fit on the disk (a lower bound of their size)."""
    existing = root
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    needed = pairs * size * size * DISK_BYTES_PER_PIXEL
    if needed > free:
        raise ValueError(
            f"--n {pairs} pairs of {size}x{size} need at least {_bytes(needed)} of disk; {existing} has "
            f"{_bytes(free)} free"
        )


def _check_memory(size: int, workers: int) -> None:
    """Refuse a run whose workers cannot all hold one pair in this machine's RAM."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return
    needed = SIMULATOR_BYTES_PER_PIXEL * size * size * workers
    if needed > total:
        raise ValueError(
            f"--size {size} with --workers {workers} needs about {_bytes(needed)} of memory "
            f"({SIMULATOR_BYTES_PER_PIXEL} bytes per pixel per worker); this machine has {_bytes(total)}"
        )


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
    cores = os.cpu_count() or 1
    if workers > 4 * cores:  # each worker is a process holding a simulator: more only thrash
        raise ValueError(f"--workers {workers}: at most 4 per CPU core ({4 * cores} on this machine with {cores})")
    import pocusiq.simulate.pairs  # noqa: F401  (imported once here; forked workers inherit it)

    root = Path(out)
    low_profile, high_profile, profile_request = _resolve_profiles(config)
    summary = SimulationSummary(root=root)

    def seed_of(index: int) -> int:
        return pair_seed_for(config.seed, index)

    def split_of(index: int) -> str:
        return split_for_index(index, config.n, config.fractions, seed=config.seed)

    def request(index: int) -> dict[str, Any]:
        return {
            "dataset_seed": config.seed,
            "index": index,
            "pair_seed": seed_of(index),
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

    # Every check before anything is created: a refused run leaves the folder as it was.
    parameters = _parameters(config, profile_request)
    resuming = _check_existing(root, parameters, request, split_of, config.n)
    _check_memory(config.size, workers)
    if not resuming:
        _check_disk_space(root, config.n, config.size)

    created = not root.exists()
    try:
        with PairedDatasetWriter(root, resume=True) as writer:
            if not (root / PARAMETERS_NAME).is_file():
                atomic_write_text(root / PARAMETERS_NAME, json.dumps(parameters, indent=2, sort_keys=True) + "\n")
            if resuming:
                _check_disk_space(root, config.n - len(writer.rows), config.size)

            def store(index: int, pair: Any) -> None:
                pid = pair_id_for(index)
                sim_params = getattr(pair, "params", None) or {}
                params = {"request": request(index), "simulator": _jsonable(sim_params)}
                writer.add(
                    pid,
                    np.asarray(pair.low),
                    np.asarray(pair.high),
                    split=split_of(index),
                    source="sim",
                    specimen=f"sim-{seed_of(index)}",
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

            bar = tqdm(total=config.n, desc="simulate", unit="pair", disable=not progress)

            options = {
                "spacing_mm": config.spacing_mm,
                "randomise_device": config.randomise_device,
                "anatomy": None if config.anatomy is None else str(Path(config.anatomy).resolve()),
                "anatomy_spacing_mm": config.anatomy_spacing_mm,
            }

            def tasks() -> Iterator[tuple[int, int, int, str | None, Any, Any, dict[str, Any]]]:
                """Tasks of the pairs still missing, made lazily (memory independent of n)."""
                for index in range(config.n):
                    pid = pair_id_for(index)
                    row = writer.row(pid)
                    if (
                        row is not None
                        and row.params.get("request") == _jsonable(request(index))
                        and row.split == split_of(index)
                        and writer.has(pid)
                    ):
                        summary.skipped.append(pid)
                        bar.update(1)
                        continue
                    yield (index, seed_of(index), config.size, config.phantom, low_profile, high_profile, options)

            try:
                if workers == 1:
                    for task in tasks():
                        store(*_simulate_one(task))
                        bar.update(1)
                else:
                    _run_pool(tasks(), workers, store, bar)
            finally:
                bar.close()
        summary.written.sort()
        return summary
    except BaseException:
        if created and not summary.written:  # nothing was simulated: leave no empty dataset behind
            _remove_empty_dataset(root)
        raise


def _remove_empty_dataset(root: Path) -> None:
    """Remove a dataset folder this run created and wrote no pair into (only pocusiq's own files)."""
    ours = {MANIFEST_NAME, JOURNAL_NAME, PARAMETERS_NAME, WRITER_LOCK_NAME, "low", "high", "masks"}
    if not root.is_dir() or any(entry.name not in ours for entry in root.iterdir()):
        return
    for name in ("low", "high", "masks"):
        folder = root / name
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    for name in (MANIFEST_NAME, JOURNAL_NAME, PARAMETERS_NAME, WRITER_LOCK_NAME):
        (root / name).unlink(missing_ok=True)
    if not any(root.iterdir()):
        root.rmdir()


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


def _exit_with_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    """Worker initializer: a daemon thread ends this worker once its parent process is gone.

    A ``kill -9`` of the parent gives its pool no chance to stop the workers, which then wait
    on the task pipe forever (their siblings hold its other end open). The parent's death is
    seen as a change of ``os.getppid()`` (the orphan is re-parented), polled every 0.5 s.
    """

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            threading.Event().wait(interval_s)

    threading.Thread(target=watch, name="pocusiq-parent-watch", daemon=True).start()


def _run_pool(tasks: Iterable[tuple], workers: int, store: Callable[[int, Any], None], bar: Any) -> None:
    """Run ``tasks`` on a process pool, at most ``4 * workers`` in flight, storing results as they finish."""
    pending: set[Future] = set()
    queue = iter(tasks)
    executor = ProcessPoolExecutor(
        max_workers=workers, mp_context=_worker_context(), initializer=_exit_with_parent, initargs=(os.getpid(),)
    )
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
