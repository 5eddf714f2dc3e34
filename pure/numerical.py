"""§5.8: the numerical gradient — the slope of the loss measured, not derived.

    ∂L/∂θ ≈ (L(θ + ε) − L(θ − ε)) / 2ε          (central difference)

The central difference is accurate to order ε², against order ε for the
one-sided (L(θ + ε) − L(θ)) / ε of §5.2. ``pure.gradcheck`` uses it to check
``backward()``; ``pure.examples`` to check the hand-derived gradients.
"""

from pure import checks

EPS = 1e-5   # the step ε; in float64, 1e-5 balances truncation (ε²) against rounding (1/ε)


def numerical_gradient(loss_fn, param, eps=EPS):
    """The gradient of ``loss_fn()`` with respect to every entry of ``param``, by central differences.

    ``param`` is a matrix (list of rows) that ``loss_fn`` reads when it is called;
    ``loss_fn`` takes no arguments and returns the loss as a float. For each
    entry we set it to old + ε, then old − ε, evaluate the loss both times, and
    put it back exactly as it was: the slope is (L₊ − L₋) / 2ε.   §5.8

    Returns a new matrix of the same shape; ``param`` ends as it started, also
    when ``loss_fn`` raises or Ctrl-C arrives midway (the entry is restored in
    ``finally``).
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function of no arguments, got {type(loss_fn).__name__}")
    rows, cols = checks.check_matrix(param, "param")
    checks.check_rows_are_lists(param, "param")
    checks.check_finite_number(eps, "eps")
    if eps <= 0:
        raise ValueError(f"eps must be a positive step, got {eps!r}")

    grad = [[0.0] * cols for _ in range(rows)]
    for i in range(rows):
        for j in range(cols):
            old = param[i][j]
            try:
                param[i][j] = old + eps
                loss_plus = _loss(loss_fn)
                param[i][j] = old - eps
                loss_minus = _loss(loss_fn)
            finally:
                param[i][j] = old               # restore exactly, even if loss_fn raised or Ctrl-C came
            grad[i][j] = (loss_plus - loss_minus) / (2 * eps)        # (L₊ − L₋) / 2ε
    return grad


def _loss(loss_fn):
    """Call ``loss_fn()``; its value must be one real number (a float, an int, a NumPy scalar)."""
    value = loss_fn()
    try:
        if isinstance(value, bool) or not hasattr(type(value), "__float__"):
            raise TypeError
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"loss_fn must return the loss as one number, got {type(value).__name__}") from None
