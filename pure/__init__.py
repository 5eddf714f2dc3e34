"""Chapter 5 — backpropagation and mini-batch SGD — in plain Python lists.

Standard library only. Read it beside the chapter:

* ``pure.linalg``   small list helpers (matmul, transpose, ...), apart from the network
* ``pure.network``  §5.4–§5.6: init_network, forward, relu, softmax, cross_entropy,
                    backward, sgd_update
* ``pure.train``    §5.7: the training loop with shuffling and learning-rate decay
* ``pure.exercise2`` exercise 2 on MNIST, standard library only; ``python -m pure.exercise2``
* ``pure.numerical`` §5.8: numerical_gradient, central differences
* ``pure.gradcheck`` exercise 3: backprop vs numerical; ``python -m pure.gradcheck``
                    (``--backward module:function`` checks your own backward)
* ``pure.examples`` §5.3's single neuron and exercise 1 (cross-entropy and squared
                    error); ``python -m pure.examples``
* ``pure.checks``   the input checks behind the friendly ValueErrors

A matrix is a list of rows of floats; a bias is a one-row matrix ``[[b0, b1, ...]]``.
Layers are numbered as in the chapter: ``weights[0]`` is W1, ``biases[0]`` is b1.
"""

import warnings

# `python -m pure.network` (or .train, .numerical) runs a module this package has already
# imported below; runpy then warns that it "may result in unpredictable behaviour". Our
# modules run nothing at import, so that warning, for this package only, is noise.
warnings.filterwarnings("ignore", category=RuntimeWarning,
                        message=r"'pure\.\w+' found in sys\.modules after import of package 'pure'")

from pure.numerical import numerical_gradient  # noqa: E402
from pure.network import (backward, cross_entropy, forward, init_network, relu,  # noqa: E402
                          sgd_update, softmax)
from pure.train import train  # noqa: E402

__all__ = [
    "init_network",
    "forward",
    "relu",
    "softmax",
    "cross_entropy",
    "backward",
    "sgd_update",
    "numerical_gradient",
    "train",
]
