"""The `infra` console script and `python -m infra_pipeline`: `entry.run`, with Python's garbage
collector off while `entry` is imported.

That import (typing, msgspec and the records, the standard library `entry` needs) makes
modules, classes and functions that live as long as the process, and no garbage: the
collector's passes over them (~15, ~2 ms) freed nothing, and `entry.run` cannot turn it off
before its own module is imported. `entry.run` decides from there: the plain `plan`, `verify`
and `validate` keep it off until their first Terraform process runs, every other command
turns it back on at once.
"""

import gc


def run() -> None:
    gc.disable()
    from .entry import run as run_entry

    run_entry()


if __name__ == "__main__":
    run()
