"""The chapter's default run on several seeds: does each reach the bar?

    python benchmarks/accuracy_seeds.py                 # seeds 0-4, bar 97.0 %
    python benchmarks/accuracy_seeds.py --seeds 0 1 --min-accuracy 97.2

Runs ``python -m native.train --seed S`` (the chapter's settings: 784→64→32→10,
batch 64, lr 0.1, decay 0.95, 10 epochs) once per seed, prints each seed's
test accuracy and training seconds, and exits 1 if any seed is below the bar
(0 if all reach it, 2 if a run failed). Each command is printed before it
runs, so any line can be repeated by hand.
"""
import argparse
import sys

from train_runs import TrainError, command_text, train


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], metavar="S",
                   help="seeds to run (default: 0 1 2 3 4)")
    p.add_argument("--min-accuracy", type=float, default=97.0, metavar="PCT",
                   help="the bar every seed must reach, in %% (default: 97.0)")
    p.add_argument("--data-dir", metavar="DIR", help="passed on to the trainer")
    args = p.parse_args(argv)
    if any(s < 0 for s in args.seeds):
        p.error(f"--seeds must be 0 or more, got {args.seeds}")
    if not 0 < args.min_accuracy <= 100:
        p.error(f"--min-accuracy must be in (0, 100], got {args.min_accuracy}")

    extra = ["--data-dir", args.data_dir] if args.data_dir else []
    results = []
    for seed in args.seeds:
        run_args = ["--seed", str(seed), *extra]
        print(f"$ {command_text(run_args)}", flush=True)
        try:
            run = train(run_args)
        except TrainError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        ok = run.accuracy >= args.min_accuracy
        results.append((seed, run, ok))
        print(f"  seed {seed}: test accuracy {run.accuracy:.2f}%  "
              f"({run.epochs} epochs, {run.seconds:.2f} s of training)  "
              f"{'ok' if ok else 'BELOW ' + format(args.min_accuracy, '.1f') + ' %'}", flush=True)

    accs = [r.accuracy for _, r, _ in results]
    failed = [s for s, _, ok in results if not ok]
    print(f"\nseeds {' '.join(map(str, args.seeds))}: test accuracy {min(accs):.2f}–{max(accs):.2f}% "
          f"(mean {sum(accs) / len(accs):.2f}%); bar {args.min_accuracy:.1f}%: "
          + ("every seed reaches it" if not failed else f"NOT reached by seed(s) {failed}"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
