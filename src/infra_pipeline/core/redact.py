"""Remove secrets from text before it leaves the runner (AI review) or reaches a report.

Two kinds of secret: values we know (tokens from the environment, `${VAR}` expansions) are
replaced wherever they appear; values we do not know are found by shape: cloud and GitHub
token formats, private key blocks, bearer tokens, `password = "..."`-style assignments and
the values of Terraform variables declared `sensitive = true`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MASK = "***"
# Known values shorter than this are not replaced: masking "1" or "true" everywhere would
# destroy the text without protecting anything.
MIN_SECRET_LENGTH = 6
_SECRET_NAME = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|auth)"
)

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM private keys of any kind, also when a diff prefixes every line with + or -.
    (
        re.compile(
            r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.DOTALL
        ),
        f"-----BEGIN PRIVATE KEY-----{MASK}-----END PRIVATE KEY-----",
    ),
    (re.compile(r"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b"), MASK),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"), MASK),
    (re.compile(r"\b(sk-ant-[A-Za-z0-9_-]{10,}|sk-[A-Za-z0-9_-]{20,})"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), MASK),  # JWT
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{12,}"), rf"\1 {MASK}"),
    (re.compile(r"(?i)(https?://[^\s:/@]+:)[^\s@/]+@"), rf"\1{MASK}@"),
)
# name = "value", name: value, NAME=value, "name": "value" where the name says secret. A name
# starts at a word's start and is one run of name characters that contains a secret word (the
# lookahead): written as `\w*secret\w*` instead, a long run of letters with no `=` in sight
# (a 100,000-character output line) took cubic time to give up on.
_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<key>(?<![\w.-])["']?
        (?=[\w.-]*?(?:pass(?:word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key
            |access[_-]?key|credentials?))
        [\w.-]+["']?\s*[:=]\s*)
    (?P<value>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\s,;"'{}\[\]()=\\]+)
    """
)
# Values that name a secret instead of holding one: references, numbers, booleans.
_NOT_A_SECRET = re.compile(
    r"(?i)^(true|false|null|none|\d+|(var|local|module|data|each|os|env|secrets)\.[\w.\[\]-]+"
    r"|[a-z_]\w*(\.[\w-]+){2,})$"
)

_SENSITIVE_VAR = re.compile(
    r'variable\s+"(?P<name>[\w-]+)"\s*\{(?P<body>.*?)\n[+\- ]?\}', re.DOTALL
)
_DEFAULT = re.compile(r'(default\s*=\s*)("[^"\n]*"|[^\s\n]+)')


def redact(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every known secret value and every secret-shaped string replaced by ***."""
    for value in sorted({v for v in known if len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(value, MASK)
    text = _redact_sensitive_variables(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _ASSIGNMENT.sub(_mask_assignment, text)


def _mask_assignment(match: re.Match[str]) -> str:
    value = match.group("value")
    if value == MASK or _NOT_A_SECRET.match(value) or MASK in value:
        return match.group(0)
    # The value's own quotes (or none) are kept, and a backslash never starts a value: text
    # that sits inside a JSON string (the dashboard's state) stays valid JSON.
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('key')}{quote}{MASK}{quote}"


def secrets_in_env(env: Mapping[str, str]) -> set[str]:
    """Values of environment variables whose names say they hold a secret (GITHUB_TOKEN, ...)."""
    return {
        value
        for name, value in env.items()
        if _SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH
    }


def _redact_sensitive_variables(text: str) -> str:
    """Mask the default of, and `.tfvars` assignments to, variables declared sensitive."""
    names: list[str] = []

    def mask_default(match: re.Match[str]) -> str:
        body = match.group("body")
        if not re.search(r"sensitive\s*=\s*true", body):
            return match.group(0)
        names.append(match.group("name"))
        return match.group(0).replace(body, _DEFAULT.sub(rf'\1"{MASK}"', body))

    text = _SENSITIVE_VAR.sub(mask_default, text)
    for name in names:
        text = re.sub(
            rf'(?m)^([+\- ]?\s*{re.escape(name)}\s*=\s*)("[^"\n]*"|\S+)',
            rf'\1"{MASK}"',
            text,
        )
    return text
