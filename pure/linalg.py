"""Small matrix helpers on plain Python lists, so that the network reads as mathematics.

A matrix is a list of rows, each row a list of floats: the 2×3 matrix

    1 2 3
    4 5 6

is ``[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]``. A bias is a matrix with a single row,
``[[b0, b1, b2]]``, exactly as the chapter's ``b`` of shape (1, n).

Every helper returns a new matrix and leaves its arguments alone, except
``subtract_scaled_in_place``, which says so in its name. None of them checks
its input: the public functions in ``pure.network`` check once, at the door
(see ``pure.checks``), and these stay short enough to read in one glance.
"""


def transpose(A):
    """Aᵀ: row i of the result is column i of A."""
    return [list(column) for column in zip(*A)]


def matmul(A, B):
    """The matrix product A @ B.

    Entry (i, j) of the product is the dot product of row i of A with column j
    of B, so an (n, k) matrix times a (k, p) matrix gives an (n, p) matrix.
    """
    B_columns = list(zip(*B))
    return [[sum(a * b for a, b in zip(row, column)) for column in B_columns]
            for row in A]


def add_row(A, row_matrix):
    """A + b with b broadcast down the rows: the chapter's ``X @ W + b``.

    ``row_matrix`` is a one-row matrix ``[[b0, b1, ...]]`` (a bias); the same
    row is added to every row of A.
    """
    (b,) = row_matrix
    return [[a + bj for a, bj in zip(row, b)] for row in A]


def subtract(A, B):
    """A − B, entry by entry."""
    return [[a - b for a, b in zip(row_a, row_b)] for row_a, row_b in zip(A, B)]


def hadamard(A, B):
    """A * B, entry by entry (NumPy's ``*``, the Hadamard product)."""
    return [[a * b for a, b in zip(row_a, row_b)] for row_a, row_b in zip(A, B)]


def scale(A, s):
    """s · A: every entry multiplied by the number s."""
    return [[s * a for a in row] for row in A]


def apply(f, A):
    """f applied to every entry of A."""
    return [[f(a) for a in row] for row in A]


def column_sums(A):
    """Sum down each column, as a one-row matrix: NumPy's ``A.sum(axis=0, keepdims=True)``."""
    return [[sum(column) for column in zip(*A)]]


def subtract_scaled_in_place(A, G, s):
    """A ← A − s·G, changing A's own rows (so every reference to A sees the new values)."""
    for row, grad_row in zip(A, G):
        for j, g in enumerate(grad_row):
            row[j] -= s * g
