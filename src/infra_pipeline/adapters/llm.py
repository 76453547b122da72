"""Asking a model for a review: Anthropic through its official SDK, or any OpenAI-compatible
chat-completions endpoint through httpx.

Keys and base URLs come from the environment mapping passed in, never from `os.environ`
directly, so what a run uses is what its caller decided.

The Anthropic SDK is the `[review]` extra and is imported only when a review asks it: a base
install stays lean, and `missing_sdk` says how to add it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import httpx
from msgspec import Struct

from ..config import ReviewConfig

if TYPE_CHECKING:
    import anthropic

ANTHROPIC_URL = "https://api.anthropic.com"
OPENAI_URL = "https://api.openai.com/v1"
TIMEOUT_SECONDS = 120.0
ATTEMPTS = 3


class ModelError(Exception):
    """The model could not be asked; the message says why (status and the API's words)."""


class Credentials(Struct, frozen=True):
    key_env: str  # the variable the key is read from
    key: str | None
    base_url: str


def credentials(config: ReviewConfig, env: Mapping[str, str]) -> Credentials:
    if config.provider == "openai":
        key_env = config.api_key_env or "OPENAI_API_KEY"
        base = config.base_url or env.get("OPENAI_BASE_URL") or OPENAI_URL
    else:
        key_env = config.api_key_env or "ANTHROPIC_API_KEY"
        base = config.base_url or env.get("ANTHROPIC_BASE_URL") or ANTHROPIC_URL
    return Credentials(key_env, env.get(key_env) or None, base.rstrip("/"))


def missing_sdk(config: ReviewConfig) -> str | None:
    """Why this install cannot ask the configured provider, or None when it can."""
    if config.provider != "anthropic":
        return None  # OpenAI-compatible endpoints are plain HTTP through httpx
    try:
        import anthropic  # noqa: F401
    except ImportError:
        return (
            "the anthropic SDK is not installed: install the review extra "
            "(pip install 'infra-pipeline[review]', or the infra-pipeline action, which has it)"
        )
    return None


def ask(
    config: ReviewConfig,
    creds: Credentials,
    *,
    system: str,
    user: str,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """The model's answer as text. Raises ModelError."""
    if not creds.key:
        raise ModelError(f"{creds.key_env} is not set")
    if config.provider == "openai":
        return _ask_openai(config, creds.key, creds.base_url, system, user, sleep)
    return _ask_anthropic(config, creds.key, creds.base_url, system, user)


def _ask_anthropic(config: ReviewConfig, key: str, base_url: str, system: str, user: str) -> str:
    import anthropic

    # The SDK retries connection errors, 408/409/429 and 5xx itself, honouring Retry-After.
    client = anthropic.Anthropic(
        api_key=key, base_url=base_url, timeout=TIMEOUT_SECONDS, max_retries=ATTEMPTS - 1
    )
    try:
        message = client.messages.create(
            model=config.model,
            max_tokens=config.max_tokens,
            system=system,
            messages=[{"role": "user", "content": user}],
        )
    except anthropic.APIStatusError as exc:
        raise ModelError(f"Anthropic API answered {exc.status_code}: {_api_message(exc)}") from exc
    except anthropic.APIError as exc:
        raise ModelError(f"Anthropic API: {exc.message}") from exc
    finally:
        client.close()
    return "".join(block.text for block in message.content if block.type == "text")


def _api_message(exc: anthropic.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return exc.message


def _ask_openai(
    config: ReviewConfig,
    key: str,
    base_url: str,
    system: str,
    user: str,
    sleep: Callable[[float], None],
) -> str:
    payload = {
        "model": config.model,
        "max_tokens": config.max_tokens,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, timeout=TIMEOUT_SECONDS) as client:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                response = client.post("/chat/completions", json=payload, headers=headers)
            except httpx.TransportError as exc:
                if attempt == ATTEMPTS:
                    raise ModelError(f"{base_url}: {type(exc).__name__}: {exc}") from exc
            else:
                retryable = response.status_code == 429 or response.status_code >= 500
                if not retryable or attempt == ATTEMPTS:
                    break
            sleep(2.0**attempt)
    if response.status_code != 200:
        raise ModelError(f"{base_url} answered {response.status_code}: {response.text[:300]}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ModelError(f"{base_url}: not a chat-completions response") from exc
    return content if isinstance(content, str) else ""
