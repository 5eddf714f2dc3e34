"""The mirror route, against a local HTTP server on 127.0.0.1."""

import gzip
import http.server
import threading

import pytest

from test_data_support import (  # noqa: F401  (fixtures are used by name)
    NAMES, assert_same_arrays, data, fake_mnist, forbid, isolated_environment, mirrors,
    registry)


class _Handler(http.server.BaseHTTPRequestHandler):
    files = {}

    def do_GET(self):
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.files
    finally:
        server.shutdown()
        server.server_close()
        _Handler.files = {}


def test_mirror_downloads_are_decompressed_verified_and_cached(tmp_path, fake_mnist, monkeypatch, local_mirror):
    url, files = local_mirror
    for name, raw in fake_mnist.items():
        files[f"/good/{name}.gz"] = gzip.compress(raw)
        files[f"/bad/{name}.gz"] = gzip.compress(raw[:-1] + b"\x07")
    # The first mirror serves damaged files, the second good ones.
    monkeypatch.setattr(mirrors, "MIRRORS", (f"{url}/bad/", f"{url}/good/"))
    monkeypatch.setattr(registry, "fetch", forbid("registry"))
    ds = data.load("mnist", cache_dir=tmp_path / "cache")
    assert_same_arrays(ds, fake_mnist)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(NAMES)


def test_an_unreachable_mirror_is_given_up_and_not_asked_again(tmp_path, fake_mnist, monkeypatch):
    import socket
    with socket.socket() as s:  # a port on 127.0.0.1 that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(mirrors, "MIRRORS", (f"http://127.0.0.1:{port}/",))
    calls = []
    real = mirrors.download_gz_chunks
    monkeypatch.setattr(mirrors, "download_gz_chunks",
                        lambda *a: calls.append(a[0]) or real(*a))
    with pytest.raises(data.SourceUnavailable, match="no mirror served train-images"):
        mirrors.fetch(tmp_path, NAMES, "mnist", False, timeout=2)
    assert len(calls) == 1, "a mirror that refused once is not asked for the other files"
