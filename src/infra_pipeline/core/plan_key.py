"""The key that seals a reviewed plan (`plan_reader.seal`): the repository secret
`INFRA_PLAN_KEY`. Apart from the plan reading because the Terraform adapter reads the key
before its first command (to keep it out of Terraform's environment), and the reading is
needed only once Terraform has printed a plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..errors import InfraError

PLAN_KEY_ENV: Final = "INFRA_PLAN_KEY"  # the repository secret that keys `seal`
MIN_KEY_LENGTH: Final = 16


def plan_key(env: Mapping[str, str]) -> bytes | None:
    """The sealing key from `INFRA_PLAN_KEY`, or None when it is unset. A short key is an
    error: a guessable key would make the seal as brute-forceable as the values it hides."""
    value = env.get(PLAN_KEY_ENV, "")
    if not value:
        return None
    if len(value) < MIN_KEY_LENGTH:
        raise InfraError(
            f"{PLAN_KEY_ENV} is {len(value)} characters long: too short to keep sensitive "
            "values from being guessed",
            f"set the secret to a random value of at least {MIN_KEY_LENGTH} characters, "
            "e.g. `openssl rand -hex 32`",
        )
    return value.encode()
