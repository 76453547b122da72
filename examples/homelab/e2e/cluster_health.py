"""Health probe for the example: is the stand-in for the live cluster there and sane?

`live/cluster.json` plays the part of the k3s API in the example (see bootstrap/main.tf), so
reading it is this example's honest equivalent of asking the cluster whether it is up.
Prints one line for the health table; exits 1 when the cluster looks unhealthy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(path: str = "live/cluster.json") -> int:
    try:
        cluster = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {path}: {exc}")
        return 1
    nodes = cluster.get("nodes") or []
    if not nodes:
        print(f"{cluster.get('name', '?')}: no nodes")
        return 1
    print(f"{cluster['name']}: {len(nodes)} nodes, k3s {cluster.get('k3s_version', '?')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
