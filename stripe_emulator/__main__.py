"""`python -m stripe_emulator --port 12111 [--state FILE]`."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from .server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stripe_emulator", description="A local emulator of the Stripe API."
    )
    parser.add_argument("--port", type=int, default=12111, help="port on 127.0.0.1 (0: any)")
    parser.add_argument("--state", help="JSON file to load state from and save it to")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)

    server = EmulatorServer(port=args.port, state_path=args.state, verbose=args.verbose)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    # SIGTERM (what test fixtures and process managers send) shuts down cleanly and
    # saves state, like Ctrl-C does.
    signal.signal(signal.SIGTERM, stop)
    print(f"stripe-emulator listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
