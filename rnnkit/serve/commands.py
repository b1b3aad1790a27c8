"""``rnnkit serve`` (the HTTP server and playground) and ``rnnkit export`` (ONNX / TorchScript)."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="serve trained models over HTTP, with a playground at /")
    serve.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (or .pt files) to serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes the server to the network")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (0: any free port, printed at start)")
    serve.add_argument("--max-batch", type=int, default=32, help="generation requests stepped together, at most")
    serve.add_argument("--max-queue", type=int, default=64, help="requests waiting for a place in the batch before 503")
    serve.add_argument("--no-batching", action="store_true", help="serve one generation at a time (for comparison)")
    serve.add_argument("--max-length", type=int, default=2000, help="characters one request may generate")
    serve.add_argument("--max-body", type=int, default=64 * 1024, help="request body limit in bytes (413 beyond)")
    serve.add_argument("--timeout", type=float, default=60.0, help="seconds one request may take, queue included")
    serve.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                       help="the char-LMs' weight products while generating: fp32 (a seed gives `rnnkit sample`'s "
                            "text), or bf16 where the CPU multiplies it in hardware (auto: there only; faster for "
                            "each stream, and a seed gives `rnnkit sample --precision bf16`'s text)")
    serve.add_argument("--drain", type=float, default=5.0, help="seconds running streams get to finish after SIGTERM")
    serve.set_defaults(run=_run_serve)

    export = sub.add_parser("export",
                            help="export a trained char-LM (ONNX or TorchScript), or a text or series classifier, "
                                 "tagger or translator (ONNX)")
    export.add_argument("run_dir", metavar="RUN_DIR",
                        help="a run directory (or .pt file) of `rnnkit train charlm` or `recipe "
                             "sentiment/spam/gesture/digits/pos/ner/translate` (digits: read by rows)")
    export.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="file format")
    export.add_argument("--out", required=True,
                        help="output file; also FILE.step.onnx (char-LM) or FILE.decoder.onnx (translator); always "
                             "FILE.json beside")
    export.set_defaults(run=_run_export)


def _run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise ValueError("rnnkit serve needs the 'serve' extra: pip install 'rnnkit[serve]'.") from None
    import torch

    from rnnkit.serve.app import Limits, create_app
    from rnnkit.serve.models import load_models
    from rnnkit.utils.precision import resolve_precision

    for flag in ("max_batch", "max_queue", "max_length", "max_body"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}.")
    if not 0 <= args.port < 65536:
        raise ValueError(f"--port must be in [0, 65535], got {args.port}.")
    # --timeout 0 was taken: every generation then ended at once, an empty text with HTTP 200
    if not 0 < args.timeout < float("inf"):
        raise ValueError(f"--timeout must be a positive number of seconds, got {args.timeout}.")
    if not 0 <= args.drain < float("inf"):
        raise ValueError(f"--drain must be a number of seconds >= 0, got {args.drain}.")
    low = resolve_precision(args.precision, torch.device("cpu")) == "bf16"  # the server runs on the CPU
    # Only the batching workers compute with several threads; this thread (loading, then the event loop) and the
    # /v1/predict threads use one. Each thread that runs OpenMP with more than one gets a team of its own, and once
    # libgomp manages more threads than there are CPUs it stops spinning between parallel regions: every region
    # then waits for its team to wake. A worker stepped 32 rows in 1.0-1.7 ms with one team in the process, and
    # in 2.0-2.4 ms once the loading thread had a team too (2 cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    models = load_models(args.run_dirs, args.max_batch, args.max_queue, batching=not args.no_batching,
                         products=torch.bfloat16 if low else None, threads=threads)
    limits = Limits(max_length=args.max_length, max_body=args.max_body, timeout=args.timeout)
    app = create_app(models, limits, drain=args.drain)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=int(args.drain) + 5)
    server = _Server(config, models, args.drain)
    # What is loaded by now (torch, the models, the web stack: about 250,000 objects) lives as long as the server.
    # Frozen, the cycle collector never walks it again; unfrozen, each full collection took about 160 ms here,
    # while every stream waited (the p95 time to the first character at 32 clients rose from ~40 to ~200 ms).
    gc.collect()
    gc.freeze()
    for name, m in models.items():
        note = f", {m.info['precision']} products" if m.kind == "charlm" else ""
        if m.kind != "charlm" and not m.predicts:  # a digits or gesture model reads files, which the server does not
            note = "; listed by /v1/models only: its inputs are files, which the server does not read"
        print(f"serving {name} ({m.kind}{note}) from {m.path}", flush=True)
    server.run()
    return 0


class _Server:
    """uvicorn's server, with SIGTERM also draining the batchers so open streams end instead of holding shutdown up."""

    def __init__(self, config: Any, models: dict[str, Any], drain: float) -> None:
        import uvicorn

        outer = self

        class Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: Any) -> None:
                outer.drain()
                super().handle_exit(sig, frame)

            async def startup(self, sockets: Any = None) -> None:
                await super().startup(sockets)
                for s in self.servers:
                    for sock in s.sockets:
                        host, port = sock.getsockname()[:2]
                        print(f"rnnkit serve: listening on http://{host}:{port}/ (docs at /docs)", flush=True)

        self.server, self.models, self.grace = Server(config), models, drain

    def drain(self) -> None:
        for m in self.models.values():
            if m.batcher is not None:
                threading.Thread(target=m.batcher.close, args=(self.grace,), daemon=True).start()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *a: None)  # uvicorn installs its own handlers in run()
        self.server.run()
        sys.stdout.flush()


def _run_export(args: argparse.Namespace) -> int:
    from rnnkit.export import export_run

    for path in export_run(args.run_dir, args.format, args.out):
        print(f"wrote {path}")
    return 0
