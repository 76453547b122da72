"""What `terraform init` reads from a module's .tf files, found without evaluating them.

`init` installs the modules the `module` blocks call and the providers the configuration
requires, and configures the backend of the `terraform` block. A change anywhere else in a
.tf file (a resource's arguments, an output) does not change what init would do, so the
engine can reuse an earlier init across such edits. `init_reads` keeps, per file:

- the whole text of every `terraform`, `module` and `check` block (required_providers,
  backend/cloud, module sources and versions, and the data sources a check may declare);
- the header (type and labels) of every other top-level block, since a resource of a new type
  makes init install its provider even without `required_providers`;
- every `provider = …` argument (a resource on an aliased or other provider).

A file the scanner cannot follow (braces that do not balance) is kept whole: it then reruns
init on any edit, never the reverse.
"""

from __future__ import annotations

import re

from msgspec import Struct

_WHOLE_BLOCKS = frozenset({"terraform", "module", "check"})
_NO_PROVIDER = frozenset({"variable", "output", "locals", "moved", "removed", "import"})
_RESOURCES = frozenset({"resource", "data", "ephemeral"})
# A built-in resource type with no `provider =` after its labels (see `_scan`).
_BUILTIN = re.compile(r'^\w+ "terraform_\w*" "[^"]*"$')
_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
    |(?P<heredoc><<-?[ \t]*(?P<tag>[A-Za-z_][\w-]*)[ \t]*\n.*?^[ \t]*(?P=tag)[ \t]*$)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<open>\{)
    |(?P<close>\})
    """,
    re.DOTALL | re.MULTILINE | re.VERBOSE,
)
_COMMENT = re.compile(r"\#[^\n]*|//[^\n]*|/\*.*?\*/", re.DOTALL)
_PROVIDER_ARG = re.compile(r"(?m)^[ \t]*provider[ \t]*=[ \t]*([\w.\-\"]+)")
_SOURCE = re.compile(r'(?m)^[ \t]*source[ \t]*=[ \t]*"([^"\n]*)"')
_SOURCE_OR_VERSION = re.compile(r"(?m)^[ \t]*(?:source|version)[ \t]*=.*$")
# OpenTofu (1.8+) evaluates variables and locals in module sources and backend blocks early:
# then their values are init's inputs too.
_VALUE_REFERENCE = re.compile(r"\b(?:var|local)\.")


class InitReads(Struct, frozen=True):
    """What init reads from one file: `text` to fingerprint, and the local modules it calls."""

    blocks: tuple[str, ...]  # each top-level block as kept (whole, or its header)
    local_modules: tuple[str, ...]  # module sources that are directories (./x, ../x)
    uses_values: bool  # a kept block refers to a variable or local (OpenTofu's early eval)

    @property
    def text(self) -> str:
        return "\n".join(self.blocks)

    @property
    def needs_providers(self) -> bool:
        """Whether init may install a provider for this file: False only when it declares
        no provider, no remote module and nothing but built-in (`terraform_*`) resources."""
        for block in self.blocks:
            keyword = _keyword(block)
            if keyword in _NO_PROVIDER:
                continue
            if keyword == "terraform":
                if "required_providers" in block or "state_store" in block:
                    return True
            elif keyword == "module":
                if not any(is_local_source(s) for s in _SOURCE.findall(block)):
                    return True
            elif keyword not in _RESOURCES or not _BUILTIN.match(block):
                return True
        return False


def init_reads(text: str) -> InitReads:
    """The parts of one .tf file's `text` that `terraform init` reads (see module doc)."""
    kept = _scan(text)
    if kept is None:
        kept = [text]
    blocks = [(_keyword(part), part) for part in kept]
    sources = [
        source
        for keyword, block in blocks
        if keyword == "module"
        for source in _SOURCE.findall(block)
        if is_local_source(source)
    ]
    return InitReads(
        blocks=tuple(kept),
        local_modules=tuple(sources),
        uses_values=any(
            _VALUE_REFERENCE.search(block if keyword == "terraform" else _early(block))
            for keyword, block in blocks
            if keyword in ("terraform", "module")
        ),
    )


def is_local_source(source: str) -> bool:
    return source.startswith(("./", "../"))


def _early(module_block: str) -> str:
    """A module block's `source` and `version` lines: the ones init evaluates."""
    return "\n".join(_SOURCE_OR_VERSION.findall(module_block))


def _keyword(part: str) -> str:
    words = part.split(None, 1)
    return words[0].strip('"') if words else ""


def _scan(text: str) -> list[str] | None:
    """The kept parts of `text` in order, or None when its braces do not balance."""
    kept: list[str] = []
    depth = 0
    segment = 0  # where the current top-level block's header starts
    opened = 0  # where its `{` is
    for token in _TOKEN.finditer(text):
        if token.group("open") is not None:
            if depth == 0:
                opened = token.start()
            depth += 1
        elif token.group("close") is not None:
            depth -= 1
            if depth < 0:
                return None
            if depth == 0:
                header = " ".join(_COMMENT.sub(" ", text[segment:opened]).split())
                body = text[opened : token.end()]
                if _keyword(header) in _WHOLE_BLOCKS:
                    kept.append(f"{header} {body}")
                else:
                    refs = " ".join(_PROVIDER_ARG.findall(_COMMENT.sub(" ", body)))
                    kept.append(f"{header} {refs}".rstrip())
                segment = token.end()
    return kept if depth == 0 else None
