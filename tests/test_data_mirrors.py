"""The mirror route, against a local HTTP server on 127.0.0.1."""

import gzip
import http.server
import threading
import zlib

import pytest

from test_data_support import (  # noqa: F401  (fixtures are used by name)
    NAMES, assert_same_arrays, data, fake_mnist, forbid, idx_header, isolated_environment,
    mirrors, registry)


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


def _single_member_gzip_of_zeros(header: bytes, total: int) -> bytes:
    """One gzip stream (as a mirror serves it) of ``header`` then zeros."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [z.compress(header)]
    block = b"\0" * (1 << 20)
    left = total - len(header)
    while left > 0:
        out.append(z.compress(block[:min(left, len(block))]))
        left -= len(block)
    out.append(z.flush())
    return b"".join(out)


class _CountingInflater:
    """A zlib decompressor that counts what it produces and fails the test
    past ``limit`` bytes (so a reader that would inflate a bomb stops early)."""

    def __init__(self, real, counter, limit):
        self._real, self._counter, self._limit = real, counter, limit

    def _count(self, out):
        self._counter[0] += len(out)
        if self._counter[0] > self._limit:
            raise AssertionError(f"inflated more than {self._limit} bytes")
        return out

    def decompress(self, data, max_length=0):
        return self._count(self._real.decompress(data, max_length))

    def flush(self, *args):
        return self._count(self._real.flush(*args))

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_a_mirror_serving_a_gzip_bomb_is_refused_at_the_canonical_size(
        tmp_path, fake_mnist, monkeypatch, local_mirror):
    url, files = local_mirror
    # 256 MiB of content in a quarter of a megabyte, for a 10,008-byte file.
    files["/bomb/t10k-labels-idx1-ubyte.gz"] = _single_member_gzip_of_zeros(
        idx_header(268_435_448), 256 << 20)
    monkeypatch.setattr(mirrors, "MIRRORS", (f"{url}/bomb/",))
    inflated, real = [0], zlib.decompressobj
    monkeypatch.setattr(zlib, "decompressobj",
                        lambda *a: _CountingInflater(real(*a), inflated, 4 << 20))
    with pytest.raises(data.SourceUnavailable,
                       match=r"no mirror served t10k-labels-idx1-ubyte: .*more than the 10008 bytes"):
        mirrors.fetch(tmp_path, ["t10k-labels-idx1-ubyte"], "mnist", False, timeout=5)
    assert inflated[0] <= 10_008 + mirrors.INFLATE_CHUNK
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file
