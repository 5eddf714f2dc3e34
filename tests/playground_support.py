"""Shared by the playground tests: a server in-process on a free port of 127.0.0.1, and a
small HTTP client that sends exactly the headers a test asks for."""

import contextlib
import http.client
import json
import threading

from native.playground.server import make_server


@contextlib.contextmanager
def running_server(tmp_path, checkpoint=None, load_data=None):
    server = make_server("127.0.0.1", 0, checkpoint, folder=str(tmp_path), load_data=load_data)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.training.stop(timeout=5)
        server.shutdown()
        server.server_close()
        thread.join(5)


def request(server, method, path, body=None, headers=None, raw=None, timeout=30):
    """(status, parsed JSON or raw bytes). Host and Origin default to the server's own."""
    host = f"127.0.0.1:{server.port}"
    h = {"Host": host}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if method == "POST":
        h.update({"Origin": f"http://{host}", "Content-Type": "application/json"})
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in h.items():
            conn.putheader(k, v)
        if data is not None and "Content-Length" not in h:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        payload = resp.read()
    finally:
        conn.close()
    ctype = resp.getheader("Content-Type", "")
    return resp.status, (json.loads(payload) if ctype.startswith("application/json") else payload)
