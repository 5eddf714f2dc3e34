"""A student's own ``backward()`` for the gradient check: load it, call it, read its answer.

Whatever the student's code does, the check must end in a verdict: an error
raised inside it (even ``SystemExit``) is reported with the student's own
file:line, and the answer is read strictly — a pair (grad_w, grad_b) of lists
of matrices of real numbers, each shaped like its parameter — so that strings,
complex numbers, generators or objects whose ``float()`` raises are refused in
one line, and a wrong shape is refused before a single entry is read.
"""

import copy
import importlib
import importlib.util
import inspect
import numbers
import os
import sys
import traceback


class BackwardError(ValueError):
    """A ``--backward`` function that cannot be loaded or called, or whose answer has the wrong form."""


BACKWARD_SIGNATURE = "(activations, pre_activations, weights, y_onehot) -> (grad_w, grad_b)"
_OURS = os.path.dirname(os.path.abspath(__file__))     # pure/; frames here are not the student's


NUMERICAL_SIGNATURE = "(loss_fn, param) -> gradient shaped like param (eps = 1e-5, as the chapter's)"


def load_backward(spec):
    """The function named by ``module:function`` (or ``path/to/file.py:function``).

    Raises ``BackwardError`` with one line saying what is wrong: no colon, a
    module that does not import (and why, with its file:line), no such
    function, not callable, or a signature that cannot take backward's four
    arguments.
    """
    return load_function(spec, "--backward", 4, BACKWARD_SIGNATURE, "mybackprop:backward")


def load_numerical(spec):
    """Like ``load_backward``, for a student's ``numerical_gradient(loss_fn, param)``, the chapter's §5.8."""
    return load_function(spec, "--numerical", 2, NUMERICAL_SIGNATURE, "mine.py:numerical_gradient")


def load_function(spec, option, arity, signature, example):
    """The function named by ``spec``; ``BackwardError`` naming ``option`` when it cannot be had."""
    module_name, colon, function_name = str(spec).rpartition(":")
    if not colon or not module_name or not function_name:
        raise BackwardError(f"{option} must be module:function (e.g. {example}), got {spec!r}")
    try:
        if module_name.endswith(".py"):
            if not os.path.isfile(module_name):
                raise BackwardError(f"{option}: no file {module_name!r}")
            module_spec = importlib.util.spec_from_file_location("student_backward", module_name)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path and "" not in sys.path:   # `python -m` puts the cwd first;
                sys.path.insert(0, os.getcwd())                      # an installed script does not
            module = importlib.import_module(module_name)
    except BackwardError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as error:       # a student's module may raise anything on import, even SystemExit
        raise BackwardError(f"{option}: importing {module_name!r} failed: "
                            f"{_what_raised(error)}{where_raised(error)}") from None
    function = module
    for part in function_name.split("."):
        if not hasattr(function, part):
            raise BackwardError(f"{option}: {module_name!r} has no {function_name!r}")
        function = getattr(function, part)
    if not callable(function):
        raise BackwardError(f"{option}: {spec} is a {type(function).__name__}, not a function")
    try:
        inspect.signature(function).bind(*[None] * arity)
    except TypeError:
        raise BackwardError(f"{option}: {spec} must take {arity} arguments {signature}; "
                            f"its signature is {inspect.signature(function)}") from None
    except ValueError:        # some built-ins have no signature to inspect: let the call decide
        pass
    return function


def _what_raised(error):
    """``ValueError: message``, or for SystemExit what it means."""
    if isinstance(error, SystemExit):
        return f"SystemExit({error.code!r}) (sys.exit() or exit() was called)"
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def where_raised(error):
    """`` (at mine.py:12 in backward: delta = delta @ W)``: the student's deepest line in the traceback.

    Frames in ``pure``'s own files, NumPy and the standard library are skipped,
    so a mistake that NumPy or our matmul reports is shown at the student's
    line that called it. Empty when no frame is the student's.
    """
    frames = traceback.extract_tb(error.__traceback__)
    library = tuple(os.path.abspath(p) + os.sep for p in
                    {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.__file__), _OURS})
    installed = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)  # NumPy, wherever
    theirs = [f for f in frames if not os.path.abspath(f.filename).startswith(library)
              and not any(part in f.filename for part in installed)
              and not f.filename.startswith("<frozen")]
    if not theirs:
        return ""
    frame = theirs[-1]
    code = f": {frame.line.strip()}" if frame.line else ""
    return f" (at {frame.filename}:{frame.lineno} in {frame.name}{code})"


def _uses_numpy(function):
    """True when the function's module imported NumPy: it is written for arrays, as the chapter's is."""
    names = getattr(function, "__globals__", {})
    return any(getattr(value, "__name__", None) == "numpy" for value in list(names.values()))


def call_backward(function, activations, pre_activations, weights, y_onehot, name="backward",
                  arrays=False):
    """``function(...)`` on private copies of its inputs; its answer checked to be (grad_w, grad_b).

    The copies keep a backward that changes its arguments in place from changing
    the network being checked. Returns (grad_w, grad_b) as lists of matrices of
    Python floats. ``arrays`` says whether the inputs are NumPy arrays (for the
    hint given to NumPy code called with lists). Raises ``BackwardError`` in
    one line for anything else: an exception inside (with the student's
    file:line), or an answer that is not two lists of real matrices of the
    right shapes.
    """
    arguments = copy.deepcopy((activations, pre_activations, weights, y_onehot))
    try:
        answer = function(*arguments)
    except KeyboardInterrupt:
        raise
    except BaseException as error:      # SystemExit too: exit 0 would claim that everything passed
        raise BackwardError(raised(function, error, name, arrays, "--backward")) from None
    return _readable(lambda: read_answer(answer, weights, name), name)


def _readable(read, name):
    """``read()``; an answer whose own methods raise (a __len__, a .shape property) is refused in one line."""
    try:
        return read()
    except BackwardError:
        raise
    except Exception as error:
        raise BackwardError(f"{name} returned something that cannot be read as numbers: "
                            f"{_what_raised(error)}{where_raised(error)}") from None


def raised(function, error, name, arrays, option):
    """One line: what the student's function raised, where, and the NumPy hint when it fits."""
    hint = ""
    if not arrays and (_uses_numpy(function) or "'list' object has no attribute" in str(error)):
        hint = ("; this code is written for NumPy arrays (as the chapter's is) and pure.gradcheck "
                f"passes plain lists: check it with python -m native.gradcheck {option} "
                f"{name.rsplit(' ', 1)[-1] if name.startswith('your ') else '...'}")
    return f"{name} raised {_what_raised(error)}{where_raised(error)}{hint}"


def call_numerical(function, loss_fn, param, label, name="numerical_gradient", arrays=False):
    """A student's ``numerical_gradient(loss_fn, param)`` as a list of rows of floats.

    ``param`` (a list of rows, or an array when ``arrays``) must be as it was
    afterwards: a central difference puts every entry back. If it is not, it is
    restored and the mistake reported.
    """
    before = param.tolist() if arrays else [list(row) for row in param]
    try:
        answer = function(loss_fn, param)
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        _restore(param, before, arrays)
        raise BackwardError(raised(function, error, name, arrays, "--numerical")) from None
    after = param.tolist() if arrays else [list(row) for row in param]
    if after != before:
        r, c = next((r, c) for r in range(len(before)) for c in range(len(before[0]))
                    if after[r][c] != before[r][c])
        _restore(param, before, arrays)
        raise BackwardError(f"{name} left {label}[{r}][{c}] at {after[r][c]!r} instead of "
                            f"{before[r][c]!r}: put every entry back (param[idx] = old) after its "
                            f"two losses, or the next entries are measured at the wrong point")
    return _readable(lambda: _matrix(answer, (len(before), len(before[0])), "its result", f"like {label}", name),
                     name)


def _restore(param, before, arrays):
    for r, row in enumerate(before):
        for c, value in enumerate(row):
            if arrays:
                param[r, c] = value
            else:
                param[r][c] = value


def _shape_of(matrix):
    """(rows, cols) of a NumPy-like array (from .shape, without reading an entry), or None."""
    shape = getattr(matrix, "shape", None)
    if isinstance(shape, tuple) and hasattr(matrix, "dtype"):
        return shape
    return None


def read_answer(answer, weights, name="backward"):
    """(grad_w, grad_b) as lists of lists of floats, or ``BackwardError`` saying what is wrong."""
    L = len(weights)
    w_shapes = [(len(W), len(W[0])) for W in weights]
    b_shapes = [(1, cols) for _, cols in w_shapes]
    if not isinstance(answer, (tuple, list)):
        raise BackwardError(f"{name} must return a pair (grad_w, grad_b), got {_kind(answer)}")
    if _looks_like(answer, w_shapes) and not (len(answer) == 2 and _looks_like(answer[0], w_shapes)):
        raise BackwardError(f"{name} returned {len(answer)} matrices shaped like the weights: "
                            f"grad_w alone? return grad_w, grad_b")
    if len(answer) != 2:
        raise BackwardError(f"{name} must return a pair (grad_w, grad_b), got a {type(answer).__name__} "
                            f"of length {len(answer)}")
    if _looks_like(answer[0], b_shapes) and _looks_like(answer[1], w_shapes) and w_shapes != b_shapes:
        raise BackwardError(f"{name} returned (grad_b, grad_w): swapped? return grad_w, grad_b "
                            f"(weights first, as backward's contract says)")
    grads = []
    for label, part, shapes, like in (("grad_w", answer[0], w_shapes, "weights"),
                                      ("grad_b", answer[1], b_shapes, "biases")):
        if not isinstance(part, (list, tuple)) or len(part) != L:
            got = f"a {type(part).__name__} of length {len(part)}" \
                if isinstance(part, (list, tuple)) else _kind(part)
            raise BackwardError(f"{name} must return {label} as a list of {L} matrices, one per layer, "
                                f"got {got}")
        grads.append([_matrix(g, want, f"{label}[{i}]", f"like {like}[{i}]", name)
                      for i, (g, want) in enumerate(zip(part, shapes))])
    return grads[0], grads[1]


def _kind(value):
    if inspect.isgenerator(value) or type(value).__name__ in ("map", "filter", "zip"):
        return f"a {type(value).__name__} (an iterator; return a list)"
    return f"a {type(value).__name__}"


def _looks_like(items, shapes):
    """True when ``items`` is a sequence of matrices with exactly these shapes (checked cheaply)."""
    if not isinstance(items, (list, tuple)) or len(items) != len(shapes):
        return False
    for g, want in zip(items, shapes):
        shape = _shape_of(g)
        if shape is None:
            if not isinstance(g, (list, tuple)) or len(g) != want[0]:
                return False
            if not all(isinstance(row, (list, tuple)) and len(row) == want[1] for row in g):
                return False
        elif tuple(shape) != want:
            return False
    return True


def _matrix(g, want, label, like, name):
    """One gradient as a list of rows of floats; its shape checked first, then every entry."""
    rows, cols = want
    shape = _shape_of(g)
    if shape is not None:                               # a NumPy array: shape and dtype before entries
        if tuple(shape) != want:
            if len(shape) == 1 and shape[0] == cols and rows == 1:
                got = (f"a flat row of {cols} numbers, shape {tuple(shape)} (a bias gradient is one "
                       f"row: in NumPy keepdims=True)")
            elif tuple(shape) == (cols, rows):
                got = (f"{tuple(shape)}, the transpose: transposed product? ∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ "
                       f"(activations[i].T @ delta), not δₖᵀ @ Aₖ₋₁")
            else:
                got = str(tuple(shape))
            raise BackwardError(f"{name}: {label} must have shape {want} ({like}), got {got}")
        kind = getattr(g.dtype, "kind", "?")
        if kind in "fiu":
            return [[float(x) for x in row] for row in g.tolist()]
        if kind == "c":
            raise BackwardError(f"{name}: {label} holds complex numbers ({g.dtype}); a gradient is real")
        if kind != "O":
            raise BackwardError(f"{name}: {label} holds {g.dtype} values, expected real numbers")
        g = g.tolist()
    if not isinstance(g, (list, tuple)):
        raise BackwardError(f"{name}: {label} must be a matrix of shape {want} ({like}), got {_kind(g)}")
    if len(g) != rows or not all(isinstance(row, (list, tuple)) or _shape_of(row) is not None for row in g):
        if len(g) == cols and rows == 1 and all(_real(x) is not None for x in g):
            got = f"a flat row of {cols} numbers (a bias gradient is one row, [[...]]; in NumPy keepdims=True)"
        elif len(g) == cols and all(isinstance(r, (list, tuple)) and len(r) == rows for r in g):
            got = (f"({cols}, {rows}), the transpose: transposed product? ∂L/∂Wₖ = Aₖ₋₁ᵀ @ δₖ "
                   f"(activations[i].T @ delta), not δₖᵀ @ Aₖ₋₁")
        elif len(g) != rows:              # said without reading the rows: there may be 10⁸ of them
            got = f"{len(g)} rows"
        else:
            got = f"a row that is {_kind(next(r for r in g if not isinstance(r, (list, tuple))))}"
        raise BackwardError(f"{name}: {label} must have shape {want} ({like}), got {got}")
    out = []
    for r, row in enumerate(g):
        row = row.tolist() if _shape_of(row) is not None else row
        if len(row) != cols:
            raise BackwardError(f"{name}: {label} must have shape {want} ({like}), "
                                f"got row {r} with {len(row)} entries")
        values = []
        for c, x in enumerate(row):
            value = _real(x)
            if value is None:
                raise BackwardError(f"{name}: {label}[{r}][{c}] is {_describe(x)}, expected a real number")
            values.append(value)
        out.append(values)
    return out


def _real(x):
    """float(x) for a real number (int, float, NumPy's); None for anything else, also if float() raises."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return None
    try:
        value = float(x)
    except Exception:          # a Real whose __float__ raises is no number we can judge
        return None
    return value if isinstance(value, float) else None


def _describe(x):
    try:
        text = repr(x)
    except Exception:
        text = "?"
    text = text if len(text) <= 40 else text[:37] + "..."
    return f"{text} (a {type(x).__name__})"
