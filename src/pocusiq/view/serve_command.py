"""``pocusiq serve``: the local web app (upload, before | after, download, live view).

Binds 127.0.0.1 by default. Any other address is refused unless ``--allow-remote`` is given, and
then a warning says that anyone who can reach the address can use the app and see what is
uploaded (there are no accounts). Needs the ``view`` extra (starlette, uvicorn, python-multipart).
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from pocusiq.errors import CheckpointError, PocusiqError

DEFAULT_PORT = 8765
LOOPBACK_NAMES = ("localhost",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pocusiq.enhance.engines import ENGINES
    from pocusiq.view.app import DEFAULT_MAX_JOBS, DEFAULT_MAX_UPLOAD_MB

    parser.add_argument("--model", metavar="CKPT",
                        help="generator checkpoint (.safetensors or a run folder) or an exported .onnx file "
                             "(default: the shipped default model, where this version has one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this computer only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other than the loopback address (no accounts: anyone who reaches it can use it)")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"largest upload accepted (default {DEFAULT_MAX_UPLOAD_MB} MB)")
    parser.add_argument("--max-jobs", type=int, default=DEFAULT_MAX_JOBS,
                        help=f"results kept for download; older ones are deleted (default {DEFAULT_MAX_JOBS})")
    parser.add_argument("--live", default="", metavar="SOURCE",
                        help="pre-fill the live view's source: a capture device index (0) or a video file")
    parser.add_argument("--engine", choices=ENGINES, default="auto", help="inference engine (as pocusiq enhance)")
    parser.add_argument("--device", default="cpu", help="torch device for --engine torch (cpu, cuda)")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_enhancer(model: str | None, *, engine: str = "auto", device: str = "cpu"):
    """The ``--model`` checkpoint, else ``Enhancer.default()`` where this version ships one.

    Raises:
        CheckpointError: no ``--model`` and no default model.
    """
    from pocusiq.enhance.enhancer import Enhancer

    if model:
        return Enhancer.from_checkpoint(model, engine=engine, device=device)
    default = getattr(Enhancer, "default", None)
    if default is None:
        raise CheckpointError("no model: pass --model CKPT (a generator checkpoint from 'pocusiq train' or "
                              "'pocusiq demo', or an .onnx file from 'pocusiq export'); this version ships no "
                              "default model")
    return default()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free port, read back from the socket)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise PocusiqError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.allow_remote:
        print(f"pocusiq serve: error: --host {args.host} is not this computer's loopback address; the app has no "
              "accounts, so anyone who can reach that address could use it. Pass --allow-remote to do it anyway.",
              file=sys.stderr)
        return 2
    if args.max_upload_mb <= 0 or args.max_jobs < 1 or not 0 <= args.port <= 65535:
        print("pocusiq serve: error: --max-upload-mb must be > 0, --max-jobs >= 1, --port 0-65535", file=sys.stderr)
        return 2
    try:
        import uvicorn

        from pocusiq.view.app import ServeSettings, create_app
    except ImportError as exc:
        print(f"pocusiq serve: error: the web app needs the 'view' extra ({exc}); "
              "install it with: pip install 'pocusiq[view]'", file=sys.stderr)
        return 2
    enhancer = load_enhancer(args.model, engine=args.engine, device=args.device)
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"]
    if not is_loopback(args.host):
        print(f"pocusiq serve: WARNING: listening on {args.host}, reachable from other machines; no accounts, no "
              "encryption: anyone who reaches it can upload files and see the results", file=sys.stderr)
        hosts = ["*"]
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    settings = ServeSettings(max_upload_bytes=int(args.max_upload_mb * 1024 * 1024), max_jobs=args.max_jobs,
                             allowed_hosts=hosts, live_source=args.live)
    app = create_app(enhancer, settings)
    shown = f"[{host}]" if ":" in str(host) else host
    print(f"pocusiq serve: model {enhancer.model_name}, engine {enhancer.engine_name}", flush=True)
    print(f"pocusiq serve: open http://{shown}:{port}/  (Ctrl-C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
