"""A custom step for the example: what the plan changes, one line per resource, read from
the plan's JSON that infra writes to $INFRA_PLAN_JSON. Exits 1 when the plan deletes
something (a destroy or a replace), so that the dashboard shows ⚠️ next to the layer when
the step is `blocking: false`, or stops the layer when it is blocking. Turn it on with

    steps:
      post_plan:
        - name: plan-summary
          run: python3 "$INFRA_ROOT/checks/plan_summary.py"
          shell: true
          blocking: false

(docs/custom-steps.md; tests/test_custom_steps_story.py runs it on this example)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main() -> int:
    plan = json.loads(Path(os.environ["INFRA_PLAN_JSON"]).read_text(encoding="utf-8"))
    layer = os.environ.get("INFRA_LAYER", "?")
    destructive = []
    for change in plan.get("resource_changes") or []:
        actions = change["change"]["actions"]
        if actions == ["no-op"] or actions == ["read"]:
            continue
        print(f"{'/'.join(actions):>14}  {change['address']}")
        if "delete" in actions:
            destructive.append(change["address"])
    if destructive:
        print(
            f"{layer}: the plan destroys or replaces {len(destructive)}: " + ", ".join(destructive)
        )
        return 1
    print(f"{layer}: nothing is deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
