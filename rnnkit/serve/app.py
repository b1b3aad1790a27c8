"""The HTTP API of ``rnnkit serve``: a FastAPI app over the loaded models.

    GET  /health         {"status": "ok", "models": ..., per-model load, the cycle collector's frozen objects and
                         full collections (``rnnkit serve`` freezes what it loaded before serving)}
    GET  /v1/models      name, kind, config, vocabulary size, training metrics of every model
    POST /v1/generate    char-LM text: whole JSON, or server-sent events as the characters are made
    POST /v1/predict     a recipe model's output for a list of texts
    GET  /               the playground (static files in rnnkit/serve/static)
    GET  /docs           the OpenAPI page FastAPI writes from the request models below

Bad input is always a 4xx whose ``error`` names the field and says why: malformed JSON,
non-UTF-8, wrong types and unknown fields (422, from the strict request models), values out of
range (422), bodies over the size limit (413), an unknown model (404). A full queue is a 503
with ``Retry-After``; nothing a client sends can make a 500.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from rnnkit.serve.batching import Event, Job, QueueFull, Watch, check_watch
from rnnkit.serve.models import ServedModel

STATIC = Path(__file__).parent / "static"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; the defaults suit a public demo on a small machine."""

    max_length: int = 2000  # characters generated per request
    max_prime: int = 2000  # characters of prime (warmed in one sequence call)
    max_body: int = 64 * 1024  # bytes of request body
    max_inputs: int = 64  # texts per /v1/predict
    max_input_chars: int = 5000  # characters per text
    timeout: float = 60.0  # seconds a request may run, queue included
    retry_after: int = 1  # seconds, in the Retry-After of a 503
    max_predict_waiting: int = 16  # /v1/predict calls in flight before a 503


class WatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    layer: int = Field(0, ge=0, description="layer, from 0")
    name: str = Field("h", description="state h or c, or a gate: i, f, g, o (LSTM); r, z, n (GRU); a (Elman)")
    unit: int = Field(0, ge=0, description="unit index in that layer")


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str | None = Field(None, description="model name from /v1/models; default: the first char-LM")
    prime: str = Field("", description="text to continue; empty starts from a newline")
    length: int = Field(200, ge=0, description="characters to generate")
    temperature: float = Field(1.0, gt=0, le=100, description="softmax temperature")
    top_k: int | None = Field(None, ge=1, description="keep the k most likely characters")
    top_p: float | None = Field(None, gt=0, le=1, description="keep the smallest set with this much probability")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="random seed: the same seed gives the same text")
    stream: bool = Field(False, description="server-sent events, one per character, then an 'end' event")
    watch: WatchRequest | None = Field(None, description="report this unit's value with every character")


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    model: str | None = Field(None, description="model name from /v1/models; default: the first that predicts")
    inputs: list[str] = Field(..., min_length=1, description="the texts: sentences to classify, tag or translate")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def create_app(models: dict[str, ServedModel], limits: Limits | None = None, drain: float = 5.0) -> BodyGuard:
    """The app over already loaded ``models`` (rnnkit.serve.models.load_models)."""
    limits = limits or Limits()
    predicting = {"n": 0}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        for m in models.values():  # each step's events reach the streams in one wake-up of this loop
            if m.batcher is not None:
                m.batcher.post = loop.call_soon_threadsafe
        yield
        for m in models.values():  # SIGTERM: uvicorn stops accepting, then this lets streams finish, then cancels
            if m.batcher is not None:
                await asyncio.to_thread(m.batcher.close, drain)

    app = FastAPI(title="rnnkit serve", version="1", lifespan=lifespan,
                  description="Generation from character-level LMs (continuously batched) and predictions from rnnkit "
                              "recipes.")
    app.state.models, app.state.limits = models, limits

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "; ".join(_describe(e) for e in exc.errors()), "detail": _plain(exc.errors())},
                            422)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, exc.status, headers=exc.headers)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        load = {name: m.batcher.load() for name, m in models.items() if m.batcher is not None}
        collector = {"frozen": gc.get_freeze_count(), "full_collections": gc.get_stats()[2]["collections"]}
        return {"status": "ok", "models": list(models), "load": load, "gc": collector}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {"models": [m.describe() for m in models.values()]}

    @app.post("/v1/generate", response_model=None)
    async def generate(body: GenerateRequest, request: Request) -> Any:
        served = _pick(models, body.model, "generate")
        assert served.batcher is not None
        assert served.charlm is not None
        job = _job(served, body, limits)
        loop, events = asyncio.get_running_loop(), Inbox()
        def hop(event: Event) -> None:  # from the worker thread onto this loop
            loop.call_soon_threadsafe(events.put, event)

        # with the lifespan's post, the batcher already calls emit on this loop; without it (an app driven
        # without startup) each event hops threads itself
        job.emit = events.put if served.batcher.post is not None else hop
        try:
            served.batcher.submit(job)
        except QueueFull as e:
            raise ApiError(503, f"busy: {e}; retry in {limits.retry_after} s",
                           {"Retry-After": str(limits.retry_after)}) from None
        if body.stream:
            return StreamingResponse(_sse(job, events, served.name, limits), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        watcher = asyncio.create_task(_cancel_on_disconnect(request, job))
        try:
            return await _whole(job, events, served.name, body, limits)
        finally:
            watcher.cancel()

    @app.post("/v1/predict")
    async def predict(body: PredictRequest) -> dict[str, Any]:
        served = _pick(models, body.model, "predict")
        for i, text in enumerate(body.inputs):
            if len(text) > limits.max_input_chars:
                raise ApiError(422, f"inputs[{i}]: {len(text)} characters; at most {limits.max_input_chars} per input")
        if len(body.inputs) > limits.max_inputs:
            raise ApiError(422, f"inputs: {len(body.inputs)} texts; at most {limits.max_inputs} per request")
        if predicting["n"] >= limits.max_predict_waiting:
            raise ApiError(503, "busy: too many predictions in flight", {"Retry-After": str(limits.retry_after)})
        predicting["n"] += 1
        try:
            outputs = await asyncio.wait_for(asyncio.to_thread(served.predict, body.inputs), limits.timeout)
        except TimeoutError:
            raise ApiError(504, f"the prediction took longer than {limits.timeout} s") from None
        except (ValueError, TypeError) as e:  # the recipe's own word on an input it cannot use
            raise ApiError(422, str(e)) from None
        finally:
            predicting["n"] -= 1
        return {"model": served.name, "kind": served.kind, "outputs": outputs}

    app.mount("/", StaticFiles(directory=STATIC, html=True), name="playground")
    return BodyGuard(app, limits.max_body)


def _pick(models: dict[str, ServedModel], name: str | None, what: Literal["generate", "predict"]) -> ServedModel:
    able = {n: m for n, m in models.items() if (m.batcher is not None if what == "generate" else m.predicts)}
    if name is None:
        if not able:
            raise ApiError(404, f"model: none of the served models can {what} (see /v1/models)")
        return next(iter(able.values()))
    if name not in models:
        raise ApiError(404, f"model: no model named {name!r}; served: {sorted(models)}")
    if name not in able:
        raise ApiError(422, f"model: {name!r} is a {models[name].kind} model and cannot {what}; "
                            f"models that can: {sorted(able) or 'none'}")
    return models[name]


def _job(served: ServedModel, body: GenerateRequest, limits: Limits) -> Job:
    model = served.charlm
    assert model is not None
    assert model.vocab is not None
    if body.length > limits.max_length:
        raise ApiError(422, f"length: {body.length} is more than this server's limit of {limits.max_length} characters")
    if len(body.prime) > limits.max_prime:
        raise ApiError(422,
                       f"prime: {len(body.prime)} characters is more than this server's limit of {limits.max_prime}")
    missing = model.vocab.unknown(body.prime)
    if missing:
        shown = "".join(missing[:20])
        raise ApiError(422, f"prime: characters outside the model's vocabulary: {shown!r} ({len(missing)} distinct); "
                            "see 'vocab' in /v1/models")
    watch = None
    if body.watch is not None:
        watch = Watch(body.watch.layer, body.watch.name, body.watch.unit)
        problem = check_watch(model, watch)
        if problem is not None:
            raise ApiError(422, problem)
    ids = model.vocab.encode(body.prime) or [model.vocab.index.get("\n", 0)]
    return Job(ids=ids, length=body.length, temperature=body.temperature, top_k=body.top_k, top_p=body.top_p,
               seed=body.seed, watch=watch, deadline=time.monotonic() + limits.timeout)


class Inbox:
    """The events of one request, put by the worker's hand-over on the event loop's thread, taken all at once.

    A list and at most one waiting reader: what an ``asyncio.Queue`` did here, without its per-event
    bookkeeping. With 32 streams the loop handles every character of every stream; this and the cached
    character lines of ``_data_line`` took its CPU from 0.016-0.022 to 0.011 s per 1,000 characters
    (docs/benchmarks.md, serving).
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.waiter: asyncio.Future[None] | None = None

    def put(self, event: Event) -> None:
        """Add an event and wake the reader, if one waits (on the loop's thread)."""
        self.events.append(event)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def take(self) -> list[Event]:
        """Every event there is now, at least one (waiting for it): a stream that fell behind catches up at once."""
        while not self.events:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        events, self.events = self.events, []
        return events


def _last_resort(job: Job, events: Inbox, limits: Limits) -> asyncio.TimerHandle:
    """The worker always ends a job (at its deadline, ``limits.timeout``, at the latest); should it fail to,
    this ends the request 10 s later. One timer per request: a timeout around every event cost a task each."""

    def expire() -> None:
        job.cancel()
        events.put({"done": True, "finish_reason": "timeout", "produced": job.produced})

    return asyncio.get_running_loop().call_later(limits.timeout + 10.0, expire)


async def _cancel_on_disconnect(request: Request, job: Job) -> None:
    """A client waiting for a whole answer can hang up too: then its job leaves the batch (checked 4 times a second)."""
    while not job.cancelled.is_set():
        if await request.is_disconnected():
            job.cancel()
            return
        await asyncio.sleep(0.25)


async def _whole(job: Job, events: Inbox, name: str, body: GenerateRequest,
                 limits: Limits) -> JSONResponse:
    text, values = [], []
    timer, end = _last_resort(job, events, limits), None
    try:
        while end is None:
            for event in await events.take():
                if "error" in event:
                    return JSONResponse({"error": event["error"]}, 500)
                if event.get("done"):
                    end = event
                    break
                text.append(event["text"])
                if "value" in event:
                    values.append(event["value"])
    finally:
        timer.cancel()
        job.cancel()  # a no-op once done; if the client went away mid-wait, the job leaves the batch
    out: dict[str, Any] = {"model": name, "prime": body.prime, "text": "".join(text),
                           "finish_reason": end["finish_reason"], "seed": body.seed}
    if body.watch is not None:
        out["values"] = values
    return JSONResponse(out)


@functools.lru_cache(maxsize=4096)
def _json_text(char: str) -> str:
    return json.dumps(char)


def _data_line(event: Event) -> str:
    """``data: {json}`` and a blank line; a plain character's line (the common event) without a call to json.dumps."""
    if len(event) == 2 and "text" in event and "index" in event:
        return f'data: {{"text": {_json_text(event["text"])}, "index": {event["index"]:d}}}\n\n'
    return f"data: {json.dumps(event)}\n\n"


async def _sse(job: Job, events: Inbox, name: str, limits: Limits) -> AsyncIterator[str]:
    """One ``data:`` line per character ({"text", "index"[, "value"]}), then ``event: end`` with the finish reason.

    The lines of all the characters waiting go out in one write: with many streams the loop can fall
    behind the worker, and then one write (one send, one wake-up of the client) carries several.
    """
    timer = _last_resort(job, events, limits)
    try:
        while True:
            lines = []
            for event in await events.take():
                if event.get("done") or "error" in event:
                    lines.append(f"event: end\ndata: {json.dumps({'model': name, **event})}\n\n")
                    yield "".join(lines)
                    return
                lines.append(_data_line(event))
            yield "".join(lines)
    finally:
        timer.cancel()
        job.cancel()  # client disconnected (the generator is closed) or finished: leave the batch


def _describe(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p != "body"]
    field = ".".join(loc) or "body"
    if field == "body" and error.get("type") == "missing":
        return "body: empty; send a JSON object (see /docs)"
    if error.get("type") == "json_invalid":
        return f"body: not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    return f"{field}: {error.get('msg', 'invalid')}"


def _plain(errors: Any) -> Any:
    """The validation errors as plain JSON (their 'input' and 'ctx' may hold anything, even bytes)."""
    return [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": str(e.get("type"))}
            for e in errors]


class BodyGuard:
    """ASGI middleware: a request body over ``max_body`` bytes is answered 413, one that is not UTF-8
    400, before the app sees it; the API's POST bodies are read as JSON whatever their content-type.

    The body is read here (it is small by then) and handed on; later ``receive`` calls go to the
    client, so a streaming response still hears about a disconnect.
    """

    def __init__(self, app: FastAPI, max_body: int) -> None:
        self.app, self.max_body = app, max_body
        self.state = app.state

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                        send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers") or [])
        if scope.get("method") == "POST" and scope.get("path", "").startswith("/v1/"):
            # the API speaks JSON whatever the client declares (curl -d says form-urlencoded)
            headers = [(k, v) for k, v in headers if k != b"content-type"] + [(b"content-type", b"application/json")]
            scope = {**scope, "headers": headers}
        declared = dict(headers).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            why = "over the limit" if declared.isdigit() else "not a number"
            await self._reject(send, f"content-length: {why}; request bodies are limited to {self.max_body} bytes")
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body:
                await self._reject(send, f"body: over the limit; request bodies are limited to {self.max_body} bytes")
                return
        body = b"".join(chunks)
        if scope.get("method") == "POST":
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as e:
                await self._reject(send,
                                   f"body: not UTF-8 (byte {e.start} is {body[e.start]:#04x}); send JSON encoded as "
                                   "UTF-8", 400)
                return
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)

    async def _reject(self, send: Callable[[Message], Awaitable[None]], message: str, status: int = 413) -> None:
        payload = json.dumps({"error": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


def _replay(first: list[Message], receive: Callable[[], Awaitable[Message]]) -> Callable[[], Awaitable[Message]]:
    pending = list(first)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
