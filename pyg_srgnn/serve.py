r"""`pyg-srgnn serve`: a trained model behind an HTTP API (FastAPI on
uvicorn, the :obj:`[serve]` extra), with concurrent requests gathered into
one forward pass (micro-batching).

=========================  ==================================================
:obj:`POST /recommend`     :obj:`{"session": [...], "k": 20,
                           "exclude_seen": false}` -> :obj:`{"items",
                           "scores", "unknown"}`, in the user's item ids
:obj:`POST /recommend/batch`  :obj:`{"sessions": [[...], ...], "k", ...}`
:obj:`POST /explain`       the session's graph and each click's attention
:obj:`GET /health`         :obj:`{"status": "ok"}`
:obj:`GET /info`           the model, data set, items and checkpoint metrics
=========================  ==================================================

Bad input gets a 4xx with a message: malformed JSON, wrong types, empty or
too long sessions, :obj:`k` out of range, bodies over the size limit, and
sessions with no known item (answered with POP's items unless the server
is strict, then a 422).
"""
import asyncio
import contextlib
import functools
import gc
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import torch

from pyg_srgnn.checkpoint import load_checkpoint, model_from_checkpoint
from pyg_srgnn.popularity import popular_items
from pyg_srgnn.recommend import Recommender

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from fastapi.routing import APIRoute
    from pydantic import BaseModel, Field, ValidationError
    from pydantic_core import to_json
except ImportError as e:  # pragma: no cover - the [serve] extra
    raise ImportError("pyg-srgnn serve needs FastAPI and uvicorn: pip "
                      "install 'pyg-srgnn[serve]'") from e

ItemId = Union[str, int]

# The page at /: type or click a session, see its top items and the
# attention of each click.
PAGE = Path(__file__).parent / 'static' / 'index.html'


@dataclass
class ServeOptions:
    r"""Limits and behaviour of the server.

    Args:
        max_batch (int): Most sessions scored in one forward pass.
        max_wait_ms (float): How long a batch smaller than
            :obj:`max_batch` waits for more requests; :obj:`0`: a batch is
            what came while the model was busy (see :class:`MicroBatcher`).
        batching (bool): Gather concurrent requests (micro-batching).
        max_session_length (int): Most clicks in a session.
        max_k (int): Largest :obj:`k`.
        max_sessions (int): Most sessions in :obj:`/recommend/batch`.
        max_body_bytes (int): Largest request body.
        strict (bool): A session with no known item is a 422 instead of
            POP's items.
    """
    max_batch: int = 64
    max_wait_ms: float = 0.0
    batching: bool = True
    max_session_length: int = 200
    max_k: int = 100
    max_sessions: int = 256
    max_body_bytes: int = 1 << 20
    strict: bool = False


class RecommendRequest(BaseModel):
    session: List[ItemId] = Field(..., description='Item ids, in click '
                                  'order.')
    k: int = Field(20, description='How many items.')
    exclude_seen: bool = Field(False, description="Leave the session's own "
                               "items out of the list.")


class BatchRequest(BaseModel):
    sessions: List[List[ItemId]]
    k: int = 20
    exclude_seen: bool = False


class Recommendation(BaseModel):
    items: List[str] = Field(..., description='Item ids, best first.')
    scores: List[float] = Field(..., description="The model's scores of "
                                "the items (POP's click counts for a "
                                "session with no known item).")
    unknown: List[ItemId] = Field(..., description="The session's items "
                                  "the model does not know.")


class Recommendations(BaseModel):
    results: List[Recommendation]


class ExplainRequest(BaseModel):
    session: List[ItemId]


def request_body(model: type) -> Dict[str, Any]:
    r"""The OpenAPI description of a JSON body of :obj:`model`, for an
    endpoint that reads its body itself (:func:`parse_body`)."""
    return {'requestBody': {'required': True, 'content': {
        'application/json': {'schema': model.model_json_schema()}}}}


def parse_body(model: type, body: bytes) -> Any:
    r"""The request :obj:`body` read as :obj:`model` by pydantic, straight
    from the JSON; a malformed or invalid body is FastAPI's 422."""
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise RequestValidationError(
            [{**error, 'loc': ('body', *error['loc'])}
             for error in e.errors(include_url=False)], body=body) from None


class DirectRoute(APIRoute):
    r"""An API route whose endpoint takes the :class:`Request` and returns
    the :class:`Response` itself (FastAPI's custom route class): FastAPI
    documents it from the route's models and :obj:`openapi_extra`, but
    solves no dependencies, reads no query and neither validates nor
    encodes the answer per request. For the endpoints under load."""

    def get_route_handler(self) -> Callable[[Request], Any]:
        return self.endpoint


def json_response(content: Any) -> Response:
    r""":obj:`content` as JSON, encoded by pydantic's core: several times
    faster than the standard library for lists of floats."""
    return Response(to_json(content), media_type='application/json')


# The settings of `pyg-srgnn serve` (JSON: checkpoint, threads, fused,
# options), from which each of uvicorn's worker processes builds its app.
SERVE_ENVIRONMENT = 'PYG_SRGNN_SERVE'


def load_recommender(checkpoint: str, fused: bool = False
                     ) -> Tuple[Recommender, Dict[str, Any]]:
    r"""The :class:`Recommender` of :obj:`checkpoint` and what
    :obj:`GET /info` says of it, ready to answer: with :obj:`fused`, the
    model's fused kernel (:mod:`pyg_srgnn.nn.fused`, where it has one) is
    built or loaded here, not at the first request."""
    loaded = load_checkpoint(checkpoint)
    model, config = model_from_checkpoint(loaded, fused=fused)
    recommender = Recommender(model, loaded['item_labels'],
                              config.data.edge_weight,
                              loaded.get('item_popularity'))
    recommender.score([[1]])  # builds the kernel and the scoring table
    return recommender, {
        'model': config.model_name, 'title': config.model.title,
        'dataset': config.data.dataset, 'checkpoint': checkpoint,
        'metrics': loaded.get('metrics')}


def app_from_environment() -> FastAPI:
    r"""The app that :obj:`PYG_SRGNN_SERVE` describes (see
    :obj:`pyg-srgnn serve`): the factory each worker process calls."""
    try:
        settings = json.loads(os.environ[SERVE_ENVIRONMENT])
        checkpoint, threads = settings['checkpoint'], settings['threads']
        fused = settings.get('fused', False)
        options = ServeOptions(**settings['options'])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f'{SERVE_ENVIRONMENT} does not hold the settings '
                         f'of pyg-srgnn serve ({e!r})') from None
    if threads is not None:
        torch.set_num_threads(threads)
    load = functools.partial(load_recommender, checkpoint, fused)
    recommender, info = load()
    return create_app(recommender, options, info, load)


# Loads the model again: the recommender and its /info.
Reloader = Callable[[], Tuple[Recommender, Dict[str, Any]]]


class BodyLimit:
    r"""ASGI middleware answering a request whose body exceeds
    :obj:`max_bytes` with a 413, however the body comes (with a length or
    in chunks), before the app sees it; a plain ASGI layer, lighter per
    request than Starlette's :obj:`BaseHTTPMiddleware`."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope['type'] != 'http':
            return await self.app(scope, receive, send)
        body, more = b'', True
        while more:
            message = await receive()
            if message['type'] == 'http.disconnect':
                return
            body += message.get('body', b'')
            more = message.get('more_body', False)
            if len(body) > self.max_bytes:
                response = JSONResponse(status_code=413, content={
                    'detail': f'The body exceeds {self.max_bytes:,} bytes'})
                return await response(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:  # the app waits for the client to leave
                return await receive()
            replayed = True
            return {'type': 'http.request', 'body': body, 'more_body': False}

        await self.app(scope, replay, send)


class Job(NamedTuple):
    r"""One session to rank: the model it goes to (the one serving when its
    request came in), its known items, :obj:`k` and whether to leave its
    own items out."""
    recommender: Recommender
    items: List[int]
    k: int
    exclude_seen: bool


@torch.inference_mode()  # lighter than no_grad; the answers are lists
def score_jobs(jobs: Sequence[Job]) -> List[Tuple[List[int], List[float]]]:
    r"""The top :obj:`k` items and scores of every job, one forward pass
    and one ranking per model among them (one, unless a reload came in
    between). A session's items do not depend on its batch, its scores only
    to rounding."""
    out: List[Any] = [None] * len(jobs)
    groups: Dict[int, List[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(id(job.recommender), []).append(i)
    for positions in groups.values():
        recommender = jobs[positions[0]].recommender
        group = [jobs[i] for i in positions]
        num_items = recommender.model.num_items
        # A session's own items, where left out, are neither scored nor
        # counted among the items there are to list.
        left = [num_items - len(set(job.items)) if job.exclude_seen else
                num_items for job in group]
        values, items = recommender.top_items(
            [job.items for job in group], max(job.k for job in group),
            [job.exclude_seen for job in group])
        values, items = values.tolist(), items.tolist()
        for row, (i, job) in enumerate(zip(positions, group)):
            top = min(job.k, left[row])
            out[i] = (items[row][:top], values[row][:top])
    return out


class MicroBatcher:
    r"""Gathers concurrent requests into batches of up to
    :obj:`max_batch` sessions and scores each batch in a worker thread,
    outside the event loop. A batch holds the requests that came while the
    model was busy with the previous one, so that a lone request is scored
    at once and a busy server scores large batches; with
    :obj:`max_wait_ms`, a batch smaller than :obj:`max_batch` also waits
    that long for more."""

    def __init__(self, max_batch: int, max_wait_ms: float):
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.pending: List[Tuple[Job, asyncio.Future]] = []
        self.ready: Optional[asyncio.Event] = None
        self.task: Optional[asyncio.Task] = None
        self.executor: Optional[ThreadPoolExecutor] = None

    def start(self) -> None:
        self.ready = asyncio.Event()
        # One thread of its own: batches run one at a time anyway, and in
        # one thread they reuse one malloc arena, where the event loop's
        # pool would spread them over up to six threads' arenas (the
        # server's memory then grows by one batch's buffers per thread).
        self.executor = ThreadPoolExecutor(
            1, thread_name_prefix='pyg-srgnn-scoring')
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.executor is not None:
            self.executor.shutdown(wait=False)

    async def score(self, jobs: List[Job]):
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in jobs]
        self.pending.extend(zip(jobs, futures))
        self.ready.set()
        if len(futures) == 1:
            return [await futures[0]]
        return await asyncio.gather(*futures)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.ready.wait()
            if self.max_wait > 0 and len(self.pending) < self.max_batch:
                await asyncio.sleep(self.max_wait)
            self.ready.clear()
            while self.pending:
                batch = self.pending[:self.max_batch]
                del self.pending[:self.max_batch]
                try:
                    results = await loop.run_in_executor(
                        self.executor, score_jobs, [job for job, _ in batch])
                except Exception as e:  # handed to the requests, never lost
                    results = [e] * len(batch)
                for (_, future), result in zip(batch, results):
                    if future.done():  # its request was cancelled
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)


def create_app(recommender: Recommender,
               options: Optional[ServeOptions] = None,
               info: Optional[Dict[str, Any]] = None,
               reload: Optional[Reloader] = None) -> FastAPI:
    r"""The FastAPI app serving :obj:`recommender` (see the module).
    :obj:`reload` loads the model again (e.g. from a checkpoint a new fit
    replaced) for :obj:`POST /reload` and SIGHUP: requests in flight finish
    with the model they started with, later ones get the new one."""
    options = options or ServeOptions()
    batcher = MicroBatcher(options.max_batch, options.max_wait_ms)
    serving = {'recommender': recommender, 'info': info or {}, 'reloads': 0}
    swap = asyncio.Lock()

    async def do_reload() -> None:
        if reload is None:
            raise HTTPException(409, 'This server has no checkpoint to load '
                                'again')
        async with swap:
            try:
                new, new_info = await asyncio.get_running_loop(
                ).run_in_executor(None, reload)
            except (ValueError, OSError) as e:  # the old model serves on
                raise HTTPException(422, f'Reload failed, the model '
                                    f'serves on: {e}') from None
            serving.update(recommender=new, info=new_info,
                           reloads=serving['reloads'] + 1)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # What is loaded by now (modules, the model, its item ids) lives as
        # long as the server: out of the garbage collector's full passes,
        # which would otherwise walk it, a pause of every request in flight.
        gc.freeze()
        if options.batching:
            batcher.start()
        if reload is not None and hasattr(signal, 'SIGHUP'):
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(
                    signal.SIGHUP,
                    lambda: loop.create_task(_quietly(do_reload())))
        yield
        await batcher.stop()

    app = FastAPI(title='pyg-srgnn', description='Session-based '
                  'recommendation: the next items of a live session.',
                  lifespan=lifespan)
    app.state.stats = {'requests': 0, 'started': time.time()}
    app.state.serving = serving  # the model serving now, and its /info

    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes)

    def check(recommender: Recommender, session: Sequence[ItemId],
              k: Optional[int] = None) -> None:
        if not session:
            raise HTTPException(422, 'The session is empty')
        if len(session) > options.max_session_length:
            raise HTTPException(422, f'The session has {len(session)} '
                                f'clicks; at most '
                                f'{options.max_session_length} are accepted')
        largest = min(options.max_k, recommender.model.num_items)
        if k is not None and not 1 <= k <= largest:
            raise HTTPException(422, f"'k' must be between 1 and {largest} "
                                f"(got {k})")

    async def rank(recommender: Recommender, sessions: List[List[ItemId]],
                   k: int, exclude_seen: bool) -> List[Dict[str, Any]]:
        encoded = [recommender.split_known(s) for s in sessions]
        jobs = [Job(recommender, known, k, exclude_seen)
                for known, _ in encoded if known]
        if options.batching:
            results = iter(await batcher.score(jobs))
        else:
            results = iter(await asyncio.get_running_loop().run_in_executor(
                None, score_jobs, jobs) if jobs else [])
        out = []
        for known, unknown in encoded:
            if known:
                items, scores = next(results)
            elif options.strict:
                raise HTTPException(422, f'No item of the session is known '
                                    f'to the model (unknown: {unknown[:5]})')
            elif recommender.popularity is None:
                raise HTTPException(422, 'No item of the session is known '
                                    'to the model, which carries no '
                                    'popularity to fall back on')
            else:
                items = popular_items(recommender.popularity, k).tolist()
                scores = [float(recommender.popularity[i]) for i in items]
            out.append({'items': [recommender.item_labels[i - 1]
                                  for i in items],
                        'scores': scores, 'unknown': unknown})
        return out

    # /recommend and /recommend/batch, the endpoints under load, are
    # DirectRoutes: they read their body with pydantic straight from the
    # JSON bytes and encode their answer with pydantic's core, rather than
    # through FastAPI's dependencies, encoder and response validation; the
    # models document both in the OpenAPI schema, and bad bodies get
    # FastAPI's own 422. They come first, as routes are matched in order.
    invalid = {422: {'description': 'A malformed or invalid body, session '
                     'or k (FastAPI\'s validation error, or a detail)'}}

    async def recommend(http: Request) -> Response:
        request = parse_body(RecommendRequest, await http.body())
        recommender = serving['recommender']  # for the whole request
        check(recommender, request.session, request.k)
        app.state.stats['requests'] += 1
        return json_response((await rank(recommender, [request.session],
                                         request.k, request.exclude_seen))[0])

    async def recommend_batch(http: Request) -> Response:
        request = parse_body(BatchRequest, await http.body())
        recommender = serving['recommender']
        if not 1 <= len(request.sessions) <= options.max_sessions:
            raise HTTPException(422, f'Send 1 to {options.max_sessions} '
                                f'sessions (got {len(request.sessions)})')
        for session in request.sessions:
            check(recommender, session, request.k)
        app.state.stats['requests'] += 1
        return json_response({'results': await rank(
            recommender, request.sessions, request.k, request.exclude_seen)})

    for path, endpoint, body, answer in (
            ('/recommend', recommend, RecommendRequest, Recommendation),
            ('/recommend/batch', recommend_batch, BatchRequest,
             Recommendations)):
        app.router.add_api_route(
            path, endpoint, methods=['POST'], response_model=answer,
            responses=invalid, openapi_extra=request_body(body),
            route_class_override=DirectRoute)

    @app.get('/', response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return PAGE.read_text(encoding='utf-8')

    @app.get('/items')
    async def items(limit: int = 20) -> Dict[str, Any]:
        r"""POP's items (the most clicked in training), as the page offers
        them to click."""
        recommender = serving['recommender']
        if recommender.popularity is None:
            return {'items': recommender.item_labels[:max(0, limit)]}
        limit = max(0, min(limit, recommender.model.num_items))
        return {'items': [recommender.item_labels[i - 1] for i in
                          popular_items(recommender.popularity,
                                        limit).tolist()]}

    @app.get('/health')
    async def health() -> Dict[str, str]:
        return {'status': 'ok'}

    @app.get('/info')
    async def get_info() -> Dict[str, Any]:
        recommender = serving['recommender']
        return {**serving['info'],
                'num_items': recommender.model.num_items,
                'model_class': type(recommender.model).__name__,
                'reloads': serving['reloads'],
                'batching': options.batching,
                'max_batch': options.max_batch,
                'requests': app.state.stats['requests']}

    @app.post('/explain')
    async def explain(request: ExplainRequest) -> Dict[str, Any]:
        recommender = serving['recommender']
        check(recommender, request.session)
        try:
            return recommender.explain(request.session)
        except ValueError as e:  # no known item; no attention weights
            raise HTTPException(422, str(e)) from None

    @app.post('/reload')
    async def reload_model() -> Dict[str, Any]:
        await do_reload()
        return {'reloads': serving['reloads'],
                'num_items': serving['recommender'].model.num_items}

    return app


async def _quietly(reload) -> None:
    # A SIGHUP's reload has no request to answer: a failure leaves the old
    # model serving.
    with contextlib.suppress(HTTPException):
        await reload
