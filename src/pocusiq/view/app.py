"""``pocusiq serve``'s web app (Starlette, run by uvicorn): upload, compare, download, live view.

Routes (all on 127.0.0.1 unless told otherwise; nothing is fetched from or sent to anywhere else):

* ``GET /`` — the page (style and script inline; same wipe and cine player as ``pocusiq view``).
* ``POST /api/enhance`` — multipart ``file`` (+ ``roi`` = auto|full): the file is enhanced with
  :func:`pocusiq.enhance.files.enhance_file` into a job folder; answers JSON with preview URLs,
  NIQE/PIQE before and after, and download URLs; a bad file answers 400 with ``{"error": ...}``.
* ``GET /api/jobs/{id}/preview/{before|after}/{n}`` — preview frames (PNG for stills, JPEG for loops).
* ``GET /api/jobs/{id}/download/{enhanced|side_by_side}`` — the outputs, in the input's format.
* ``GET /api/live/stream?source=0|PATH&sbs=0|1&roi=auto|full`` — MJPEG of the enhanced stream; ``/api/live/stats``
  its measured frame rate; ``POST /api/live/stop``.

Safety: the Host header must be the address served (Starlette's ``TrustedHostMiddleware``: a web
page elsewhere cannot reach the app through DNS rebinding); POSTs need the ``X-Pocusiq`` header
(a cross-site form cannot set it); uploads over ``max_upload_bytes`` are refused while they
arrive (413); the upload's file name is reduced to safe characters. Job folders live in one
temporary folder, the oldest beyond ``max_jobs`` are deleted, and the whole folder is removed at
shutdown.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
import threading
import traceback
import uuid
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocusiq.errors import PocusiqError
from pocusiq.view.frames import display_jpeg, encode, frames_at, read_for_view, to_display
from pocusiq.view.live import MJPEG_MEDIA_TYPE, LiveSession, parse_source
from pocusiq.view.page import NIQE_CAVEAT, static_text
from pocusiq.view.pairs import Pair
from pocusiq.view.scores import quality_rows

DEFAULT_MAX_UPLOAD_MB = 500
"""Largest upload accepted: a 1280x960 H.264 loop of a few thousand frames, or a large multi-frame DICOM."""
DEFAULT_MAX_JOBS = 20
PREVIEW_FRAMES = 120
CSRF_HEADER = "x-pocusiq"


class UploadTooLarge(Exception):
    pass


@dataclass
class ServeSettings:
    """Settings of the app.

    Attributes:
        max_upload_bytes: uploads larger than this are refused (413).
        max_jobs: job folders kept; older ones are deleted.
        allowed_hosts: Host header values accepted.
        live_source: pre-filled live source (device index or video path).
        workdir: where job folders go (default: a new temporary folder, removed at shutdown).
    """

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 1024 * 1024
    max_jobs: int = DEFAULT_MAX_JOBS
    allowed_hosts: list[str] = field(default_factory=lambda: ["127.0.0.1", "localhost", "::1", "[::1]"])
    live_source: str = ""
    workdir: Path | None = None


@dataclass
class Job:
    folder: Path
    name: str
    output: Path
    side_by_side: Path | None
    previews: dict[str, list[Path]]


def safe_name(name: str) -> str:
    """An uploaded file's name reduced to ``[A-Za-z0-9._-]`` (no folders, no leading dot), at most 100 chars."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[-100:]
    return cleaned or "upload"


def _strip(message: str, folder: Path) -> str:
    """A message without the job folder's path (users see the file name they uploaded)."""
    return message.replace(str(folder / "in") + "/", "").replace(str(folder) + "/", "")


def _limited(receive, limit: int):
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise UploadTooLarge
        return message

    return wrapped


class ServeState:
    """Everything the routes share: the enhancer, one inference lock, jobs, the live session."""

    def __init__(self, enhancer: Any, settings: ServeSettings) -> None:
        self.enhancer = enhancer
        self.settings = settings
        self.lock = threading.Lock()
        self.root = settings.workdir or Path(tempfile.mkdtemp(prefix="pocusiq-serve-"))
        self.owns_root = settings.workdir is None
        self.root.mkdir(parents=True, exist_ok=True)
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.live = LiveSession(enhancer, self.lock)

    def new_folder(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir()
        return job_id, folder

    def add(self, job_id: str, job: Job) -> None:
        self.jobs[job_id] = job
        while len(self.jobs) > self.settings.max_jobs:
            _, old = self.jobs.popitem(last=False)
            shutil.rmtree(old.folder, ignore_errors=True)

    def close(self) -> None:
        self.live.stop()
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            for job in self.jobs.values():
                shutil.rmtree(job.folder, ignore_errors=True)
        self.jobs.clear()


def process_upload(state: ServeState, job_id: str, folder: Path, name: str, roi: str) -> dict[str, Any]:
    """Enhance ``folder/in/name`` into ``folder/out``; previews and scores. Runs in a worker thread."""
    from pocusiq.enhance.files import enhance_file, file_kind

    source = folder / "in" / name
    out = folder / "out" / name
    kind = file_kind(source)
    if kind is None:
        raise PocusiqError(f"{name}: unsupported file type {source.suffix or '(no suffix)'} "
                           "(expected PNG, JPEG, TIFF, DICOM, or MP4/AVI/MOV/MKV video)")
    with state.lock:
        result = enhance_file(state.enhancer, source, out, roi=roi, side_by_side=True)
    pair = Pair(name, source, out, kind, result.region, result.region_kind)
    prepare = None if kind == "image" else display_jpeg()  # loops hold JPEGs, not frames
    before = read_for_view(source, kind, max_frames=PREVIEW_FRAMES, prepare=prepare)
    after = read_for_view(out, kind, max_frames=PREVIEW_FRAMES, prepare=prepare)
    cine = before.total > 1
    if not cine and prepare is not None:  # a one-frame DICOM/video is previewed losslessly
        before.frames = frames_at(source, kind, [0])
        after.frames = frames_at(out, kind, [0])
    rows, scope = quality_rows(pair, before, after)
    previews: dict[str, list[Path]] = {"before": [], "after": []}
    preview_dir = folder / "preview"
    preview_dir.mkdir()
    for side, frames in (("before", before), ("after", after)):
        if cine:
            blobs, suffix = frames.frames, ".jpg"
        else:
            blobs, suffix = [encode(to_display(frames.frames[0], frames.max_value))], ".png"
        for i, blob in enumerate(blobs):
            path = preview_dir / f"{side}-{i}{suffix}"
            path.write_bytes(blob)
            previews[side].append(path)
    state.add(job_id, Job(folder, name, out, result.side_by_side, previews))
    n = min(len(previews["before"]), len(previews["after"]))
    rate = before.rate
    h, w = before.size
    base = f"/api/jobs/{job_id}"
    stem, suffix = Path(name).stem, Path(name).suffix
    return {
        "id": job_id,
        "name": name,
        "kind": kind,
        "width": w,
        "height": h,
        "frames": before.total,
        "shown_frames": n,
        "fps": (float(rate) / before.stride) if rate else 10.0,
        "labels": [i + 1 for i in before.indices[:n]],
        "region": {"kind": result.region_kind, "box": list(result.region) if result.region else None},
        "seconds": round(result.seconds, 3),
        "before": [f"{base}/preview/before/{i}" for i in range(n)],
        "after": [f"{base}/preview/after/{i}" for i in range(n)],
        "downloads": [
            {"label": "enhanced", "url": f"{base}/download/enhanced", "filename": f"{stem}_enhanced{suffix}"},
            {"label": "side by side (input | enhanced)", "url": f"{base}/download/side_by_side",
             "filename": f"{stem}_side_by_side{suffix}"},
        ],
        "scores": {"scope": scope, "rows": [
            {"key": r.key, "label": r.label, "before": r.before, "after": r.after,
             "higher_is_better": r.higher_is_better, "note": r.note} for r in rows]},
        "model": state.enhancer.model_name,
    }


def serve_page(settings: ServeSettings, model_name: str, max_mb: float) -> str:
    """The app's single page."""
    from pocusiq.enhance.files import NOT_FOR_DIAGNOSIS

    esc = lambda v: html.escape(str(v), quote=True)  # noqa: E731
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'">
<title>pocusiq serve</title><style>{static_text('wipe.css')}</style></head><body>
<header class="top"><h1>pocusiq serve</h1>
<p class="note">Model: {esc(model_name)} &middot; runs on this computer only; nothing is uploaded anywhere else.</p>
<div class="warn">{esc(NOT_FOR_DIAGNOSIS)}<br>{esc(NIQE_CAVEAT)}</div></header>
<main>
<section class="card" id="upload-card"><h2>Enhance a file</h2>
<div class="drop" id="drop">Drop a PNG, JPEG, TIFF, DICOM or video file here, or
<label class="button">choose a file<input type="file" id="file" hidden></label>
<div class="note">up to {max_mb:g} MB &middot; region to enhance (uploads and live):
<select id="roi"><option value="auto">imaging region (auto)</option><option value="full">whole frame</option></select></div></div>
<div id="status" class="note" role="status"></div><div id="error" class="error" hidden></div>
</section>
<section class="card" id="result" hidden><h2 id="result-name"></h2><div class="sub" id="result-sub"></div>
<div class="row"><div class="viewer">
<div class="wipe"><img class="before" alt="before"><img class="after" alt="after"><div class="divider"></div>
<span class="tag before">before</span><span class="tag after">after</span></div>
<div class="controls"><button class="layout" type="button">Side by side</button><span class="label">wipe</span><input type="range" class="wipe-range" min="0" max="1000" value="500" aria-label="wipe position"></div>
<div class="controls" id="cine-controls" hidden><button class="play" type="button">Play</button>
<input type="range" class="scrub" min="0" max="0" value="0" aria-label="frame"><span class="label frame-label"></span></div>
<div class="controls" id="downloads"></div></div>
<div class="numbers"><table class="metrics quality"><caption id="scope"></caption>
<thead><tr><th>metric</th><th>before</th><th>after</th><th>change</th></tr></thead><tbody id="scores"></tbody></table></div></div>
</section>
<section class="card live" id="live-card"><h2>Live</h2>
<div class="controls"><label class="inline" for="live-source">capture device index or video file</label>
<input type="text" id="live-source" size="40" value="{esc(settings.live_source)}" placeholder="0  or  /path/to/loop.mp4">
<label class="inline"><input type="checkbox" id="live-sbs"> input | enhanced</label>
<button type="button" id="live-start">Start</button><button type="button" id="live-stop">Stop</button>
<span class="label" id="live-stats"></span></div>
<div id="live-error" class="error" hidden></div><img id="live-img" alt="live enhanced stream" hidden>
</section></main>
<script>{static_text('wipe.js')}</script>
<script>{static_text('serve.js')}</script></body></html>
"""


def create_app(enhancer: Any, settings: ServeSettings | None = None):
    """The Starlette application (needs the ``view`` extra: starlette, python-multipart)."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    settings = settings or ServeSettings()
    state = ServeState(enhancer, settings)
    max_mb = settings.max_upload_bytes / (1024 * 1024)
    page = serve_page(settings, enhancer.model_name, max_mb)

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def enhance(request: Request) -> Response:
        if request.headers.get(CSRF_HEADER) != "1":
            return error(f"missing {CSRF_HEADER} header (requests must come from the pocusiq page)", 403)
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_upload_bytes + 65536:
            return error(f"file too large: {int(length) / 1e6:.1f} MB; the limit is {max_mb:g} MB "
                         "(pocusiq serve --max-upload-mb)", 413)
        job_id, folder = state.new_folder()
        limited = Request(request.scope, _limited(request.receive, settings.max_upload_bytes + 65536))
        try:
            try:
                async with limited.form(max_files=1, max_fields=4) as form:
                    upload = form.get("file")
                    roi = str(form.get("roi") or "auto")
                    if upload is None or isinstance(upload, str) or not getattr(upload, "filename", None):
                        return error("no file in the upload (form field 'file')")
                    if roi not in ("auto", "full"):
                        return error(f"roi must be 'auto' or 'full', got {roi!r}")
                    name = safe_name(upload.filename)
                    (folder / "in").mkdir()
                    with open(folder / "in" / name, "wb") as sink:
                        while chunk := await upload.read(1 << 20):
                            sink.write(chunk)
            except UploadTooLarge:
                return error(f"file too large: the limit is {max_mb:g} MB (pocusiq serve --max-upload-mb)", 413)
            except HTTPException as exc:  # malformed multipart (Starlette turns its parser errors into 400)
                return error(f"bad upload: {exc.detail}")
            try:
                result = await run_in_threadpool(process_upload, state, job_id, folder, name, roi)
            except (PocusiqError, ValueError, OSError) as exc:
                return error(_strip(str(exc), folder))
            except Exception as exc:  # a bug, not bad input: say so in the page and keep serving
                traceback.print_exc()
                return error(f"{name}: internal error ({type(exc).__name__}: {_strip(str(exc), folder)}); "
                             "details in the pocusiq serve console", 500)
            return JSONResponse(result)
        finally:
            if job_id not in state.jobs:
                shutil.rmtree(folder, ignore_errors=True)

    def job_or_404(request: Request) -> Job | None:
        return state.jobs.get(request.path_params["job"])

    async def preview(request: Request) -> Response:
        job = job_or_404(request)
        side, index = request.path_params["side"], request.path_params["index"]
        if job is None or side not in job.previews or not 0 <= index < len(job.previews[side]):
            return error("no such preview", 404)
        path = job.previews[side][index]
        return FileResponse(path, media_type="image/png" if path.suffix == ".png" else "image/jpeg")

    async def download(request: Request) -> Response:
        job = job_or_404(request)
        which = request.path_params["which"]
        if job is None or which not in ("enhanced", "side_by_side"):
            return error("no such download", 404)
        path = job.output if which == "enhanced" else job.side_by_side
        if path is None or not path.is_file():
            return error("no such download", 404)
        stem, suffix = Path(job.name).stem, Path(job.name).suffix
        filename = f"{stem}_{'enhanced' if which == 'enhanced' else 'side_by_side'}{suffix}"
        return FileResponse(path, filename=filename, media_type="application/octet-stream")

    async def live_stream(request: Request) -> Response:
        try:
            source = parse_source(request.query_params.get("source", ""))
        except PocusiqError as exc:
            return error(str(exc))
        sbs = request.query_params.get("sbs") == "1"
        roi = request.query_params.get("roi", "auto")
        if roi not in ("auto", "full"):
            return error(f"roi must be 'auto' or 'full', got {roi!r}")
        return StreamingResponse(state.live.stream(source, side_by_side=sbs, roi=roi), media_type=MJPEG_MEDIA_TYPE,
                                 headers={"Cache-Control": "no-store"})

    async def live_check(request: Request) -> Response:
        try:
            source = parse_source(request.query_params.get("source", ""))
        except PocusiqError as exc:
            return JSONResponse({"error": str(exc)})
        return JSONResponse({"source": str(source)})

    async def live_stats(request: Request) -> Response:
        return JSONResponse(state.live.stats.as_dict(), headers={"Cache-Control": "no-store"})

    async def live_stop(request: Request) -> Response:
        if request.headers.get(CSRF_HEADER) != "1":
            return error(f"missing {CSRF_HEADER} header", 403)
        state.live.stop()
        return JSONResponse(state.live.stats.as_dict())

    @asynccontextmanager
    async def lifespan(app):
        yield
        state.close()

    routes = [
        Route("/", index),
        Route("/api/enhance", enhance, methods=["POST"]),
        Route("/api/jobs/{job:str}/preview/{side:str}/{index:int}", preview),
        Route("/api/jobs/{job:str}/download/{which:str}", download),
        Route("/api/live/stream", live_stream),
        Route("/api/live/check", live_check),
        Route("/api/live/stats", live_stats),
        Route("/api/live/stop", live_stop, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)])
    app.state.pocusiq = state
    return app
