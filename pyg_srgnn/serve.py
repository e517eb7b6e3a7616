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
import signal
import time
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

from pyg_srgnn.popularity import popular_items
from pyg_srgnn.recommend import Recommender

try:
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, Field
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
        max_wait_ms (float): How long the first request of a batch waits
            for others; :obj:`0` with :obj:`batching=False` scores each
            request on its own.
        batching (bool): Gather concurrent requests (micro-batching).
        max_session_length (int): Most clicks in a session.
        max_k (int): Largest :obj:`k`.
        max_sessions (int): Most sessions in :obj:`/recommend/batch`.
        max_body_bytes (int): Largest request body.
        strict (bool): A session with no known item is a 422 instead of
            POP's items.
    """
    max_batch: int = 64
    max_wait_ms: float = 2.0
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


class ExplainRequest(BaseModel):
    session: List[ItemId]


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


@torch.no_grad()
def score_jobs(jobs: Sequence[Job]) -> List[Tuple[List[int], List[float]]]:
    r"""The top :obj:`k` items and scores of every job, one forward pass
    per model among them (one, unless a reload came in between). A
    session's scores do not depend on its batch."""
    out: List[Any] = [None] * len(jobs)
    groups: Dict[int, List[int]] = {}
    for i, job in enumerate(jobs):
        groups.setdefault(id(job.recommender), []).append(i)
    for positions in groups.values():
        recommender = jobs[positions[0]].recommender
        scores = recommender.model.score_sessions(
            [jobs[i].items for i in positions], recommender.edge_weight)
        for row, i in zip(scores, positions):
            job = jobs[i]
            if job.exclude_seen:
                row = row.clone()
                row[torch.tensor(sorted(set(job.items))) - 1] = float('-inf')
            k = min(job.k, int(torch.isfinite(row).sum()))
            values, index = row.topk(k)
            out[i] = ((index + 1).tolist(), values.tolist())
    return out


class MicroBatcher:
    r"""Gathers concurrent requests into batches of up to
    :obj:`max_batch` sessions, waiting at most :obj:`max_wait_ms` after the
    first, and scores each batch in a worker thread, outside the event
    loop."""

    def __init__(self, max_batch: int, max_wait_ms: float):
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.queue: Optional[asyncio.Queue] = None
        self.task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def score(self, jobs: List[Job]):
        futures = []
        loop = asyncio.get_running_loop()
        for job in jobs:
            future = loop.create_future()
            await self.queue.put((job, future))
            futures.append(future)
        return await asyncio.gather(*futures)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pending = [await self.queue.get()]
            deadline = loop.time() + self.max_wait
            while len(pending) < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    pending.append(await asyncio.wait_for(self.queue.get(),
                                                          timeout))
                except asyncio.TimeoutError:
                    break
            jobs = [job for job, _ in pending]
            try:
                results = await loop.run_in_executor(None, score_jobs, jobs)
            except Exception as e:  # handed to the requests, never lost
                for _, future in pending:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, future), result in zip(pending, results):
                if not future.done():
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

    @app.post('/recommend')
    async def recommend(request: RecommendRequest) -> Dict[str, Any]:
        recommender = serving['recommender']  # for the whole request
        check(recommender, request.session, request.k)
        app.state.stats['requests'] += 1
        return (await rank(recommender, [request.session], request.k,
                           request.exclude_seen))[0]

    @app.post('/recommend/batch')
    async def recommend_batch(request: BatchRequest) -> Dict[str, Any]:
        recommender = serving['recommender']
        if not 1 <= len(request.sessions) <= options.max_sessions:
            raise HTTPException(422, f'Send 1 to {options.max_sessions} '
                                f'sessions (got {len(request.sessions)})')
        for session in request.sessions:
            check(recommender, session, request.k)
        app.state.stats['requests'] += 1
        return {'results': await rank(recommender, request.sessions,
                                      request.k, request.exclude_seen)}

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
