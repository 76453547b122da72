"""Turn a pull-request comment into a command, a reply, or nothing.

Pure and total: no I/O, and every input yields a value instead of an exception. A returned
`Command` only ever holds names copied from the configured layer and suite lists, so nothing a
commenter types can reach a shell, a path or a Terraform argument.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TypeAlias

from msgspec import Struct

from .atlantis_comments import Answer, AsInfra, NotACommand, fold, read_atlantis
from .dashboard.model import legend


class CommandName(Enum):
    PLAN = "plan"
    APPLY = "apply"
    HEALTH = "health"
    E2E = "e2e"
    REVIEW = "review"
    HELP = "help"
    UNLOCK = "unlock"
    FORCE_UNLOCK = "force-unlock"
    APPROVE_POLICIES = "approve_policies"

    @property
    def slash(self) -> str:
        return f"/{self.value}"


class Command(Struct, frozen=True):
    """A valid command. `layers` is empty when none were named (the command picks a default)."""

    name: CommandName
    layers: tuple[str, ...]
    all_layers: bool
    suite: str | None
    raw: str
    alias: str | None  # the legacy spelling used (e.g. "atlantis plan"), to nudge users off it
    lock_id: str | None = None  # `/force-unlock LAYER LOCK_ID`: checked against _LOCK_ID


class Reply(Struct, frozen=True):
    """The comment was meant as a command but is invalid; `text` is Markdown to post back."""

    text: str
    command: CommandName | None


class Ignore(Struct, frozen=True):
    reason: str


ParseResult: TypeAlias = Command | Reply | Ignore


class _Args(Enum):
    NONE = "none"
    LAYERS = "layers"
    SUITE = "suite"
    ANY = "any"  # accepted and dropped
    LAYER_AND_LOCK = "layer-and-lock"  # exactly one layer and one state lock ID


class _Spec(Struct, frozen=True):
    args: _Args
    usage: str
    summary: str


_SPECS: dict[CommandName, _Spec] = {
    CommandName.PLAN: _Spec(
        _Args.LAYERS, "[layer…|all]", "Preview changes; with no layer, the layers this PR touches."
    ),
    CommandName.APPLY: _Spec(
        _Args.LAYERS, "[layer…|all]", "Deploy the planned changes (needs a passed plan)."
    ),
    CommandName.HEALTH: _Spec(_Args.NONE, "", "Probe service connectivity."),
    CommandName.E2E: _Spec(_Args.SUITE, "[suite]", "Run the end-to-end tests, e.g. `/e2e smoke`."),
    CommandName.REVIEW: _Spec(_Args.NONE, "", "AI code review of this pull request."),
    CommandName.HELP: _Spec(_Args.ANY, "", "Show this help."),
    CommandName.UNLOCK: _Spec(
        _Args.LAYERS, "[layer…]", "Release this PR's layer locks; with no layer, all of them."
    ),
    CommandName.FORCE_UNLOCK: _Spec(
        _Args.LAYER_AND_LOCK,
        "layer lock-id",
        "Release a stale Terraform state lock (admin; the ID is in the reply that reported it).",
    ),
    CommandName.APPROVE_POLICIES: _Spec(
        _Args.NONE,
        "",
        "Let `/apply` go ahead on this commit despite the failed policy check "
        "(`policies.approvers`, `maintain` by default).",
    ),
}


class _Alias(Struct, frozen=True):
    words: tuple[str, ...]
    command: CommandName
    # `@claude` is usually followed by a request in prose; the words stay in `Command.raw`.
    free_text: bool = False

    @property
    def text(self) -> str:
        return " ".join(self.words)


_ALIASES = (
    _Alias(("atlantis", "plan"), CommandName.PLAN),
    _Alias(("atlantis", "apply"), CommandName.APPLY),
    _Alias(("atlantis", "unlock"), CommandName.UNLOCK),
    _Alias(("atlantis", "help"), CommandName.HELP),
    _Alias(("atlantis", "approve_policies"), CommandName.APPROVE_POLICIES),
    _Alias(("infra", "dig"), CommandName.HEALTH),
    _Alias(("@claude",), CommandName.REVIEW, free_text=True),
)
_BY_NAME = {c.value: c for c in CommandName}
_ATLANTIS_UNSUPPORTED = frozenset({"import", "state", "version"})
_OWN_MARKERS = ("<!-- infra-pipeline -->", "<!-- infra-dashboard:")
_ALL = "all"
_PROJECT_FLAGS = ("-p", "--project")
_MAX_ARGS = 50  # bounds the work (and the reply) for a pasted wall of text
_MAX_SHOWN = 40  # longest echo of user text in a reply
_MAX_LISTED = 5  # unknown names echoed back
_MAX_VALID = 30  # valid names listed in a reply; `/help` lists them all

# A lock ID goes to the engine as one argument: a pg session's pid, or a backend's lock UUID.
# It must not look like a flag.
_LOCK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_FENCE_CLOSE = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")


def parse_comment(
    body: str,
    *,
    author: str,
    author_type: str,
    layers: Sequence[str],
    suites: Sequence[str],
    bot_login: str | None = None,
    layer_paths: Mapping[str, str] | None = None,
) -> ParseResult:
    """Parse a PR comment whose first meaningful line may be a command.

    Quoted lines and fenced code are skipped, so quoting someone's `/apply` never runs it.
    """
    if _is_bot(author, author_type, bot_login):
        return Ignore("comment by a bot")
    if any(marker in body for marker in _OWN_MARKERS):
        return Ignore("comment written by infra-pipeline")
    line = _first_meaningful_line(body)
    if line is None:
        return Ignore("no command line")
    line = line.strip("`").strip()  # a command pasted as inline code, as Atlantis accepts
    words = line.split()
    if not words:
        return Ignore("no command line")
    if fold(words[0]) in ("atlantis", "terraform"):
        single_line = "\n" not in body.strip()
        return _from_atlantis(
            read_atlantis(words, single_line=single_line, layer_paths=layer_paths or {}),
            line,
            tuple(layers),
            tuple(suites),
        )
    matched = _match_command(words)
    if isinstance(matched, Reply | Ignore):
        return matched
    name, alias, args = matched
    return _validate(name, alias, args, line, tuple(layers), tuple(suites))


def _from_atlantis(
    read: AsInfra | Answer | NotACommand,
    line: str,
    layers: tuple[str, ...],
    suites: tuple[str, ...],
) -> ParseResult:
    """The value of a comment in Atlantis's spelling (core/atlantis_comments reads it)."""
    if isinstance(read, NotACommand):
        return Ignore(read.reason)
    if isinstance(read, Answer):
        name = _BY_NAME.get(read.command or "")
        return Reply(f"{read.text}\n\n{_usage_hint(name)}", name)
    name = _BY_NAME[read.command]
    if read.usage:
        return Reply(f"{_SPECS[name].summary}\n\n{_usage_hint(name)}", name)
    alias = next(a for a in _ALIASES if a.words == ("atlantis", name.value))
    return _validate(name, alias, list(read.layers), line, layers, suites)


def _is_bot(author: str, author_type: str, bot_login: str | None) -> bool:
    login = author.casefold()  # GitHub logins are case-insensitive
    if bot_login and login == bot_login.casefold():
        return True
    return author_type.casefold() == "bot" or login.endswith("[bot]")


def _first_meaningful_line(body: str) -> str | None:
    """The first line a reader sees as plain text, or None if that is code or there is none."""
    fence: str | None = None
    in_quote = False
    for line in body.splitlines():
        if fence is not None:
            close = _FENCE_CLOSE.fullmatch(line)
            if close and close[1][0] == fence[0] and len(close[1]) >= len(fence):
                fence = None
            continue
        opener = _FENCE.match(line)
        if opener and not (opener[1][0] == "`" and "`" in opener[2]):
            fence, in_quote = opener[1], False
            continue
        stripped = line.strip()
        if not stripped:
            in_quote = False
            continue
        indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
        # A line right after a quote continues it (Markdown's lazy continuation), and is
        # rendered inside the quote; 4+ spaces of indent render as a code block.
        if in_quote or (indent < 4 and stripped.startswith(">")):
            in_quote = True
            continue
        return None if indent >= 4 else stripped
    return None


_Matched: TypeAlias = tuple[CommandName, _Alias | None, list[str]]


def _match_command(words: list[str]) -> _Matched | Reply | Ignore:
    folded = [fold(w) for w in words[:2]]
    for alias in _ALIASES:
        if tuple(folded[: len(alias.words)]) == alias.words:
            return alias.command, alias, words[len(alias.words) :]
    head = folded[0]
    if head.startswith("/") and len(head) > 1 and "/" not in head[1:]:
        known = _BY_NAME.get(head[1:])
        return (known, None, words[1:]) if known else _unknown_command(words[0], head[1:])
    if head in ("infra", "atlantis") and len(folded) > 1:
        word = folded[1]
        if head == "infra" and word in _BY_NAME:
            return _BY_NAME[word], None, words[2:]
        if head == "atlantis" and word in _ATLANTIS_UNSUPPORTED:
            text = f"{_code(' '.join(words[:2]))} is not supported by infra-pipeline."
            return Reply(f"{text}\n\n{_usage_hint()}", None)
        # "infra" is an ordinary word in an infra repo: only reply when it looks like a typo.
        if _nearest(word, [*_BY_NAME, "dig"], cutoff=0.75):
            return _unknown_command(" ".join(words[:2]), word)
    return Ignore("first line is not a command")


def _unknown_command(shown: str, word: str) -> Reply:
    text = f"Unknown command {_code(shown)}."
    near = _nearest(word, list(_BY_NAME)) or ("health" if _nearest(word, ["dig"]) else None)
    if near:
        text += f" Did you mean `/{near}`?"
    valid = ", ".join(f"`{c.slash}`" for c in CommandName)
    return Reply(f"{text}\n\nCommands: {valid}.\n\n{_usage_hint()}", None)


def _validate(
    name: CommandName,
    alias: _Alias | None,
    args: list[str],
    raw: str,
    layers: tuple[str, ...],
    suites: tuple[str, ...],
) -> Command | Reply:
    spec = _SPECS[name]
    alias_text = alias.text if alias else None
    if spec.args is _Args.ANY or (alias is not None and alias.free_text):
        args = []
    if len(args) > _MAX_ARGS:
        return Reply(f"Too many arguments for `{name.slash}`.\n\n{_usage_hint()}", name)
    if spec.args is _Args.LAYERS:
        args = _drop_project_flags(args)
    if spec.args is _Args.NONE and args:
        text = f"`{name.slash}` takes no arguments (got {_code(args[0])})."
        return Reply(f"{text}\n\n{_usage_hint(name)}", name)
    if spec.args is _Args.SUITE:
        return _validate_suite(name, args, raw, alias_text, suites)
    if spec.args is _Args.LAYERS:
        return _validate_layers(name, args, raw, alias_text, layers)
    if spec.args is _Args.LAYER_AND_LOCK:
        return _validate_layer_and_lock(name, args, raw, layers)
    return Command(name, (), False, None, raw, alias_text)


def _validate_layer_and_lock(
    name: CommandName, args: list[str], raw: str, layers: tuple[str, ...]
) -> Command | Reply:
    if len(args) != 2:
        text = f"`{name.slash}` takes a layer and a lock ID (got {len(args)} arguments)."
        return Reply(f"{text}\n\n{_usage_hint(name)}", name)
    layer = _resolve(args[0], layers)
    if layer is None:
        return _unknown_values(name, "layer", args[:1], list(layers))
    if not _LOCK_ID.fullmatch(args[1]):
        text = f"{_code(args[1])} is not a state lock ID."
        return Reply(f"{text}\n\n{_usage_hint(name)}", name)
    return Command(name, (layer,), False, None, raw, None, lock_id=args[1])


def _drop_project_flags(args: list[str]) -> list[str]:
    """Atlantis' `-p <project>` becomes a plain layer argument."""
    out: list[str] = []
    pending = False
    for arg in args:
        if pending:
            out.append(arg)
            pending = False
        elif arg in _PROJECT_FLAGS:
            pending = True
        elif arg.startswith(("-p=", "--project=")):
            out.append(arg.partition("=")[2])
        else:
            out.append(arg)
    if pending:
        out.append("-p")  # reported back as an unknown layer
    return out


def _validate_layers(
    name: CommandName, args: list[str], raw: str, alias: str | None, layers: tuple[str, ...]
) -> Command | Reply:
    if any(fold(a) == _ALL for a in args):
        return Command(name, layers, True, None, raw, alias)
    chosen: list[str] = []
    unknown: list[str] = []
    for arg in args:
        found = _resolve(arg, layers)
        if found is None:
            unknown.append(arg)
        elif found not in chosen:
            chosen.append(found)
    if unknown:
        return _unknown_values(name, "layer", unknown, [*layers, _ALL])
    return Command(name, tuple(chosen), False, None, raw, alias)


def _validate_suite(
    name: CommandName, args: list[str], raw: str, alias: str | None, suites: tuple[str, ...]
) -> Command | Reply:
    if len(args) > 1:
        text = f"`{name.slash}` takes at most one suite (got {len(args)} arguments)."
        return Reply(f"{text}\n\n{_usage_hint(name)}", name)
    if not args:
        return Command(name, (), False, None, raw, alias)
    if not suites:
        return Reply("No e2e suites are configured in `infra.yaml`; use `/e2e` alone.", name)
    found = _resolve(args[0], suites)
    if found is None:
        return _unknown_values(name, "suite", args, list(suites))
    return Command(name, (), False, found, raw, alias)


def _resolve(token: str, names: tuple[str, ...]) -> str | None:
    """An exact name, else the single name that equals it ignoring case."""
    if token in names:
        return token
    folded = [n for n in names if fold(n) == fold(token)]
    return folded[0] if len(folded) == 1 else None


def _unknown_values(name: CommandName, kind: str, unknown: list[str], valid: list[str]) -> Reply:
    shown = ", ".join(_code(u) for u in unknown[:_MAX_LISTED])
    more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
    plural = "s" if len(unknown) > 1 else ""
    text = f"Unknown {kind}{plural} {shown}{more} for `{name.slash}`."
    near = _nearest(unknown[0], valid)
    if near:
        text += f" Did you mean {_code(near, limit=None)}?"
    listed = ", ".join(_code(v, limit=None) for v in valid[:_MAX_VALID]) or "none configured"
    if len(valid) > _MAX_VALID:
        listed += f" and {len(valid) - _MAX_VALID} more"
    return Reply(f"{text}\n\nValid {kind}s: {listed}.\n\n{_usage_hint(name)}", name)


def _nearest(word: str, candidates: Sequence[str], cutoff: float = 0.6) -> str | None:
    if len(word) > 2 * _MAX_SHOWN:
        return None  # nothing that long is a typo of a short name; skip the quadratic work
    by_fold = {c.casefold(): c for c in candidates}
    hits = difflib.get_close_matches(word.casefold(), list(by_fold), n=1, cutoff=cutoff)
    return by_fold[hits[0]] if hits else None


def _code(text: str, limit: int | None = _MAX_SHOWN) -> str:
    """Text as inline code: no backticks, and an invisible character (a control or a
    zero-width one) spelled `\\u200b`, so it cannot break out nor hide why a name is unknown."""
    clean = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text if ch != "`")
    if limit is not None and len(clean) > limit:
        clean = clean[:limit] + "…"
    return f"`{clean}`" if clean.strip() else "`(blank)`"


def _usage_hint(name: CommandName | None = None) -> str:
    if name is None:
        return "Comment `/help` to list the commands."
    usage = " ".join(filter(None, (name.slash, _SPECS[name].usage)))
    return f"Usage: `{usage}`. Comment `/help` to list the commands."


def help_text(
    layers: Sequence[str],
    suites: Sequence[str],
    commands_permissions: Mapping[str, str] | None = None,
) -> str:
    """Markdown for `/help`: the commands, their aliases, and the accepted layers and suites."""
    perms = {k.lstrip("/").casefold(): v for k, v in (commands_permissions or {}).items()}
    header = "| Command | Arguments | What it does | Aliases |"
    rule = "|:---|:---|:---|:---|"
    if perms:
        header += " Who can run it |"
        rule += ":---|"
    rows = [header, rule]
    for name, spec in _SPECS.items():
        aliases = ", ".join(f"`{a.text}`" for a in _ALIASES if a.command is name) or "-"
        usage = f"`{_cell(spec.usage)}`" if spec.usage else "-"
        row = f"| `{name.slash}` | {usage} | {_cell(spec.summary)} | {aliases} |"
        if perms:
            row += f" {_cell(perms.get(name.value, '-'))} |"
        rows.append(row)
    suite_list = ", ".join(_code(s, limit=None) for s in suites) or "none configured"
    return "\n".join(
        [
            "## infra-pipeline commands",
            "",
            "Start a comment with one of these; quoted lines and code blocks are ignored.",
            "",
            *rows,
            "",
            "Every command also works as `infra <command>` (e.g. `infra plan platform`), and "
            "`atlantis plan -p <layer>` (or `-d <path>`) means `/plan <layer>`.",
            "",
            "| Argument | Accepted values |",
            "|:---|:---|",
            f"| layer | {_cell(', '.join(_code(n, limit=None) for n in [*layers, _ALL]))} |",
            f"| suite | {_cell(suite_list)} |",
            "",
            "**What the dashboard's icons mean** (one meaning each):",
            "",
            "| Icon | Meaning |",
            "|:---:|:---|",
            *(f"| {icon} | {_cell(meaning)} |" for icon, meaning in legend()),
        ]
    )


def _cell(text: str) -> str:
    # GFM splits table cells on `|` even inside code spans, hence the escape.
    return " ".join(text.split()).replace("|", "\\|")
