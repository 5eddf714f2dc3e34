"""The playground's HTTP server: the standard library's ThreadingHTTPServer, run as a server.

Rules (Jupyter's, for a local server): the Host header must name this server by
IP address or ``localhost`` (a DNS-rebinding page names its own domain); a POST
must come from this page's origin and carry JSON; bodies are size-limited and every
field is checked; anything bad gets a 4xx with a one-line JSON error, and no
traceback reaches the page or the terminal. One lock guards the model; training
runs in one background thread (training.py).
"""

import ipaddress
import json
import re
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from . import digit, exercise3
from .validate import (BadRequest, check_fields, get_bool, get_canvas, get_int, get_label,
                       get_number, parse_json)
from .training import Training, settings_from

# The page's files sit in the package folder itself (not a static/ subfolder, which setuptools
# would warn about as a data folder outside `packages`); only these suffixes are ever served.
STATIC = Path(__file__).resolve().parent
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
SMALL_BODY = 4 * 1024                   # settings, names, exercise 3
DRAW_BODY = 512 * 1024                  # a canvas of up to 280×280 pixels as JSON integers
DRAIN_LIMIT = 8 * 1024 * 1024          # larger bodies are not even read: the connection is closed
MAX_SEED = 2 ** 31 - 1


# --- the model the draw view uses ------------------------------------------------------------

class DrawModel:
    """The network of the draw view: float64 copies (native's functions take either; float64
    keeps the page's δ's exact), from --checkpoint, the training view, or fresh (untrained)."""

    def __init__(self, weights, biases, source, epoch=0):
        self.set(weights, biases, source, epoch)

    def set(self, weights, biases, source, epoch=0):
        self.weights = [np.array(w, dtype=np.float64) for w in weights]
        self.biases = [np.array(b, dtype=np.float64) for b in biases]
        self.source, self.epoch, self.learned = source, epoch, 0

    def describe(self):
        return {"source": self.source, "epoch": self.epoch, "learned_steps": self.learned,
                "sizes": [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]}


# --- the server -------------------------------------------------------------------------------

class Playground(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128        # socketserver's 5 resets connections when 20 tabs poll at once

    def __init__(self, address, model, folder, load_data, quiet=True):
        super().__init__(address, Handler)
        self.lock = threading.Lock()
        self.model = model
        self.folder = os.path.abspath(folder)
        self.quiet = quiet
        self.saved = []
        self.training = Training(self.lock, load_data, on_weights=self._from_training)
        self.static = {p.name: p for p in STATIC.iterdir() if p.suffix in TYPES}
        self.port = self.server_address[1]
        self.host = address[0]

    def _from_training(self, weights, biases, source):      # called under the lock
        self.model.set(weights, biases, source, self.training.epoch)

    def handle_error(self, request, client_address):
        # one line, never a traceback (a client that hung up is not worth a line)
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, TimeoutError)):
            sys.stderr.write(f"playground: request from {client_address[0]} failed: "
                             f"{type(exc).__name__}\n")

    def host_allowed(self, host_header):
        """Host must be this server's port, named by IP literal, localhost or --host itself."""
        if not host_header:
            return False
        try:
            parts = urlsplit("//" + host_header)
            name, port = parts.hostname, parts.port
        except ValueError:
            return False
        if name is None or port != self.port:
            return False
        if name in ("localhost", self.host.strip("[]").lower()):
            return True
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            return False


class Handler(BaseHTTPRequestHandler):
    server_version = "backprop-playground"
    sys_version = ""
    timeout = 10            # a client that stops sending mid-request frees its thread
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            sys.stderr.write("playground: " + (fmt % args) + "\n")

    # --- replies --------------------------------------------------------------------------

    def send_json(self, status, obj):
        data = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        # the server's own time for this request (body read to JSON encoded): benchmarks read it
        t0 = getattr(self, "_t0", None)
        if t0 is not None:
            self.send_header("Server-Timing", f"app;dur={1000 * (time.perf_counter() - t0):.3f}")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error_json(self, status, message):
        self.close_connection = True
        self.send_json(status, {"error": " ".join(str(message).split())})

    def send_error(self, code, message=None, explain=None):
        # http.server's own errors (bad request line, unsupported method) as one-line JSON too
        try:
            self.send_error_json(code, message or self.responses.get(code, ("error",))[0])
        except (ConnectionError, TimeoutError):
            pass

    # --- dispatch -------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self.send_error_json(405, "method not allowed: use GET or POST")

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT

    def _dispatch(self, method):
        self._t0 = time.perf_counter()
        try:
            if not self.server.host_allowed(self.headers.get("Host")):
                raise BadRequest(403, f"Host header {self.headers.get('Host')!r:.80} is not this "
                                      f"server's address; open http://127.0.0.1:{self.server.port}/")
            url = urlsplit(self.path)
            if method == "POST":
                self._check_origin()
                body = self._read_body(DRAW_BODY if url.path.startswith("/api/draw") else SMALL_BODY)
                route = POST_ROUTES.get(url.path)
                if route is None:
                    raise BadRequest(404, f"no such endpoint: POST {url.path[:80]}")
                status, reply = route(self, body)
            else:
                if url.path in ("/", "/index.html"):
                    return self._static("index.html")
                if url.path.startswith("/static/"):
                    return self._static(url.path[len("/static/"):])
                route = GET_ROUTES.get(url.path)
                if route is None:
                    raise BadRequest(404, f"no such page: {url.path[:80]}")
                try:
                    query = parse_qs(url.query, max_num_fields=8)
                except ValueError:
                    raise BadRequest(400, "too many query fields (at most 8)") from None
                status, reply = route(self, query)
            if isinstance(reply, str):
                self.send_error_json(status, reply)
            else:
                self.send_json(status, reply)
        except BadRequest as e:
            self.send_error_json(e.status, str(e))
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as e:       # a bug: one line to the page and the terminal, and keep serving
            sys.stderr.write(f"playground: internal error on {self.command} {self.path[:80]}: "
                             f"{type(e).__name__}: {str(e)[:200]}\n")
            self.send_error_json(500, f"internal error ({type(e).__name__}); the server keeps running")

    def _check_origin(self):
        origin = self.headers.get("Origin")
        host = self.headers.get("Host")
        if origin is not None and origin != f"http://{host}":
            raise BadRequest(403, f"cross-origin request from {origin!r:.80} refused")
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            raise BadRequest(403, f"cross-site request ({site}) refused")
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise BadRequest(415, f"Content-Type must be application/json, got {ctype or 'none'!r}")

    def _read_body(self, limit):
        if self.headers.get("Transfer-Encoding"):
            raise BadRequest(411, "send the body with a Content-Length, not chunked")
        length = self.headers.get("Content-Length")
        if length is None or not re.fullmatch(r"[0-9]{1,19}", length):   # not isdigit(): '²' is a digit
            raise BadRequest(411, "a POST needs a Content-Length header")
        n = int(length)
        if n > limit:
            # read (and drop) a moderately large body first: answering before it is read makes
            # the connection close under the client's feet and it may never see the 413
            if n <= DRAIN_LIMIT:
                while n > 0:
                    chunk = self.rfile.read(min(n, 65536))
                    if not chunk:
                        break
                    n -= len(chunk)
            raise BadRequest(413, f"body too large: {length} bytes, at most {limit} for this endpoint")
        raw = self.rfile.read(n)
        if len(raw) != n:
            raise BadRequest(400, f"body ended after {len(raw)} of {n} bytes")
        return parse_json(raw)

    def _static(self, name):
        path = self.server.static.get(name)     # only the package's own files, by exact name
        if path is None:
            raise BadRequest(404, f"no such file: {name[:80]}")
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", TYPES[path.suffix])
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; connect-src 'self'")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # --- endpoints ------------------------------------------------------------------------

    def api_exercise3(self, body):
        check_fields(body, {"seed", "chapter_bias", "steps", "lr"})
        seed = get_int(body, "seed", 0, 0, MAX_SEED)
        steps = get_int(body, "steps", 0, 0, exercise3.MAX_STEPS)
        lr = get_number(body, "lr", 0.1, 0.0, 10.0)
        chapter_bias = get_bool(body, "chapter_bias", False)
        return 200, exercise3.view(seed, chapter_bias, steps, lr)

    def _digit(self, body, learn):
        check_fields(body, {"width", "height", "pixels", "label", "lr"})
        ink = get_canvas(body)
        label = get_label(body, required=learn)
        image = digit.mnist_style(ink)
        m = self.server.model
        if not learn:
            with self.server.lock:          # "learn" changes the arrays in place
                out = digit.forward_backward(image, m.weights, m.biases, label)
                out["model"] = m.describe()
            return 200, out
        lr = get_number(body, "lr", 0.1, 0.0, 10.0)
        with self.server.lock:
            if self.server.training.status in ("running", "loading"):
                return 409, "training is running and replaces this network after every piece: pause it first"
            before = digit.forward_backward(image, m.weights, m.biases, label)
            X = image.reshape(1, -1).astype(np.float64) / 255.0
            Y = np.zeros((1, 10))
            Y[0, label] = 1.0
            import native
            acts, pres = native.forward(X, m.weights, m.biases)
            grad_w, grad_b = native.backward(acts, pres, m.weights, Y)
            native.sgd_update(m.weights, m.biases, grad_w, grad_b, lr)     # one step, §5.6
            m.learned += 1
            after = digit.forward_backward(image, m.weights, m.biases, label)
            after["model"] = m.describe()
        after["probs_before"], after["loss_before"] = before["probs"], before["loss"]
        return 200, after

    def api_draw(self, body):
        return self._digit(body, learn=False)

    def api_learn(self, body):
        return self._digit(body, learn=True)

    def api_model(self, query):
        with self.server.lock:
            return 200, self.server.model.describe()

    def api_train_state(self, query):
        def q(key, default):
            v = query.get(key, [str(default)])[0]
            if not re.fullmatch(r"-?[0-9]{1,12}", v):                  # ASCII digits only ('²' is not one)
                raise BadRequest(400, f"{key} must be an integer, got {v[:20]!r}")
            return int(v)
        since = q("since", 0)
        if since < 0:
            raise BadRequest(400, f"since must be ≥ 0, got {since}")
        return 200, self.server.training.state(since, q("weights_after", -1))

    def api_train_start(self, body):
        check_fields(body, {"hidden", "epochs", "batch_size", "lr", "decay", "seed", "limit"})
        s, problem = settings_from(body)
        if problem:
            raise BadRequest(400, problem)
        problem = self.server.training.start(s)
        return (409, problem) if problem else (200, {"started": s})

    def _control(self, body, action):
        check_fields(body, set())
        problem = getattr(self.server.training, action)()
        return (409, problem) if problem else (200, {"status": self.server.training.status})

    def api_train_pause(self, body):
        return self._control(body, "pause")

    def api_train_resume(self, body):
        return self._control(body, "resume")

    def api_train_reset(self, body):
        return self._control(body, "reset")

    def api_train_save(self, body):
        check_fields(body, {"name", "overwrite"})
        overwrite = get_bool(body, "overwrite", False)
        status, reply = self.server.training.save(self.server.folder, body.get("name"), overwrite)
        if status == 200:
            with self.server.lock:
                self.server.saved.append((reply["saved"], reply["epoch"]))
            reply.pop("path")
        return status, reply


POST_ROUTES = {"/api/exercise3": Handler.api_exercise3, "/api/draw": Handler.api_draw,
               "/api/draw/learn": Handler.api_learn, "/api/train/start": Handler.api_train_start,
               "/api/train/pause": Handler.api_train_pause, "/api/train/resume": Handler.api_train_resume,
               "/api/train/reset": Handler.api_train_reset, "/api/train/save": Handler.api_train_save}
GET_ROUTES = {"/api/model": Handler.api_model, "/api/train/state": Handler.api_train_state}


def make_server(host="127.0.0.1", port=0, checkpoint=None, folder=".", load_data=None, quiet=True):
    """A ready Playground (not yet serving). `checkpoint`: a native.checkpoint.Checkpoint or None."""
    if checkpoint is not None:
        model = DrawModel(checkpoint.weights, checkpoint.biases, "checkpoint", checkpoint.epoch)
    else:
        from native.network import init_network
        from native.trainer import CHAPTER
        model = DrawModel(*init_network(CHAPTER["sizes"], seed=CHAPTER["seed"]), "untrained")
    if load_data is None:
        load_data = cached_mnist()
    return Playground((host, port), model, folder, load_data, quiet)


def cached_mnist():
    """MNIST loaded once, on first use (by native.data's usual route)."""
    box, lock = [], threading.Lock()

    def load():
        with lock:
            if not box:
                from native import data
                box.append(data.load("mnist", progress=False))
            return box[0]
    return load
