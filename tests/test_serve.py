from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip('fastapi')
pytest.importorskip('httpx')

from fastapi.testclient import TestClient  # noqa: E402

from pyg_srgnn.config import FitConfig  # noqa: E402
from pyg_srgnn.recommend import Recommender  # noqa: E402
from pyg_srgnn.serve import ServeOptions, create_app  # noqa: E402
from pyg_srgnn.train import fit  # noqa: E402


@pytest.fixture(scope='module')
def recommender(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('serve')
    fit(FitConfig.from_options(root=str(tmp / 'data'),
                               run_dir=str(tmp / 'run'), hidden_channels=16,
                               epochs=2, progress=False),
        log=lambda message: None)
    return Recommender.from_checkpoint(str(tmp / 'run' / 'checkpoint.pt'))


def sessions_of(recommender, count):
    labels = recommender.item_labels
    return [[labels[(7 * i + j) % len(labels)] for j in range(1 + i % 4)]
            for i in range(count)]


@pytest.mark.parametrize('batching', [True, False])
def test_serve_answers_as_recommender(recommender, batching):
    app = create_app(recommender, ServeOptions(batching=batching,
                                               max_wait_ms=20))
    sessions = sessions_of(recommender, 24)
    expected = recommender.recommend(sessions, k=5)
    with TestClient(app) as client:
        assert client.get('/health').json() == {'status': 'ok'}
        # Concurrent requests, gathered into shared forward passes.
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda s: client.post('/recommend', json={
                    'session': s, 'k': 5}).json(), sessions))
        assert [a['items'] for a in answers] == expected
        assert all(a['unknown'] == [] for a in answers)
        assert all(a['scores'] == sorted(a['scores'], reverse=True)
                   for a in answers)
        batch = client.post('/recommend/batch', json={
            'sessions': sessions, 'k': 5}).json()
        assert [r['items'] for r in batch['results']] == expected
        assert client.get('/info').json()['num_items'] == 309


def test_a_batch_scores_each_job_as_alone(recommender):
    # Mixed k and exclude_seen in one pass and one top-k: each job's list
    # is the one it gets alone, the lists as long as there are items.
    import torch

    from pyg_srgnn.serve import Job, score_jobs
    num_items = recommender.model.num_items
    sessions = [recommender.split_known(s)[0]
                for s in sessions_of(recommender, 6)]
    jobs = [Job(recommender, s, k, exclude)
            for s, k, exclude in zip(sessions, [3, 20, 1, 5, num_items, 7],
                                     [False, True, True, False, True, True])]
    together = score_jobs(jobs)
    for job, (items, scores) in zip(jobs, together):
        alone_items, alone_scores = score_jobs([job])[0]
        assert items == alone_items  # the scores up to rounding
        assert scores == pytest.approx(alone_scores, rel=1e-5, abs=1e-6)
        left = num_items - len(set(job.items)) if job.exclude_seen else (
            num_items)
        assert len(items) == min(job.k, left)
        assert not job.exclude_seen or not set(items) & set(job.items)
        row = recommender.model.score_sessions([job.items])[0]
        assert torch.allclose(torch.tensor(scores), row[torch.tensor(items)
                                                        - 1])


def test_openapi_documents_the_bodies(recommender):
    # /recommend reads its body itself: the schema still says what it takes
    # and answers.
    with TestClient(create_app(recommender)) as client:
        paths = client.get('/openapi.json').json()['paths']
    for path, fields in (('/recommend', {'session', 'k', 'exclude_seen'}),
                         ('/recommend/batch', {'sessions', 'k',
                                               'exclude_seen'})):
        post = paths[path]['post']
        schema = post['requestBody']['content']['application/json']['schema']
        assert set(schema['properties']) == fields
        assert schema['required'] == [next(iter(sorted(fields - {
            'k', 'exclude_seen'})))]
        assert {'200', '422'} <= set(post['responses'])


def test_serve_options_and_fallbacks(recommender):
    session = sessions_of(recommender, 3)[2]
    with TestClient(create_app(recommender)) as client:
        answer = client.post('/recommend', json={
            'session': session + ['no-such-item'], 'k': 10,
            'exclude_seen': True}).json()
        assert answer['unknown'] == ['no-such-item']
        assert not set(answer['items']) & set(session)
        assert len(answer['items']) == 10
        # Only unknown items: POP's items.
        answer = client.post('/recommend', json={'session': ['nope'],
                                                 'k': 3}).json()
        assert answer['items'] == recommender.recommend(
            [['nope']], k=3, fallback='popular')[0]
        explained = client.post('/explain', json={'session': session}).json()
        assert [c['item'] for c in explained['clicks']] == session
    with TestClient(create_app(recommender,
                               ServeOptions(strict=True))) as client:
        response = client.post('/recommend', json={'session': ['nope']})
        assert response.status_code == 422
        assert 'No item of the session is known' in response.text


@pytest.mark.parametrize('body,status,message', [
    ('{"session": ["1"', 422, 'JSON'),
    ('{"session": "abc"}', 422, 'list'),
    ('{"session": []}', 422, 'The session is empty'),
    ('{"session": ["1"], "k": 0}', 422, "'k' must be between 1 and 100"),
    ('{"session": ["1"], "k": "many"}', 422, 'integer'),
    ('{"session": [' + ', '.join(['"1"'] * 201) + ']}', 422,
     'at most 200 are accepted'),
    ('{"sess": ["1"]}', 422, 'session'),
])
def test_bad_requests_get_a_4xx_with_a_message(recommender, body, status,
                                               message):
    with TestClient(create_app(recommender),
                    raise_server_exceptions=False) as client:
        response = client.post('/recommend', content=body,
                               headers={'content-type': 'application/json'})
        assert response.status_code == status, response.text
        assert message in response.text
        big = client.post('/recommend', content='x' * (2 << 20),
                          headers={'content-type': 'application/json'})
        assert big.status_code == 413
        # Sent in chunks, without a length: refused as well.
        chunks = (b'x' * (1 << 16) for _ in range(40))
        big = client.post('/recommend', content=chunks,
                          headers={'content-type': 'application/json'})
        assert big.status_code == 413 and 'exceeds' in big.text
        response = client.post('/recommend/batch', json={'sessions': []})
        assert response.status_code == 422
        response = client.get('/items?limit=many')
        assert response.status_code == 422 and 'limit' in response.text


def test_reload_swaps_the_model_without_failing_requests(recommender):
    import copy

    import torch

    other = copy.deepcopy(recommender)
    with torch.no_grad():
        for param in other.model.parameters():
            param.add_(torch.randn_like(param))
    sessions = sessions_of(recommender, 16)
    before = recommender.recommend(sessions, k=5)
    after = other.recommend(sessions, k=5)
    assert before != after
    loads = []

    def reload():
        loads.append(True)
        if len(loads) == 2:
            raise ValueError('damaged checkpoint')
        return other, {'model': 'other'}

    app = create_app(recommender, ServeOptions(max_wait_ms=5), reload=reload)
    with TestClient(app) as client:
        def ask(i):
            if i == 8:
                return client.post('/reload')
            return client.post('/recommend', json={
                'session': sessions[i % 16], 'k': 5})

        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(ask, range(40)))
        # Nothing failed; each answer is one model's.
        assert all(r.status_code == 200 for r in responses)
        for i, response in enumerate(responses):
            if i != 8:
                assert response.json()['items'] in (before[i % 16],
                                                    after[i % 16])
        answers = [client.post('/recommend', json={'session': s, 'k': 5}
                               ).json()['items'] for s in sessions]
        assert answers == after
        info = client.get('/info').json()
        assert info['reloads'] == 1 and info['model'] == 'other'
        # A failed reload leaves the model serving.
        response = client.post('/reload')
        assert response.status_code == 422
        assert 'damaged checkpoint' in response.text
        assert client.get('/info').json()['reloads'] == 1
    with TestClient(create_app(recommender)) as client:
        assert client.post('/reload').status_code == 409


@pytest.mark.parametrize('workers', [1, 2])
def test_serve_command_on_localhost(recommender, tmp_path, workers):
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import httpx

    fit(FitConfig.from_options(root=str(tmp_path / 'data'),
                               run_dir=str(tmp_path / 'run'),
                               hidden_channels=8, epochs=1, progress=False),
        log=lambda message: None)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, '-m', 'pyg_srgnn', 'serve', '--checkpoint',
         str(tmp_path / 'run' / 'checkpoint.pt'), '--port', str(port),
         '--threads', '1', '--workers', str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        url = f'http://127.0.0.1:{port}'
        for _ in range(200):  # the server starts within seconds
            try:
                if httpx.get(f'{url}/health').status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        info = httpx.get(f'{url}/info').json()
        assert info['model'] == 'srgnn' and info['num_items'] == 309
        local = Recommender.from_checkpoint(str(tmp_path / 'run' /
                                                'checkpoint.pt'))
        session = local.item_labels[:3]
        answer = httpx.post(f'{url}/recommend',
                            json={'session': session, 'k': 7}).json()
        assert answer['items'] == local.recommend([session], k=7)[0]
        assert httpx.get(f'{url}/docs').status_code == 200  # OpenAPI
        # A new fit over the checkpoint, then SIGHUP: the new model serves.
        fit(FitConfig.from_options(root=str(tmp_path / 'data'),
                                   run_dir=str(tmp_path / 'run2'),
                                   hidden_channels=8, epochs=1, seed=5,
                                   progress=False),
            log=lambda message: None)
        (tmp_path / 'run2' / 'checkpoint.pt').replace(
            tmp_path / 'run' / 'checkpoint.pt')
        new = Recommender.from_checkpoint(str(tmp_path / 'run' /
                                              'checkpoint.pt'))
        expected = new.recommend([session], k=7)[0]
        assert expected != local.recommend([session], k=7)[0]
        server.send_signal(signal.SIGHUP)
        # One worker reloads in place: no request fails meanwhile. Several
        # are replaced one by one, each new one serving before the old
        # stops; a connection an old worker has accepted but not yet read
        # when it stops is closed unanswered (uvicorn's graceful shutdown),
        # which a client retries. No request gets an error status, and then
        # every answer is the new model's.
        answers, dropped = [], 0
        for _ in range(600):
            try:
                answer = httpx.post(f'{url}/recommend', json={
                    'session': session, 'k': 7})
            except httpx.RemoteProtocolError:
                dropped += 1
                continue
            assert answer.status_code == 200
            answers.append(answer.json()['items'])
            if answers[-20:] == [expected] * 20:
                break
            time.sleep(0.05)
        assert answers[-20:] == [expected] * 20
        assert dropped <= (0 if workers == 1 else workers)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # On a loaded machine the workers may still be starting: the
            # test is about reloading, so end the whole process group.
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
