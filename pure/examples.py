"""Worked examples of the chain rule, small enough to do on paper.   §5.3, §5.9

§5.3's single neuron with squared error, and exercise 1 (2 inputs → 1 ReLU
neuron → 1 sigmoid output) with either loss a student may pick: binary
cross-entropy, or the squared error §5.3 uses. Each comes as three functions:
the loss, its gradient derived by hand (the chain rule, one link at a time),
and the same gradient measured by ``numerical_gradient``. The parameters are a
dict of named numbers, e.g. ``{"w": 0.5, "b": 0.1}``; the gradients come back as
a dict with the same names.

Exercise 1 with your own numbers: derive the gradients on paper, then

    python -m pure.examples --x 1.5 0.5 --y 1 --params w1_1=0.4 w1_2=-0.3 b1=0.1 w2=0.8 b2=-0.2 \
                            --mine w1_1=... w1_2=... b1=... w2=... b2=...

marks each one right or wrong (``mark_exercise1``), showing the right value only
for the wrong ones; ``python -m pure.examples --answer`` prints the worked answers,
analytic next to numerical.
"""

import argparse
import math
import sys

from pure import checks
from pure.gradcheck import relative_error
from pure.network import TINY, relu, relu_derivative
from pure.numerical import numerical_gradient


NEURON_NAMES = ("w", "b")
EXERCISE1_NAMES = ("w1_1", "w1_2", "b1", "w2", "b2")   # w1_1: from input 1 to the hidden neuron


def check_names(params, names, what):
    """One line for a dict whose keys are not exactly ``names`` (e.g. "w11" for "w1_1")."""
    if not isinstance(params, dict):
        raise TypeError(f"{what} must be a dict of named numbers {{{', '.join(names)}}}, "
                        f"got {type(params).__name__}")
    unknown = [k for k in params if k not in names]
    missing = [k for k in names if k not in params]
    if unknown or missing:
        import difflib
        hints = [f"{k!r} (did you mean {difflib.get_close_matches(str(k), names, 1, 0.5)[0]!r}?)"
                 if difflib.get_close_matches(str(k), names, 1, 0.5) else repr(k) for k in unknown]
        raise ValueError(f"{what} must name exactly {', '.join(names)}"
                         + (f"; unknown: {', '.join(hints)}" if unknown else "")
                         + (f"; missing: {', '.join(missing)}" if missing else ""))


# ---------------------------------------------------------------------------
# §5.3: one neuron, squared error
# ---------------------------------------------------------------------------

def neuron_loss(params, x, y):
    """The §5.3 example: z = w·x + b, a = ReLU(z), L = (a − y)²."""
    check_names(params, NEURON_NAMES, "params")
    z = params["w"] * x + params["b"]        # z = w·x + b
    a = relu(z)                              # a = max(0, z)
    return (a - y) ** 2                      # L = (a − y)²


def neuron_gradients(params, x, y):
    """∂L/∂w and ∂L/∂b of ``neuron_loss``, by the chain rule.   §5.3

    L depends on w only through a, and a only through z, so the slopes multiply:

        ∂L/∂w = ∂L/∂a · ∂a/∂z · ∂z/∂w = 2(a − y) · ReLU'(z) · x
        ∂L/∂b = ∂L/∂a · ∂a/∂z · ∂z/∂b = 2(a − y) · ReLU'(z) · 1

    If the neuron is switched off (z ≤ 0), ReLU'(z) = 0 and both are 0: a neuron
    that did not fire takes no blame.
    """
    check_names(params, NEURON_NAMES, "params")
    z = params["w"] * x + params["b"]
    a = relu(z)
    dL_da = 2.0 * (a - y)                    # ∂L/∂a = 2(a − y)
    dL_dz = dL_da * relu_derivative(z)       # ∂L/∂z = ∂L/∂a · ReLU'(z)
    return {"w": dL_dz * x,                  # ∂z/∂w = x
            "b": dL_dz}                      # ∂z/∂b = 1


def neuron_numerical_gradients(params, x, y, eps=1e-5):
    """∂L/∂w and ∂L/∂b of ``neuron_loss``, measured by central differences."""
    return numerical_gradients(lambda p: neuron_loss(p, x, y), params, eps)


# ---------------------------------------------------------------------------
# Exercise 1: 2 inputs → 1 ReLU hidden neuron → 1 sigmoid output
# ---------------------------------------------------------------------------

def sigmoid(z):
    """σ(z) = 1 / (1 + e^(−z)), squashing any number into (0, 1).

    Written two ways so that exp() never overflows: for z < 0 we use the equal
    form e^z / (1 + e^z).
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def exercise1_forward(params, x):
    """The forward pass of exercise 1; returns (z₁, a₁, z₂, a₂).

        z₁ = w₁₁·x₁ + w₁₂·x₂ + b₁      a₁ = ReLU(z₁)      (the hidden neuron)
        z₂ = w₂·a₁ + b₂                a₂ = σ(z₂)         (the output: a probability)

    ``params`` has the keys "w1_1", "w1_2", "b1", "w2", "b2"; ``x`` is (x₁, x₂).
    """
    check_names(params, EXERCISE1_NAMES, "params")
    x1, x2 = x
    z1 = params["w1_1"] * x1 + params["w1_2"] * x2 + params["b1"]
    a1 = relu(z1)
    z2 = params["w2"] * a1 + params["b2"]
    a2 = sigmoid(z2)
    return z1, a1, z2, a2


def exercise1_loss(params, x, y):
    """Binary cross-entropy of exercise 1: L = −[y·log a₂ + (1 − y)·log(1 − a₂)], y ∈ {0, 1}.

    It is the two-class case of the chapter's cross-entropy: −log of the
    probability given to the right answer (a₂ if y = 1, 1 − a₂ if y = 0).
    Probabilities are clipped to at least TINY, as in ``cross_entropy``.
    """
    _, _, _, a2 = exercise1_forward(params, x)
    return -(y * math.log(max(a2, TINY)) + (1 - y) * math.log(max(1.0 - a2, TINY)))


def exercise1_gradients(params, x, y):
    """The gradient of ``exercise1_loss`` for all five parameters, by hand.   §5.9, exercise 1

    We choose binary cross-entropy, L = −[y·log a₂ + (1 − y)·log(1 − a₂)], because
    with a sigmoid output it simplifies exactly as softmax + cross-entropy does
    in §5.4. Walk the chain backwards, one link at a time:

    1. Loss → output.  ∂L/∂a₂ = −y/a₂ + (1 − y)/(1 − a₂) = (a₂ − y) / (a₂(1 − a₂)).
    2. Output → its input.  σ'(z) = σ(z)(1 − σ(z)), so ∂a₂/∂z₂ = a₂(1 − a₂).
    3. Multiply: the a₂(1 − a₂) cancels, and the output's error signal is
           δ₂ = ∂L/∂z₂ = a₂ − y
       (prediction minus truth, the one-output version of δ₃ = A₃ − Y).
    4. Output layer's parameters, from z₂ = w₂·a₁ + b₂:
           ∂L/∂w₂ = δ₂ · a₁          ∂L/∂b₂ = δ₂
    5. Back to the hidden neuron: ∂L/∂a₁ = δ₂ · w₂ (the error handed back
       through the weight), then through the ReLU:
           δ₁ = ∂L/∂z₁ = δ₂ · w₂ · ReLU'(z₁)
       (the one-neuron version of δ₂ = (δ₃ @ W₃ᵀ) * ReLU'(Z₂)).
    6. Hidden layer's parameters, from z₁ = w₁₁·x₁ + w₁₂·x₂ + b₁:
           ∂L/∂w₁₁ = δ₁ · x₁      ∂L/∂w₁₂ = δ₁ · x₂      ∂L/∂b₁ = δ₁

    Had we picked squared error (a₂ − y)² instead, step 3 would keep the factor:
    δ₂ = 2(a₂ − y) · a₂(1 − a₂), which fades to 0 when the sigmoid saturates —
    one reason cross-entropy is the usual partner of sigmoid and softmax
    (``exercise1_squared_gradients`` works that variant through).
    """
    x1, x2 = x
    z1, a1, z2, a2 = exercise1_forward(params, x)
    delta2 = a2 - y                                              # δ₂ = a₂ − y
    delta1 = delta2 * params["w2"] * relu_derivative(z1)         # δ₁ = δ₂ · w₂ · ReLU'(z₁)
    return {"w1_1": delta1 * x1,                                 # ∂L/∂w₁₁ = δ₁ · x₁
            "w1_2": delta1 * x2,                                 # ∂L/∂w₁₂ = δ₁ · x₂
            "b1": delta1,                                        # ∂L/∂b₁ = δ₁
            "w2": delta2 * a1,                                   # ∂L/∂w₂ = δ₂ · a₁
            "b2": delta2}                                        # ∂L/∂b₂ = δ₂


def exercise1_numerical_gradients(params, x, y, eps=1e-5):
    """The gradient of ``exercise1_loss``, measured by central differences."""
    return numerical_gradients(lambda p: exercise1_loss(p, x, y), params, eps)


# Exercise 1 with the squared error of §5.3, the loss many students reach for first

def exercise1_squared_loss(params, x, y):
    """Exercise 1's network with §5.3's squared error: L = (a₂ − y)²."""
    _, _, _, a2 = exercise1_forward(params, x)
    return (a2 - y) ** 2


def exercise1_squared_gradients(params, x, y):
    """The gradient of ``exercise1_squared_loss`` for all five parameters, by hand.

    Only the first links differ from the cross-entropy version:

    1. Loss → output.  ∂L/∂a₂ = 2(a₂ − y).
    2. Output → its input.  ∂a₂/∂z₂ = σ'(z₂) = a₂(1 − a₂).
    3. Multiply: nothing cancels this time,
           δ₂ = ∂L/∂z₂ = 2(a₂ − y) · a₂(1 − a₂)
       which fades to 0 when the sigmoid saturates (a₂ near 0 or 1), even if
       the answer is wrong — the network then learns slowly. Cross-entropy's
       δ₂ = a₂ − y has no such factor; that is why it is the usual partner of
       sigmoid and softmax.
    4.–6. From δ₂ on, the chain is the same as in ``exercise1_gradients``:
           ∂L/∂w₂ = δ₂ · a₁,  ∂L/∂b₂ = δ₂,  δ₁ = δ₂ · w₂ · ReLU'(z₁),
           ∂L/∂w₁ⱼ = δ₁ · xⱼ,  ∂L/∂b₁ = δ₁.
    """
    x1, x2 = x
    z1, a1, z2, a2 = exercise1_forward(params, x)
    delta2 = 2.0 * (a2 - y) * a2 * (1.0 - a2)                    # δ₂ = 2(a₂ − y) · a₂(1 − a₂)
    delta1 = delta2 * params["w2"] * relu_derivative(z1)         # δ₁ = δ₂ · w₂ · ReLU'(z₁)
    return {"w1_1": delta1 * x1,
            "w1_2": delta1 * x2,
            "b1": delta1,
            "w2": delta2 * a1,
            "b2": delta2}


def exercise1_squared_numerical_gradients(params, x, y, eps=1e-5):
    """The gradient of ``exercise1_squared_loss``, measured by central differences."""
    return numerical_gradients(lambda p: exercise1_squared_loss(p, x, y), params, eps)


# ---------------------------------------------------------------------------
# Shared: numerical gradients of a loss of named scalar parameters
# ---------------------------------------------------------------------------

def numerical_gradients(loss_of_params, params, eps=1e-5):
    """Numerical ∂L/∂p for every named number p in ``params``.

    ``numerical_gradient`` works on a matrix, so we lay the numbers out as one
    row, let the loss read them back by name, and label the slopes again.
    """
    names = list(params)
    row = [[float(params[name]) for name in names]]

    def loss_fn():
        return loss_of_params(dict(zip(names, row[0])))

    (slopes,) = numerical_gradient(loss_fn, row, eps)
    return dict(zip(names, slopes))


# Worked values: chosen away from ReLU's kink at 0, where no slope exists.
NEURON_EXAMPLE = {"params": {"w": 0.5, "b": 0.1}, "x": 2.0, "y": 0.3}
NEURON_OFF_EXAMPLE = {"params": {"w": -0.5, "b": 0.1}, "x": 2.0, "y": 0.3}
EXERCISE1_EXAMPLE = {"params": {"w1_1": 0.4, "w1_2": -0.3, "b1": 0.1, "w2": 0.8, "b2": -0.2},
                     "x": (1.5, 0.5), "y": 1.0}


def _print_comparison(title, analytic, numerical):
    print(title)
    print(f"  {'parameter':<10} {'analytic':>14} {'numerical':>14} {'rel. error':>11}")
    for name in analytic:
        a, n = analytic[name] + 0.0, numerical[name] + 0.0   # + 0.0 turns −0.0 into 0.0
        error = relative_error(a, n)
        print(f"  {name:<10} {a:>14.8f} {n:>14.8f} {error:>11.2e}")
    print()


LOSSES = {"cross-entropy": (exercise1_loss, exercise1_gradients, exercise1_numerical_gradients),
          "squared": (exercise1_squared_loss, exercise1_squared_gradients,
                      exercise1_squared_numerical_gradients)}
AGREE = 0.005    # a hand-derived value is right within 0.5 % of the chain rule's (3–4 digits written)


def mark_exercise1(params, x, y, mine, loss="cross-entropy"):
    """A student's own exercise-1 gradients, each marked: {name: (mine, right value, is_right)}.

    ``mine`` names some or all of the five gradients ("w1_1", "w1_2", "b1",
    "w2", "b2"). The right value is the chain rule's (``exercise1_gradients``
    or the squared-error version); a value is right within 0.5 % of it.
    """
    _, gradients, _ = LOSSES[loss]
    unknown = [k for k in mine if k not in EXERCISE1_NAMES]
    if unknown or not mine:
        check_names({k: 0 for k in unknown}, EXERCISE1_NAMES, "your gradients")
    right = gradients(params, x, y)
    return {name: (mine[name], right[name] + 0.0,
                   abs(mine[name] - right[name]) <= AGREE * abs(right[name]) + 1e-12)
            for name in EXERCISE1_NAMES if name in mine}


def near_kink(params, x, eps=1e-5):
    """True when z₁ is within the numerical gradient's reach of ReLU's kink at 0."""
    z1 = exercise1_forward(params, x)[0]
    return abs(z1) <= eps * (1.0 + abs(x[0]) + abs(x[1]))


def _named_numbers(parser, option, items, names):
    """{name: float} from NAME=VALUE words; one line for anything else."""
    values = {}
    for item in items:
        name, equals, text = item.partition("=")
        if not equals:
            parser.error(f"{option} takes NAME=VALUE words (e.g. w1_1=0.4), got {item!r}")
        if name in values:
            parser.error(f"{option} names {name} twice")
        try:
            value = float(text)
        except ValueError:
            parser.error(f"{option} {name}: {text!r} is not a number")
        if not math.isfinite(value):
            parser.error(f"{option} {name}: must be a finite number, got {text}")
        values[name] = value
    if option == "--params":
        try:
            check_names(values, names, option)
        except ValueError as error:
            parser.error(str(error))
    for name in values:
        if name not in names:
            import difflib
            close = difflib.get_close_matches(name, names, 1, 0.5)
            parser.error(f"{option}: unknown name {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                         + f"; the names are {', '.join(names)}")
    return values


def print_worked_answers():
    """The worked answers of §5.3 and exercise 1, analytic next to numerical (``--answer``)."""
    for label, ex in (("z > 0, the neuron fires", NEURON_EXAMPLE),
                      ("z ≤ 0, the neuron is off: no blame", NEURON_OFF_EXAMPLE)):
        p, x, y = ex["params"], ex["x"], ex["y"]
        z = p["w"] * x + p["b"]
        a = relu(z)
        _print_comparison(
            f"§5.3  z = w·x + b, a = ReLU(z), L = (a − y)²   ({label})\n"
            f"      w = {p['w']}, b = {p['b']}, x = {x}, y = {y}:  z = {z:.3f}, a = {a:.3f}, "
            f"L = {neuron_loss(p, x, y):.4f}\n"
            f"      ∂L/∂w = 2(a − y)·ReLU'(z)·x,  ∂L/∂b = 2(a − y)·ReLU'(z)",
            neuron_gradients(p, x, y), neuron_numerical_gradients(p, x, y))

    p, x, y = EXERCISE1_EXAMPLE["params"], EXERCISE1_EXAMPLE["x"], EXERCISE1_EXAMPLE["y"]
    z1, a1, z2, a2 = exercise1_forward(p, x)
    _print_comparison(
        "Exercise 1  2 inputs → 1 ReLU neuron → 1 sigmoid output, binary cross-entropy\n"
        f"      x = {x}, y = {y}:  z₁ = {z1:.3f}, a₁ = {a1:.3f}, z₂ = {z2:.3f}, a₂ = {a2:.4f}, "
        f"L = {exercise1_loss(p, x, y):.4f}\n"
        "      δ₂ = a₂ − y,  δ₁ = δ₂·w₂·ReLU'(z₁),  ∂L/∂w₂ = δ₂·a₁,  ∂L/∂w₁ⱼ = δ₁·xⱼ",
        exercise1_gradients(p, x, y), exercise1_numerical_gradients(p, x, y))
    _print_comparison(
        "Exercise 1  the same network with §5.3's squared error L = (a₂ − y)²\n"
        f"      same x, y and parameters:  a₂ = {a2:.4f}, L = {exercise1_squared_loss(p, x, y):.4f}\n"
        "      δ₂ = 2(a₂ − y)·a₂(1 − a₂)  (the sigmoid's slope stays in: small when it saturates),\n"
        "      then as above: δ₁ = δ₂·w₂·ReLU'(z₁),  ∂L/∂w₂ = δ₂·a₁,  ∂L/∂w₁ⱼ = δ₁·xⱼ",
        exercise1_squared_gradients(p, x, y), exercise1_squared_numerical_gradients(p, x, y))


def main(argv=None):
    """Exercise 1 from the command line: the student's own numbers marked, or (--answer) the worked answers."""
    parser = checks.ArgumentParser(
        prog="python -m pure.examples",
        description=(
            "Chapter 5, exercise 1: 2 inputs -> 1 ReLU neuron -> 1 sigmoid output.\n"
            "Derive the five gradients on paper, then give the inputs, the parameters\n"
            "and your own gradients: each is marked right or wrong (right = within\n"
            "0.5 % of the chain rule's value, which the numerical gradient confirms),\n"
            "and the right value is shown only for the wrong ones. A warning comes\n"
            "when z1 sits at ReLU's kink (z1 = 0), where no slope exists.\n\n"
            "Names: z1 = w1_1*x1 + w1_2*x2 + b1, a1 = ReLU(z1), z2 = w2*a1 + b2,\n"
            "a2 = sigmoid(z2); the loss is binary cross-entropy (delta2 = a2 - y) or,\n"
            "with --loss squared, §5.3's (a2 - y)^2 (delta2 = 2(a2 - y) a2 (1 - a2)).\n\n"
            "Without --mine it prints the forward pass of your numbers and no\n"
            "gradients. --answer prints the worked answers instead: §5.3's single\n"
            "neuron (firing and off) and exercise 1 with either loss, each gradient\n"
            "next to the numerical one. The code is in pure/examples.py."),
        epilog="examples:\n"
               "  python -m pure.examples                  # the example's forward pass; no answers\n"
               "  python -m pure.examples --x 1.5 0.5 --y 1 \\\n"
               "      --params w1_1=0.4 w1_2=-0.3 b1=0.1 w2=0.8 b2=-0.2 \\\n"
               "      --mine w1_1=-0.528 w1_2=-0.176 b1=-0.352 w2=-0.242 b2=-0.440\n"
               "  python -m pure.examples --answer         # the worked answers\n"
               "exit status: 0 when every gradient given is right, 1 when one is wrong, 2 for a bad option",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--x", type=float, nargs=2, metavar=("X1", "X2"),
                        help=f"the two inputs (default: {' '.join(map(str, EXERCISE1_EXAMPLE['x']))})")
    parser.add_argument("--y", type=float, help=f"the target, 0 or 1 for cross-entropy "
                                                f"(default: {EXERCISE1_EXAMPLE['y']:g})")
    parser.add_argument("--params", nargs=5, metavar="NAME=VALUE",
                        help="all five parameters, e.g. w1_1=0.4 w1_2=-0.3 b1=0.1 w2=0.8 b2=-0.2 "
                             "(default: those)")
    parser.add_argument("--mine", nargs="+", metavar="NAME=VALUE",
                        help="your gradients dL/dNAME, some or all of w1_1 w1_2 b1 w2 b2")
    parser.add_argument("--loss", choices=sorted(LOSSES), default="cross-entropy",
                        help="the loss you derived for (default: cross-entropy)")
    parser.add_argument("--answer", action="store_true",
                        help="print the worked answers of §5.3 and exercise 1 (and nothing else)")
    args = parser.parse_args(argv)
    if args.answer:
        if args.x or args.y is not None or args.params or args.mine:
            parser.error("--answer prints the worked example only; drop --x, --y, --params and --mine")
        print_worked_answers()
        return 0
    x = tuple(args.x) if args.x else EXERCISE1_EXAMPLE["x"]
    y = args.y if args.y is not None else EXERCISE1_EXAMPLE["y"]
    if not all(math.isfinite(v) for v in (*x, y)):
        parser.error(f"--x and --y must be finite numbers, got x = {x}, y = {y}")
    if args.loss == "cross-entropy" and not 0 <= y <= 1:
        parser.error(f"--y must be between 0 and 1 for cross-entropy (a probability), got {y:g}")
    params = _named_numbers(parser, "--params", args.params, EXERCISE1_NAMES) if args.params \
        else dict(EXERCISE1_EXAMPLE["params"])
    mine = _named_numbers(parser, "--mine", args.mine, EXERCISE1_NAMES) if args.mine else {}

    loss_fn, _, numerical = LOSSES[args.loss]
    z1, a1, z2, a2 = exercise1_forward(params, x)
    print(f"Exercise 1 ({args.loss}): x = ({x[0]:g}, {x[1]:g}), y = {y:g}, "
          + ", ".join(f"{k} = {v:g}" for k, v in params.items()))
    print(f"  forward: z₁ = {z1:.6g}, a₁ = {a1:.6g}, z₂ = {z2:.6g}, a₂ = {a2:.6g}, "
          f"L = {loss_fn(params, x, y):.6g}")
    if near_kink(params, x):
        print(f"  warning: z₁ = {z1:.3g} sits at ReLU's kink (z = 0), where ReLU has no slope: "
              "ReLU'(0) is a convention\n"
              "           (we take 0), and the numerical gradient there averages the two slopes. "
              "Pick inputs with z₁ clearly ≠ 0.")
    if not mine:
        print("\nDerive ∂L/∂w1_1, ∂L/∂w1_2, ∂L/∂b1, ∂L/∂w2, ∂L/∂b2 on paper, then check them:\n"
              "  python -m pure.examples [--x X1 X2 --y Y --params ...] --mine w1_1=... w1_2=... "
              "b1=... w2=... b2=...\n"
              "(python -m pure.examples --answer shows the worked answer.)")
        return 0
    marks = mark_exercise1(params, x, y, mine, args.loss)
    checked = numerical(params, x, y)
    print(f"\n  {'gradient':<10} {'yours':>14}  verdict")
    for name, (value, right, ok) in marks.items():
        verdict = "right" if ok else (f"WRONG: the right value is {right:.6g} "
                                      f"(numerical gradient: {checked[name] + 0.0:.6g})")
        print(f"  ∂L/∂{name:<6} {value:>14.6g}  {verdict}")
    missing = [n for n in EXERCISE1_NAMES if n not in mine]
    wrong = [n for n, (_, _, ok) in marks.items() if not ok]
    print(f"\n{len(marks) - len(wrong)} of {len(marks)} right (right = within 0.5 % of the chain "
          f"rule's value)" + (f"; not given: {', '.join(missing)}" if missing else ""))
    return 1 if wrong else 0


if __name__ == "__main__":
    checks.exit_with(checks.run_command, main)
