"""The explorer's server without a browser: PNGs for good requests, 4xx JSON for bad ones."""

import http.client
import io
import json
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from infogan.explore import Explorer, RequestError, make_server
from infogan.explore import server as srv
from infogan.latent import LatentSpec
from infogan.nets import build

SPEC = "cat10,unif2,gauss1,noise8"


@pytest.fixture(scope="module")
def explorer():
    torch.manual_seed(0)
    spec = LatentSpec.parse(SPEC)
    G, _ = build("mnist", spec, (1, 28, 28))  # untrained: the server only needs some G
    return Explorer(G, spec, run="untrained", step=0, checkpoint="none")


@pytest.fixture(scope="module")
def server(explorer):
    s = make_server(explorer)  # defaults: 127.0.0.1, a free port
    t = threading.Thread(target=s.serve_forever, daemon=True)
    t.start()
    yield s
    s.shutdown()
    s.server_close()


def request(server, method, path, body=None, headers=None, raw=None):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    out = r.status, r.getheader("Content-Type"), r.read(), dict(r.getheaders())
    conn.close()
    return out


def png_size(data):
    with Image.open(io.BytesIO(data)) as im:
        return im.size


# ---- Explorer (no HTTP) --------------------------------------------------------------------------

def test_info_lists_controls_and_training_ranges(explorer):
    info = explorer.info()
    kinds = {c["name"]: c for c in info["codes"]}
    assert kinds["c1"]["k"] == 10 and kinds["c1"]["kind"] == "categorical"
    assert kinds["c2"]["slider"] == [-2.0, 2.0] and kinds["c2"]["train_range"] == [-1.0, 1.0]
    assert kinds["c4"]["kind"] == "gaussian" and kinds["c4"]["train_range"] is None
    assert info["spec"] == SPEC and info["image_shape"] == [1, 28, 28]


def test_slider_sweeps_the_codes_traversal_range():
    # the same range as the traversal grids: half the prior's width past each end (-2..2 for U(-1, 1))
    spec = LatentSpec.parse("unif1(-3:3),unif1,gauss1,noise4")
    G, _ = build("mnist", spec, (1, 28, 28))
    wide, unit, gauss = Explorer(G, spec).info()["codes"]
    assert wide["slider"] == [-6.0, 6.0] and wide["train_range"] == wide["band"] == [-3.0, 3.0]
    assert unit["slider"] == [-2.0, 2.0] and unit["default"] == 0.0
    assert gauss["train_range"] is None and gauss["band"] == [-1.0, 1.0] and gauss["slider"] == [-2.0, 2.0]


def test_same_request_same_png_and_codes_matter(explorer):
    a = explorer.image_png({"seed": 3, "codes": {"c1": 2, "c2": -2.0}})
    assert a[:8] == b"\x89PNG\r\n\x1a\n"
    assert explorer.image_png({"seed": 3, "codes": {"c1": 2, "c2": -2.0}}) == a
    assert explorer.image_png({"seed": 3, "codes": {"c1": 2, "c2": 2.0}}) != a
    assert explorer.image_png({"seed": 4, "codes": {"c1": 2, "c2": -2.0}}) != a
    assert png_size(a) == (28 * 9, 28 * 9)  # default: about 256 px


def test_grid_layout_matches_code(explorer):
    cont = explorer.grid_png({"seed": 1, "code": "c2", "rows": 3, "steps": 5, "scale": 1})
    assert png_size(cont) == (5 * 30 + 2, 3 * 30 + 2)  # 2 px padding around 28 px cells
    cat = explorer.grid_png({"seed": 1, "code": "c1", "rows": 2, "scale": 1})
    assert png_size(cat) == (10 * 30 + 2, 2 * 30 + 2)


def test_grid_row_is_the_image_of_its_seed(explorer):
    """Row r of a grid is what /api/image shows for seed + r (the noise depends on the seed alone)."""
    g = Image.open(io.BytesIO(explorer.grid_png({"seed": 7, "code": "c1", "rows": 2, "codes": {"c2": 0.5}, "scale": 1})))
    one = Image.open(io.BytesIO(explorer.image_png({"seed": 8, "codes": {"c1": 3, "c2": 0.5}, "scale": 1})))
    x, y = 2 + 3 * 30, 2 + 1 * 30  # row 1 (seed 8), column 3 (c1 = 3)
    assert (np.asarray(g.crop((x, y, x + 28, y + 28))) == np.asarray(one)).all()


@pytest.mark.parametrize("req,needle", [
    ({"codes": {"c2": float("nan")}}, "finite"),
    ({"codes": {"c2": float("inf")}}, "finite"),
    ({"codes": {"c2": 1e6}}, "must lie in"),
    ({"codes": {"c2": "1"}}, "finite number"),
    ({"codes": {"c1": 10}}, "0..9"),
    ({"codes": {"c1": 1.5}}, "0..9"),
    ({"codes": {"c1": True}}, "0..9"),
    ({"codes": {"nope": 1}}, "unknown code 'nope'"),
    ({"codes": [1, 2]}, "codes must be an object"),
    ({"seed": -1}, "seed"),
    ({"seed": 2**40}, "seed"),
    ({"scale": 0}, "scale"),
    ({"scale": 100}, "scale"),
    ({"extra": 1}, "unknown field"),
])
def test_bad_image_requests(explorer, req, needle):
    with pytest.raises(RequestError) as e:
        explorer.image_png(req)
    assert e.value.status == 400 and needle in e.value.message


@pytest.mark.parametrize("req,needle", [
    ({"code": "c9"}, "unknown code 'c9'"),
    ({}, "unknown code None"),
    ({"code": "c2", "rows": 16, "steps": 32}, "at most 256"),
    ({"code": "c2", "rows": 17}, "rows"),
    ({"code": "c2", "steps": 1}, "steps"),
    ({"code": "c2", "lo": 1, "hi": -1}, "lo < hi"),
    ({"code": "c2", "hi": float("inf")}, "finite"),
    ({"code": "c1", "steps": 4}, "categorical"),
    ({"code": "c2", "rows": 16, "steps": 16, "scale": 16}, "wider than"),
])
def test_bad_grid_requests(explorer, req, needle):
    with pytest.raises(RequestError) as e:
        explorer.grid_png(req)
    assert e.value.status == 400 and needle in e.value.message


# ---- HTTP ----------------------------------------------------------------------------------------

def test_binds_loopback_by_default(server):
    assert server.server_address[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")


def test_page_and_info(server):
    status, ctype, body, headers = request(server, "GET", "/")
    assert status == 200 and ctype.startswith("text/html") and b"app.js" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    for path in ("/app.js", "/style.css"):
        assert request(server, "GET", path)[0] == 200
    status, ctype, body, _ = request(server, "GET", "/api/info")
    assert status == 200 and ctype == "application/json" and json.loads(body)["spec"] == SPEC


def test_png_endpoints(server):
    status, ctype, body, _ = request(server, "POST", "/api/image", {"seed": 1, "codes": {"c1": 4, "c2": 1.5}})
    assert status == 200 and ctype == "image/png" and body[:4] == b"\x89PNG"
    status, ctype, body, _ = request(server, "POST", "/api/grid", {"seed": 1, "code": "c3", "rows": 2})
    assert status == 200 and ctype == "image/png" and png_size(body)[0] > png_size(body)[1]


@pytest.mark.parametrize("method,path,kw,code,needle", [
    ("POST", "/api/image", {"raw": '{"codes": {"c2": NaN}}'}, 400, "NaN"),
    ("POST", "/api/image", {"raw": '{"codes": {"c2": -Infinity}}'}, 400, "Infinity"),
    ("POST", "/api/image", {"raw": '{"codes": {"c2": 1e999}}'}, 400, "finite"),
    ("POST", "/api/image", {"raw": "{not json"}, 400, "not valid JSON"),
    ("POST", "/api/image", {"raw": "[1, 2]"}, 400, "JSON object"),
    ("POST", "/api/image", {"body": {"codes": {"c7": 0}}}, 400, "unknown code"),
    ("POST", "/api/grid", {"body": {"code": "c2", "rows": 16, "steps": 32}}, 400, "at most 256"),
    ("POST", "/api/image", {"raw": "{}", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
    ("POST", "/api/image", {"raw": " " * (srv.MAX_BODY + 1)}, 413, "at most"),
    ("GET", "/api/image", {}, 405, "POST"),
    ("POST", "/api/info", {"body": {}}, 405, "GET"),
    ("POST", "/api/effects", {"body": {}}, 405, "GET"),
    ("DELETE", "/api/info", {}, 405, "GET"),
    ("GET", "/../../etc/passwd", {}, 404, "no such page"),
    ("GET", "/api/info", {"headers": {"Host": "attacker.example:80"}}, 403, "refused"),
])
def test_bad_http_requests_get_4xx_json(server, method, path, kw, code, needle):
    status, ctype, body, _ = request(server, method, path, **kw)
    assert status == code and ctype == "application/json"
    assert needle in json.loads(body)["error"]


def test_effects_json_and_png(explorer):
    """/api/effects and /api/effects.png: what each code does, computed once (infogan.explain)."""
    from infogan.explain import code_effects

    fx = Explorer(explorer.G, explorer.spec, run="untrained", effects_noise=4)
    s = make_server(fx)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        status, ctype, body, _ = request(s, "GET", "/api/effects")
        assert status == 200 and ctype == "application/json"
        d = json.loads(body)
        assert d["run"] == "untrained" and d["n_noise"] == 4 and sorted(c["rank"] for c in d["codes"]) == [1, 2, 3, 4]
        assert d["codes"] == code_effects(explorer.G, explorer.spec, n_noise=4).to_dict()["codes"]
        status, ctype, png, _ = request(s, "GET", "/api/effects.png")
        assert status == 200 and ctype == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n" and png_size(png)[0] > 100
        assert fx.effects()[1] is fx.effects()[1]  # computed once
        status, _, body, headers = request(s, "HEAD", "/api/effects.png")
        assert status == 200 and body == b"" and int(headers["Content-Length"]) == len(png)
    finally:
        s.shutdown()
        s.server_close()


def raw_exchange(server, data: bytes) -> bytes:
    with socket.create_connection(server.server_address[:2], timeout=30) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)


def test_missing_length_and_garbage_do_not_stop_the_server(server):
    head = b"POST /api/image HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    assert raw_exchange(server, head).startswith(b"HTTP/1.1 411")
    bad_len = head.replace(b"Connection", b"Content-Length: -5\r\nConnection")
    assert raw_exchange(server, bad_len).startswith(b"HTTP/1.1 400")
    answer = raw_exchange(server, b"\x00\xff garbage\r\n\r\n")
    assert b" 400 " in answer.split(b"\r\n")[0] and b'"error"' in answer
    assert request(server, "POST", "/api/image", {"seed": 2})[0] == 200  # still serving


def test_internal_error_is_500_json_and_server_lives(server, monkeypatch, capsys):
    def boom(req):
        raise RuntimeError("bug")

    monkeypatch.setattr(server.explorer, "image_png", boom)
    status, _, body, _ = request(server, "POST", "/api/image", {})
    assert status == 500 and json.loads(body)["error"] == "internal error: RuntimeError"
    monkeypatch.undo()
    assert request(server, "POST", "/api/image", {})[0] == 200


# ---- load ----------------------------------------------------------------------------------------

def hammer(server, n, image_every=4):
    """``n`` requests at once, each on its own connection (every ``image_every``-th an image, the
    others /api/info): (status, headers, body) or the exception."""
    host, port = server.server_address[:2]
    start = threading.Barrier(n)
    out = [None] * n

    def one(i):
        start.wait()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=120)
            if i % image_every:
                conn.request("GET", "/api/info")
            else:
                conn.request("POST", "/api/image", body=json.dumps({"seed": i, "scale": 1}),
                             headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            out[i] = (r.status, dict(r.getheaders()), r.read())
            conn.close()
        except Exception as e:  # noqa: BLE001 (a reset or a timeout is what the test looks for)
            out[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def assert_answered(results):
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, f"{len(errors)} of {len(results)} connections failed, e.g. {errors[0]!r}"
    for status, headers, body in results:
        assert status in (200, 503), (status, body)
        if status == 503:
            assert int(headers["Retry-After"]) >= 1 and "busy" in json.loads(body)["error"]


def test_200_concurrent_requests_all_get_an_answer(server):
    results = hammer(server, 200)  # mostly cheap requests: the connections are under test, not G's speed
    assert_answered(results)
    assert sum(r[0] == 200 for r in results) >= 100  # a fast generator serves (nearly) all of them
    assert request(server, "POST", "/api/image", {"seed": 2})[0] == 200


def test_one_connection_thread_queues_the_rest_in_the_backlog(explorer):
    s = make_server(explorer, max_connections=1)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        results = hammer(s, 40)
        assert_answered(results)
        assert all(r[0] == 200 for r in results)  # waited for the one thread, none refused
    finally:
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize("max_queue,max_wait", [(1, 30.0), (8, 0.5)])
def test_slow_generator_answers_503_with_retry_after(explorer, monkeypatch, max_queue, max_wait):
    """A full queue (max_queue) or a long wait (max_wait) is refused with 503, never a reset."""
    real = srv.generate

    def slow(*a, **kw):
        import time

        time.sleep(1.0)
        return real(*a, **kw)

    monkeypatch.setattr(srv, "generate", slow)
    slow_explorer = Explorer(explorer.G, explorer.spec, max_queue=max_queue, max_wait=max_wait)
    s = make_server(slow_explorer)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    try:
        results = hammer(s, 8, image_every=1)
        assert_answered(results)
        statuses = [r[0] for r in results]
        assert statuses.count(200) >= 1 and statuses.count(503) >= 4
        monkeypatch.setattr(srv, "generate", real)
        assert request(s, "POST", "/api/image", {"seed": 5})[0] == 200  # refusals leave it serving
    finally:
        s.shutdown()
        s.server_close()


def test_bad_load_limits_are_refused(explorer):
    with pytest.raises(ValueError, match="max_queue"):
        Explorer(explorer.G, explorer.spec, max_queue=0)
    with pytest.raises(ValueError, match="max_connections"):
        make_server(explorer, max_connections=0)


def test_cli_explore_serves_the_latest_checkpoint(tiny_run):
    """`infogan explore RUN --port 0` loads the run's newest checkpoint and listens on 127.0.0.1."""
    p = subprocess.Popen([sys.executable, "-m", "infogan.cli", "explore", str(tiny_run), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = p.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), p.stderr.read() if p.poll() is not None else url
        host, port = url[len("http://"):].rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn.request("GET", "/api/info")
        info = json.loads(conn.getresponse().read())
        assert info["step"] == 4 and info["checkpoint"] == "step_000000004.safetensors"
    finally:
        p.terminate()
        p.wait(timeout=30)


def test_cli_explore_bad_port(tmp_path):
    r = subprocess.run([sys.executable, "-m", "infogan.cli", "explore", str(tmp_path), "--port", "70000"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "--port" in r.stderr and "must be in 0..65535, got 70000" in r.stderr
