"""``python -m native.playground``: start the local server and open the page."""

import argparse
import os
import sys
import threading
import webbrowser


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m native.playground",
        description="Serve the playground: exercise 3 step by step, draw a digit and watch its "
                    "forward and backward pass, train on MNIST live. Every number is computed by "
                    "pure/ or native/ on this server; the page only draws them. Ctrl-C stops it.")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="the network of the draw view (a checkpoint of python -m native.train "
                        "--save); without one it is untrained until the Train view trains one")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this computer only)")
    p.add_argument("--no-browser", action="store_true", help="print the address, do not open a browser")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.exit(2, f"error: --port must be in [0, 65535], got {args.port}\n")
    ckpt = None
    if args.checkpoint:
        from native import checkpoint
        try:
            ckpt = checkpoint.load(args.checkpoint)
        except (checkpoint.CheckpointError, OSError) as e:
            parser.exit(2, f"error: --checkpoint {args.checkpoint}: {e}\n")
        if ckpt.sizes[0] != 784 or ckpt.sizes[-1] != 10:
            parser.exit(2, f"error: --checkpoint {args.checkpoint} is a {ckpt.sizes} network; "
                           "the draw view needs 784 inputs and 10 classes\n")
    from .server import make_server
    try:
        server = make_server(args.host, args.port, ckpt, folder=os.getcwd())
    except OSError as e:
        parser.exit(1, f"error: cannot listen on {args.host}:{args.port}: {e.strerror or e}"
                       " (another program may use it: try --port 0)\n")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: listening on {args.host}: anyone who can reach this address on your "
              "network can use the playground (train, save checkpoints in this folder)",
              file=sys.stderr)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{server.port}/"
    print(f"playground: {url}  (Ctrl-C stops it; checkpoints are saved in {os.getcwd()})", flush=True)
    if not args.no_browser:
        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.training.stop(timeout=0.5)
        server.server_close()
    saved = ", ".join(f"{name} (epoch {epoch})" for name, epoch in server.saved)
    print(f"\nplayground stopped; saved: {saved}" if saved else
          "\nplayground stopped; nothing was saved", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from pure import checks
    checks.exit_with(main)
