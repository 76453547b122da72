"""Remove secrets from text before it leaves the runner (AI review) or reaches a report.

Two kinds of secret: values we know (tokens from the environment, `${VAR}` expansions) are
replaced wherever they appear; values we do not know are found by shape: cloud and GitHub
token formats, private key blocks, bearer tokens, `password = "..."`-style assignments and
the values of Terraform variables declared `sensitive = true`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache

MASK = "***"
# Known values shorter than this are not replaced: masking "1" or "true" everywhere would
# destroy the text without protecting anything.
MIN_SECRET_LENGTH = 6
# A known value is also found escaped or broken by whitespace (`_spelled`) when it is at least
# this long: a shorter one broken anywhere could match ordinary words.
MIN_SPELLED_LENGTH = 12
_SECRET_NAME = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential|auth)"
)

# The patterns below are compiled on their first use, not on import: Terraform's adapter
# imports this module, and compiling them was a fiftieth of the time before its first command.


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...]:
    """Each pattern with the literal text any match contains (in casefolded text): a text
    without it is not scanned at all. A regex scan of a 4 MB plan costs about 0.3 s per
    pattern; `in` costs a few milliseconds, and plans rarely hold any of these."""
    return (
        # PEM private keys of any kind, also when a diff prefixes every line with + or -.
        (
            re.compile(
                r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.DOTALL
            ),
            f"-----BEGIN PRIVATE KEY-----{MASK}-----END PRIVATE KEY-----",
            ("private key-----",),
        ),
        (
            re.compile(r"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}\b"),
            MASK,
            ("akia", "asia", "agpa", "aida", "aroa", "anpa"),
        ),
        (
            re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"),
            MASK,
            ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        ),
        (re.compile(r"\b(sk-ant-[A-Za-z0-9_-]{10,}|sk-[A-Za-z0-9_-]{20,})"), MASK, ("sk-",)),
        (
            re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),  # JWT
            MASK,
            ("eyj",),
        ),
        (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK, ("xox",)),
        (
            re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{12,}"),
            rf"\1 {MASK}",
            ("bearer", "token"),
        ),
        (re.compile(r"(?i)(https?://[^\s:/@]+:)[^\s@/]+@"), rf"\1{MASK}@", ("://",)),
    )


@cache
def _assignment() -> re.Pattern[str]:
    """name = "value", name: value, NAME=value, "name": "value" where the name says secret. A
    name starts at a word's start and is one run of name characters that contains a secret
    word (the lookahead): written as `\\w*secret\\w*` instead, a long run of letters with no
    `=` in sight (a 100,000-character output line) took cubic time to give up on."""
    return re.compile(
        r"""(?ix)
        (?P<key>(?<![\w.-])["']?
            (?=[\w.-]*?(?:pass(?:word|wd|phrase)?s?(?![a-z])|secret|token|api[_-]?key
                |private[_-]?key|access[_-]?key|credentials?))
            [\w.-]+["']?\s*[:=]\s*)
        (?P<value>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\s,;"'{}\[\]()=\\]+)
        """
    )


@cache
def _not_a_secret() -> re.Pattern[str]:
    """Values that name a secret instead of holding one: references, numbers, booleans."""
    return re.compile(
        r"(?i)^(true|false|null|none|\d+|(var|local|module|data|each|os|env|secrets)\.[\w.\[\]-]+"
        r"|[a-z_]\w*(\.[\w-]+){2,})$"
    )


@cache
def _sensitive_var() -> re.Pattern[str]:
    return re.compile(r'variable\s+"(?P<name>[\w-]+)"\s*\{(?P<body>.*?)\n[+\- ]?\}', re.DOTALL)


@cache
def _default() -> re.Pattern[str]:
    return re.compile(r'(default\s*=\s*)("[^"\n]*"|[^\s\n]+)')


# The words one of which every `_assignment()` key contains, casefolded.
_SECRET_WORDS = ("pass", "secret", "token", "api", "private", "access", "credential")


def redact(text: str, known: Iterable[str] = ()) -> str:
    """`text` with every known secret value and every secret-shaped string replaced by ***.

    One pass per pattern, over the whole text, and only for the patterns whose literal part
    the text contains (see `_patterns`); the assignment pattern runs only on the lines around
    a secret word (`_assignments`)."""
    values = {v for v in known if len(v) >= MIN_SECRET_LENGTH}
    for value in sorted({e for v in values for e in encodings(v)}, key=len, reverse=True):
        text = text.replace(value, MASK)
    for value in values:
        if len(value) >= MIN_SPELLED_LENGTH:
            text = _spelled(value).sub(MASK, text)
    if "sensitive" in text:
        text = _redact_sensitive_variables(text)
    folded = text.casefold()
    for pattern, replacement, needles in _patterns():
        if any(needle in folded for needle in needles):
            text = pattern.sub(replacement, text)
            folded = text.casefold()
    return _assignments(text, folded)


@lru_cache(maxsize=256)
def encodings(value: str) -> frozenset[str]:
    """`value` and its base64 forms, each of which is masked too: Basic auth or a base64 blob
    quotes a secret that way, where a search for the plain value misses it. As GitHub's
    runner masks: each of the three byte alignments, keeping only the characters the value
    alone decides (so a base64 run with the secret anywhere inside is caught), standard and
    URL-safe. Escapes (URL, JSON, XML) are `_spelled`'s."""
    found = {value}
    raw = value.encode()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode().rstrip("=")
        # Leading characters mix in the padding; trailing ones whatever follows the value.
        core = encoded[(0, 2, 3)[pad] : (pad + len(raw)) * 8 // 6]
        found |= {core, core.replace("+", "-").replace("/", "_")}
    return frozenset(e for e in found if len(e) >= MIN_SECRET_LENGTH)


@lru_cache(maxsize=256)
def _spelled(value: str) -> re.Pattern[str]:
    """`value` however output spells it: any character URL-encoded (`%2F`, `+` for a
    space), JSON-escaped (`\\"`, `\\u0026`) or an XML/HTML entity (`&amp;`, `&#38;`, `&#x26;`),
    mixed as a tool mixes them, and broken anywhere by whitespace (a terminal or a formatter
    wrapping a long line; XML turns a line break inside an attribute, a JUnit failure
    message's, into a space)."""
    parts = []
    for ch in value:
        code = ord(ch)
        forms = [re.escape(ch), f"&#0*{code};", f"(?i:&#x0*{code:x};)", rf"\\u(?i:{code:04x})"]
        forms += [f"(?i:{''.join(f'%{b:02x}' for b in ch.encode())})"]
        if ch in _ENTITIES:
            forms.append(_ENTITIES[ch])
        if ch in '"\\/':
            forms.append(re.escape("\\" + ch))
        if ch == " ":
            forms.append(r"\+")
        parts.append("(?:" + "|".join(forms) + ")")
    return re.compile(r"\s{0,16}".join(parts))


_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&(?:apos|#39);"}


def _assignments(text: str, folded: str) -> str:
    """`_assignment()` applied to `text`, scanning only the lines where a key could be.

    A key holds a secret word and never spans lines, so a match starts on a line that holds
    one; after the key, `\\s*[:=]\\s*value` can only cross blank lines, so the match ends by
    the second non-blank line after it. Each such region starts at a line start (where the
    key's look-behind sees what it sees in the whole text), overlapping regions are merged,
    and so the result is exactly the whole-text substitution's."""
    if not any(word in folded for word in _SECRET_WORDS):
        return text
    if len(folded) != len(text):  # casefolding moved positions (ß -> ss): scan it all
        return _assignment().sub(_mask_assignment, text)
    regions: list[tuple[int, int]] = []
    for word in _SECRET_WORDS:
        at = folded.find(word)
        while at != -1:
            line_end = text.find("\n", at)
            regions.append((text.rfind("\n", 0, at) + 1, _after_non_blank_lines(text, line_end, 2)))
            at = -1 if line_end == -1 else folded.find(word, line_end)
    regions.sort()
    out, done = [], 0
    merged: list[list[int]] = []
    for start, end in regions:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        out.append(text[done:start])
        out.append(_assignment().sub(_mask_assignment, text[start:end]))
        done = end
    out.append(text[done:])
    return "".join(out)


def _after_non_blank_lines(text: str, newline: int, count: int) -> int:
    """Where the `count`-th non-blank line after the line ending at `newline` ends."""
    at = newline
    while count and at != -1:
        nxt = text.find("\n", at + 1)
        if text[at + 1 : nxt if nxt != -1 else len(text)].strip():
            count -= 1
        at = nxt
    return len(text) if at == -1 else at


def _mask_assignment(match: re.Match[str]) -> str:
    value = match.group("value")
    if value == MASK or _not_a_secret().match(value) or MASK in value:
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
        return match.group(0).replace(body, _default().sub(rf'\1"{MASK}"', body))

    text = _sensitive_var().sub(mask_default, text)
    for name in names:
        text = re.sub(
            rf'(?m)^([+\- ]?\s*{re.escape(name)}\s*=\s*)("[^"\n]*"|\S+)',
            rf'\1"{MASK}"',
            text,
        )
    return text
