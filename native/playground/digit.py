"""View 2: a drawn digit through the network — MNIST's own preprocessing, then one
forward and one backward pass by ``native`` (§5.4, §5.5) for that single sample.

MNIST was made so (LeCun et al.): each digit's bounding box scaled to fit a 20×20
box, aspect ratio kept, grey levels from the anti-aliasing kept, then placed in a
28×28 field so that its centre of mass sits at the centre. ``mnist_style`` does
the same to the canvas's ink.
"""

import base64

import numpy as np

import native

BOX, FIELD = 20, 28
SHOWN_UNITS = 64          # ∂L/∂W₁ images drawn (the chapter's layer has exactly 64)


def _area_matrix(n_in, n_out):
    """(n_out, n_in) matrix averaging input cells over each output cell's span (box filter):
    the grey levels a scanner's anti-aliasing would give."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        lo, hi = edges[o], edges[o + 1]
        for i in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            m[o, i] = min(hi, i + 1) - max(lo, i)
        m[o] /= hi - lo
    return m


def mnist_style(ink):
    """A (h, w) array of ink 0…255 → (28, 28) uint8 as MNIST was made; all zeros if no ink."""
    ink = np.asarray(ink, dtype=np.float64)
    rows, cols = np.nonzero(ink > 0)
    out = np.zeros((FIELD, FIELD), dtype=np.uint8)
    if rows.size == 0:
        return out
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = crop.shape
    k = BOX / max(h, w)                                      # longer side → 20 pixels
    nh, nw = max(1, round(h * k)), max(1, round(w * k))
    small = _area_matrix(h, nh) @ crop @ _area_matrix(w, nw).T
    total = small.sum()
    cy = (small.sum(axis=1) @ np.arange(nh)) / total         # centre of mass, pixel-centre coordinates
    cx = (small.sum(axis=0) @ np.arange(nw)) / total
    # MNIST's centres of mass sit at (14.0, 14.0) ± 0.3 in these coordinates (measured on
    # its test set), i.e. at FIELD/2, not at the middle pixel 13.5
    top = int(round(FIELD / 2 - cy))
    left = int(round(FIELD / 2 - cx))
    top, left = min(max(top, 0), FIELD - nh), min(max(left, 0), FIELD - nw)
    out[top:top + nh, left:left + nw] = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    return out


def f32_b64(a):
    """An array as base64 little-endian float32: 50,176 gradient entries in 270 KB of JSON, not 1 MB."""
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def forward_backward(image, weights, biases, label=None):
    """One digit (28×28 uint8) through the network: the page's numbers for the draw view.

    Inputs scaled to [0, 1] as the trainer scales them (x/255). With a label, the
    backward pass of this one sample (N = 1): every layer's δ and ∂L/∂W₁, one
    28×28 image per hidden unit of layer 1."""
    X = image.reshape(1, -1).astype(weights[0].dtype) / 255.0
    activations, pre_activations = native.forward(X, weights, biases)
    out = {"input": X[0].tolist(),
           "hidden": [a[0].tolist() for a in activations[1:-1]],
           "probs": activations[-1][0].tolist()}
    if label is not None:
        Y = np.zeros((1, weights[-1].shape[1]), dtype=X.dtype)
        Y[0, label] = 1.0
        grad_w, grad_b = native.backward(activations, pre_activations, weights, Y)
        out["loss"] = float(native.cross_entropy(activations[-1], Y))
        out["deltas"] = [g[0].tolist() for g in grad_b]        # N = 1: ∂L/∂bₖ = Σδₖ = δₖ
        shown = grad_w[0][:, :SHOWN_UNITS]                     # a wide layer: its first 64 units
        out["gW1"] = f32_b64(shown.T)                          # row j: unit j's 784 weights
        out["gW1_absmax"] = float(np.abs(shown).max())
    return out
