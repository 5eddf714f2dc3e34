"""Checks of every request's JSON: one function per kind of field, each raising BadRequest
with a one-line message that names the field, what was expected and what came."""

import json
import math

import numpy as np

MIN_SIDE, MAX_SIDE = 28, 280            # canvas raster the page may send


class BadRequest(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _reject_constant(name):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(raw):
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest(400, f"body must be JSON: {str(e).splitlines()[0][:120]}") from None
    except RecursionError:
        raise BadRequest(400, "body must be JSON nested at most a few hundred levels deep") from None
    if not isinstance(body, dict):
        raise BadRequest(400, f"body must be a JSON object, got {type(body).__name__}")
    return body


def check_fields(body, allowed):
    extra = sorted(set(body) - set(allowed))
    if extra:
        raise BadRequest(400, f"unknown field(s) {', '.join(map(repr, extra[:5]))}; "
                              f"expected some of {', '.join(sorted(allowed))}")


def get_int(body, key, default, lo, hi):
    v = body.get(key, default)
    if type(v) is not int or not lo <= v <= hi:
        raise BadRequest(400, f"{key} must be an integer in [{lo}, {hi}], got {v!r:.40}")
    return v


def get_number(body, key, default, lo, hi):
    v = body.get(key, default)
    if type(v) not in (int, float) or not math.isfinite(v) or not lo < v <= hi:
        raise BadRequest(400, f"{key} must be a number in ({lo}, {hi}], got {v!r:.40}")
    return float(v)


def get_bool(body, key, default):
    v = body.get(key, default)
    if type(v) is not bool:
        raise BadRequest(400, f"{key} must be true or false, got {v!r:.40}")
    return v


def get_label(body, required):
    v = body.get("label")
    if v is None and not required:
        return None
    if type(v) is not int or not 0 <= v <= 9:
        raise BadRequest(400, f"label must be an integer digit 0-9, got {v!r:.40}")
    return v


def get_canvas(body):
    """The canvas's ink: width, height in [28, 280] and width·height integers 0…255."""
    w = get_int(body, "width", None, MIN_SIDE, MAX_SIDE)
    h = get_int(body, "height", None, MIN_SIDE, MAX_SIDE)
    px = body.get("pixels")
    if not isinstance(px, list) or len(px) != w * h:
        got = f"{len(px)} values" if isinstance(px, list) else type(px).__name__
        raise BadRequest(400, f"pixels must be a list of width·height = {w * h} integers, got {got}")
    if any(type(v) is not int for v in px):          # bool, float, str, list: all refused
        raise BadRequest(400, "pixels must be integers (not floats, strings or booleans) in [0, 255]")
    try:
        a = np.array(px, dtype=np.int64)
    except OverflowError:
        raise BadRequest(400, "pixels must lie in [0, 255], got a value beyond 64 bits") from None
    if a.min() < 0 or a.max() > 255:
        raise BadRequest(400, f"pixels must lie in [0, 255], got a value {int(a.min() if a.min() < 0 else a.max())}")
    return a.reshape(h, w)
