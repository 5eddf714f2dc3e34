"""Exercise 2 of the chapter in plain Python: train on MNIST from random weights
and watch the loss fall, with nothing but the standard library.

    python -m pure.exercise2              # 2,000 samples, one epoch, ~20 s
    python -m pure.exercise2 --help

It reads MNIST's IDX files (fetched once by ``python -m native.data``), prints
the loss before training and after every epoch, and shows progress within the
epoch. The loop itself is §5.7's ``train()`` in pure/train.py.
"""

from pure.network import cross_entropy, forward
from pure.train import train


def main(argv=None):
    import argparse
    import math
    import sys
    import time

    from pure import init_network
    from pure import mnist_files
    from pure.progress import Progress

    p = argparse.ArgumentParser(
        prog="python -m pure.exercise2",
        description="Exercise 2 of the chapter in plain Python: train the 784→64→32→10 network "
                    "on the first --limit MNIST samples with pure/'s own functions, printing the "
                    "loss before training, progress within each epoch, and per epoch the mean of "
                    "its mini-batch losses and the test accuracy. Standard library only; about "
                    "100 samples/s, so the default 2,000 samples take ~20 s an epoch.",
        epilog="The data: the four MNIST IDX files (gzipped or not) in --data-dir, "
               "BACKPROP_DATA_DIR, or the cache that `python -m native.data` fills.")
    p.add_argument("--limit", type=int, default=2000, help="training samples (default: 2000)")
    p.add_argument("--test-limit", type=int, default=1000, help="test samples (default: 1000)")
    p.add_argument("--epochs", type=int, default=1, help="epochs (default: 1, as exercise 2 asks)")
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 64, 32, 10], metavar="N",
                   help="layer widths (default: 784 64 32 10)")
    p.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default: 64)")
    p.add_argument("--lr", type=float, default=0.1, help="initial learning rate (default: 0.1)")
    p.add_argument("--decay", type=float, default=0.95, help="per-epoch decay (default: 0.95)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the shuffling (default: 0)")
    p.add_argument("--data-dir", metavar="DIR", help="a folder holding the four IDX files")
    args = p.parse_args(argv)
    errors = []
    for name in ("limit", "test_limit", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            errors.append(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not (args.lr > 0 and math.isfinite(args.lr)):
        errors.append(f"--lr must be a positive number, got {args.lr}")
    if not 0 < args.decay <= 1:
        errors.append(f"--decay must be in (0, 1], got {args.decay}")
    if args.seed < 0:
        errors.append(f"--seed must be 0 or more, got {args.seed}")
    if len(args.sizes) < 2 or args.sizes[0] != 784 or args.sizes[-1] != 10 or min(args.sizes) < 1:
        errors.append(f"--sizes must start with 784 (28×28 pixels), end with 10 (classes) and be "
                      f"positive, got {args.sizes}")
    elif sum(a * b for a, b in zip(args.sizes, args.sizes[1:])) > 50_000_000:
        errors.append(f"--sizes {args.sizes}: too many weights for plain Python lists")
    if errors:
        p.exit(2, "error: " + "\n       ".join(errors) + "\n")
    try:
        return _exercise2(args, init_network, mnist_files, Progress, time)
    except mnist_files.MnistFileError as e:
        p.exit(1, f"error: {e}\n")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _exercise2(args, init_network, mnist_files, Progress, time):
    folders = [args.data_dir] if args.data_dir else None
    X, y = mnist_files.load("train", args.limit, folders)
    X_test, y_test = mnist_files.load("test", args.test_limit, folders)
    onehot = lambda labels: [[1.0 if k == v else 0.0 for k in range(10)] for v in labels]
    Y = onehot(y)
    weights, biases = init_network(args.sizes, seed=args.seed)
    print(f"MNIST: {len(X):,} training / {len(X_test):,} test samples; network "
          f"{'→'.join(map(str, args.sizes))}; pure Python; batch {args.batch_size}, lr {args.lr:g}, "
          f"decay {args.decay:g}, seed {args.seed}", flush=True)
    n0 = min(len(X), 500)       # enough for two decimals, and a few seconds at most
    activations, _ = forward(X[:n0], weights, biases)
    print(f"loss before training: {cross_entropy(activations[-1], Y[:n0]):.4f} (mean cross-entropy on "
          f"{n0:,} training samples; ln 10 = 2.3026 is a uniform guess). Each epoch's loss "
          "below is the mean of its mini-batch losses.", flush=True)

    state = {"progress": None, "losses": []}

    def on_batch(epoch, done, loss):
        if state["progress"] is None:
            state["progress"] = Progress(len(X), label=f"epoch {epoch + 1}/{args.epochs}: ")
            state["losses"] = []
        state["losses"].append(loss)
        state["progress"].update(done, sum(state["losses"]) / len(state["losses"]))

    def after_epoch(epoch, loss):
        state["progress"].finish()
        state["progress"] = None
        acts, _ = forward(X_test, weights, biases)
        pred = [max(range(10), key=row.__getitem__) for row in acts[-1]]
        acc = sum(int(a == b) for a, b in zip(pred, y_test)) / len(y_test)
        dt = time.perf_counter() - state["t0"]
        print(f"epoch {epoch + 1:2d}/{args.epochs}  loss {loss:.4f}  test acc {100 * acc:6.2f}%  "
              f"{dt:6.1f} s", flush=True)
        state["t0"] = time.perf_counter()

    state["t0"] = time.perf_counter()
    train(X, Y, weights, biases, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
          decay_rate=args.decay, seed=args.seed, callback=after_epoch, on_batch=on_batch)
    return 0



if __name__ == "__main__":
    from pure import checks
    checks.exit_with(main)
