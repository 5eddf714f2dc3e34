"""Input checks for the public functions of ``pure``.

The network code trusts its inputs, so that it can read like the chapter. These
helpers run once at each public entry point (``init_network``, ``forward``,
``cross_entropy``, ``backward``, ``sgd_update``, ``train``) and turn a wrong
input into a ``ValueError`` (a ``TypeError`` only for the wrong kind of object:
an array instead of a list, a string instead of a number) that names the
argument, what was expected and what came, e.g.::

    ValueError: X row 2 has 3 entries, expected 4
"""

import argparse
import math
import signal
import sys

_NUMBER_TYPES = (int, float)


def _describe(value):
    """A short description of an unexpected value for an error message."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_matrix(M, name, cols=None):
    """Check that M is a non-empty rectangular list of rows of numbers; return its shape.

    If the rows differ in length, the message names the first row that is not
    ``cols`` long (when given: the width the caller expects) or, failing that,
    not as long as row 0.
    """
    if not isinstance(M, (list, tuple)):
        hint = " (pure works on lists; call .tolist() on an array, or use native)" \
            if hasattr(M, "tolist") else ""
        raise TypeError(f"{name} must be a list of rows, got {type(M).__name__}{hint}")
    if len(M) == 0:
        raise ValueError(f"{name} is empty: expected at least one row "
                         "(an empty batch has no loss and no gradient)")
    for i, row in enumerate(M):
        if not isinstance(row, (list, tuple)):
            raise ValueError(f"{name} row {i} must be a list of numbers, got {_describe(row)}"
                             f" — a matrix is a list of rows, e.g. [[1.0, 2.0]]")
        if len(row) == 0:
            raise ValueError(f"{name} row {i} has 0 entries, expected at least 1")
        for j, x in enumerate(row):
            if not isinstance(x, _NUMBER_TYPES) or isinstance(x, bool):
                raise TypeError(f"{name} row {i} entry {j} is {_describe(x)}, expected a number")

    lengths = [len(row) for row in M]
    if len(set(lengths)) > 1:
        expected, like = (cols, "") if cols in lengths else (lengths[0], " (like row 0)")
        i = next(i for i, n in enumerate(lengths) if n != expected)
        raise ValueError(f"{name} row {i} has {lengths[i]} entries, expected {expected}{like}")
    return len(M), lengths[0]


def check_shape(M, name, rows=None, cols=None, why=""):
    """Check that M is a matrix with the given rows and/or columns; return its shape.

    ``why`` is appended to the message to say where the expectation comes from.
    """
    r, c = check_matrix(M, name, cols)
    suffix = f" ({why})" if why else ""
    if rows is not None and r != rows:
        raise ValueError(f"{name} has {r} rows, expected {rows}{suffix}")
    if cols is not None and c != cols:
        raise ValueError(f"{name} has {c} columns, expected {cols}{suffix}")
    return r, c


def check_bias(b, name, cols, why=""):
    """Check that b is a one-row matrix [[b0, b1, ...]] with ``cols`` entries."""
    if isinstance(b, (list, tuple)) and b and all(isinstance(x, _NUMBER_TYPES) for x in b):
        raise ValueError(f"{name} is a flat list of {len(b)} numbers, expected a one-row "
                         f"matrix [[b0, b1, ...]] of shape (1, {cols})")
    r, c = check_matrix(b, name)
    if r != 1:
        raise ValueError(f"{name} has {r} rows, expected a bias of one row, "
                         f"shape (1, {cols}) — write it [[b0, b1, ...]]")
    if c != cols:
        suffix = f" ({why})" if why else ""
        raise ValueError(f"{name} has {c} entries, expected {cols}{suffix}")


def check_one_hot(Y, name="y_onehot"):
    """Check that every row of Y is one-hot: exactly one 1 and the rest 0 (1.0/0.0 welcome)."""
    for i, row in enumerate(Y):
        ones = sum(1 for y in row if y == 1)
        if ones != 1 or any(y != 0 and y != 1 for y in row):
            shown = row if len(row) <= 12 else list(row[:12]) + ["..."]
            raise ValueError(f"{name} row {i} is not one-hot: expected exactly one 1 "
                             f"and zeros, got {shown}")


def check_network(weights, biases=None):
    """Check the layer list: weights[i] is (nᵢ, nᵢ₊₁), biases[i] is (1, nᵢ₊₁).

    Returns the layer sizes [n₀, n₁, …, n_L].
    """
    if not isinstance(weights, (list, tuple)) or len(weights) == 0:
        raise ValueError(f"weights must be a non-empty list of matrices, got {_describe(weights)}")
    rows, cols = check_matrix(weights[0], "weights[0]")
    sizes = [rows, cols]
    for i in range(1, len(weights)):
        _, cols = check_shape(weights[i], f"weights[{i}]", rows=sizes[-1],
                              why=f"weights[{i - 1}] has {sizes[-1]} columns")
        sizes.append(cols)
    if biases is not None:
        if not isinstance(biases, (list, tuple)) or len(biases) != len(weights):
            count = len(biases) if isinstance(biases, (list, tuple)) else _describe(biases)
            raise ValueError(f"biases must be a list of {len(weights)} one-row matrices "
                             f"(one per weight matrix), got {count}")
        for i, b in enumerate(biases):
            check_bias(b, f"biases[{i}]", sizes[i + 1],
                       why=f"weights[{i}] has {sizes[i + 1]} columns")
    return sizes


def check_same_shapes(params, grads, name, grad_name):
    """Check that two lists of matrices have the same length and matching shapes."""
    if len(params) != len(grads):
        raise ValueError(f"{grad_name} has {len(grads)} matrices, expected {len(params)} "
                         f"(one per matrix in {name})")
    for i, (P, G) in enumerate(zip(params, grads)):
        rows, cols = check_matrix(P, f"{name}[{i}]")
        check_rows_are_lists(P, f"{name}[{i}]")
        check_shape(G, f"{grad_name}[{i}]", rows, cols, why=f"the shape of {name}[{i}]")


def check_rows_are_lists(M, name):
    """Check that M's rows are lists, which can be changed in place (tuples cannot)."""
    for i, row in enumerate(M):
        if not isinstance(row, list):
            raise TypeError(f"{name} row {i} is a {type(row).__name__}; it is updated in "
                            f"place, so it must be a list")


def check_sizes(sizes):
    """Check layer sizes: a list of at least 2 positive ints, e.g. [784, 64, 32, 10]."""
    if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
        raise ValueError(f"sizes must list at least 2 layer sizes (input and output), "
                         f"e.g. [784, 64, 32, 10]; got {_describe(sizes)}")
    for i, n in enumerate(sizes):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"sizes[{i}] must be a positive int, got {_describe(n)}")


def check_seed(seed, name="seed"):
    """Check a seed: an int >= 0 (what NumPy's generators take, so pure and native refuse the same)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{name} must be a non-negative int, got {_describe(seed)}")


def check_finite_number(x, name):
    """Check that x is a finite real number (not inf, not NaN)."""
    if not isinstance(x, _NUMBER_TYPES) or isinstance(x, bool) or not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {_describe(x)}")


def check_positive_int(n, name, minimum=1):
    """Check that n is an int ≥ minimum."""
    if not isinstance(n, int) or isinstance(n, bool) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {_describe(n)}")


def check_backward_inputs(activations, pre_activations, weights, y_onehot):
    """The checks for ``backward``: every list as long as the network, every shape right."""
    sizes = check_network(weights)
    L = len(weights)   # the number of layers
    _check_list_length(activations, "activations", L + 1, f"[X, A1, ..., A{L}]")
    _check_list_length(pre_activations, "pre_activations", L, f"[Z1, ..., Z{L}]")
    m, _ = check_shape(activations[0], "activations[0]", cols=sizes[0],
                       why=f"weights[0] has {sizes[0]} rows")
    for i in range(1, L + 1):
        why = f"a batch of {m} samples through a layer of {sizes[i]} units"
        check_shape(activations[i], f"activations[{i}]", m, sizes[i], why=why)
        check_shape(pre_activations[i - 1], f"pre_activations[{i - 1}]", m, sizes[i], why=why)
    check_shape(y_onehot, "y_onehot", m, sizes[-1],
                why=f"the shape of activations[{L}]: one row per sample, one column per class")
    check_one_hot(y_onehot)


def _check_list_length(items, name, length, looks_like):
    """Check that ``items`` is a list of ``length`` matrices, e.g. [Z1, ..., Z3]."""
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"{name} must be a list {looks_like}, got {type(items).__name__}")
    if len(items) != length:
        raise ValueError(f"{name} must be {looks_like}, {length} matrices for this "
                         f"network, got {len(items)}")


# --- command lines ------------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse whose every mistake is one line, ``prog: error: what and why (see --help)``, exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# Ctrl-C while `python -m native.…` starts (importing NumPy can take a second): native/__init__
# installs a SIGINT handler that holds it (records it, raises nothing; its attribute
# holds_ctrl_c marks it) from its first lines until the command's main block runs inside its
# own try (exit_with → release_ctrl_c). Putting the handler back any earlier leaves a window —
# the rest of the package import, the command module's own imports — where a
# KeyboardInterrupt is raised outside every try: a traceback.
def release_ctrl_c():
    """End such a hold, if one is installed, inside the caller's try: the handler before it
    (its .previous) is back, and a Ctrl-C that came meanwhile (its .held) is raised here as
    KeyboardInterrupt — Ctrl-C then being ignored, so that a second one cannot cut the
    caller's one line short."""
    hold = signal.getsignal(signal.SIGINT)
    if not getattr(hold, "holds_ctrl_c", False):
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN if hold.held else hold.previous)
    if hold.held:               # also one that came while the line above ran
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt


def exit_with(main, *args):
    """``sys.exit(main(*args))`` for a command's ``if __name__ == "__main__"`` block.

    Ctrl-C held while the command started (release_ctrl_c) or raised out of ``main`` is one
    line and exit status 130, not a traceback. Ctrl-C is ignored once ``main`` is over
    (returned, raised or exited): Python's shutdown puts it back to the system default, and
    one pressed then would end the process by the signal, after the command's last line,
    with no word and no exit status of its own."""
    try:
        try:
            release_ctrl_c()
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            sys.stderr.write("\ninterrupted while starting; nothing was done\n")
            sys.exit(130)
        try:
            rc = main(*args)
        except KeyboardInterrupt:   # one the command does not handle itself
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            sys.stderr.write("\ninterrupted (Ctrl-C)\n")
            rc = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(rc)


def run_command(main, argv=None):
    """Run a command's ``main(argv)``: Ctrl-C and running out of memory end in one line, not a traceback."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C): nothing was written, nothing to clean up", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try smaller --sizes or --samples", file=sys.stderr)
        return 1
