"""How every amyplant command starts: logging set up once, configuration problems told in one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and run the chosen `func`; a bad setting or environment is one line, exit 2."""
    # TensorFlow's C++ start-up chatter (no GPU found, CPU features) hides what the user needs to read.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except (ValidationError, ValueError, RuntimeError, OSError) as error:
        # Configuration and environment problems are explained in one line, not a traceback.
        command = getattr(args, "command", None)
        print(f"{parser.prog}{f' {command}' if command else ''}: {error}", file=sys.stderr)
        return 2
    return code
