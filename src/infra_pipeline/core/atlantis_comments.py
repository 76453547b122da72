"""Comments in Atlantis's spelling (`atlantis plan -p app`), read as Atlantis reads them.

A team moving from Atlantis keeps typing its commands for a while; every comment of
Atlantis's own command table gets an answer that makes sense here:

- `atlantis approve_policies` is `/approve_policies` (of the whole commit: a `-p` project
  is accepted and dropped, since one approval covers every layer's failures);
- `atlantis plan|apply|unlock` with `-p/--project` or `-d/--dir` become `/plan`, `/apply`,
  `/unlock` of the layers named (a dir names the layer at that path; a glob, every layer it
  matches, as Atlantis expands it);
- `atlantis`, `atlantis help …`, `atlantis -h`, `atlantis --help` are `/help`, and
  `atlantis plan -h` shows the usage of `/plan`;
- what has no equivalent (`cancel`, `version`, `import`, `state`, a
  workspace, extra Terraform arguments, an unknown flag) gets a reply saying what to do;
- `terraform plan` gets "did you mean `/plan`?", as Atlantis answers it.

Like Atlantis, a comment in this spelling counts only when it is a single line: "atlantis
plan" followed by prose is a sentence, not a command.

Pure: this module only turns words into a value; `comment_parser` validates the layers.
"""

from __future__ import annotations

import difflib
import fnmatch
import posixpath
from collections.abc import Mapping, Sequence

from msgspec import Struct


def fold(word: str) -> str:
    """`word` case-folded as commands and names are matched: ASCII only. A word with any other
    character stays as it is, so a look-alike whose case folding is ASCII (`ſ` folds to `s`,
    the Kelvin sign `K` to `k`) never reads as a command or a layer name that a reviewer
    would not see in the comment."""
    return word.lower() if word.isascii() else word


_RUNS = {"plan": "plan", "apply": "apply", "unlock": "unlock"}
_HELP_FLAGS = ("-h", "--help")
_KNOWN = (
    "plan",
    "apply",
    "unlock",
    "help",
    "version",
    "import",
    "state",
    "approve_policies",
    "cancel",
)
_NO_EQUIVALENT = {
    "cancel": (
        "infra has no cancel command: a plan or apply is a GitHub Actions run, so cancel it "
        "from the pull request's Checks tab (an apply stopped part-way may leave partial "
        "state: comment `/plan` after)."
    ),
    "version": (
        "infra runs the Terraform, OpenTofu or Terragrunt version that ci.yml installs; the "
        "plan output in the dashboard shows it."
    ),
    "import": "use an `import` block in the configuration: `/plan` shows it and `/apply` runs it.",
    "state": "use `removed` or `moved` blocks in the configuration, planned like any change.",
}
_SINGLE_VALUE = ("-p", "--project", "-d", "--dir", "-w", "--workspace", "--auto-merge-method")
_SWITCHES = ("--verbose", "--auto-merge-disabled")


class AsInfra(Struct, frozen=True):
    """The infra command an Atlantis comment means; `layers` as the user named them."""

    command: str  # plan, apply, unlock or help
    layers: tuple[str, ...] = ()
    usage: bool = False  # `atlantis plan -h`: show the command's usage


class Answer(Struct, frozen=True):
    """A reply to post; `command` is the infra command it is about, if any."""

    text: str
    command: str | None = None


class NotACommand(Struct, frozen=True):
    reason: str


def read_atlantis(
    words: Sequence[str], *, single_line: bool, layer_paths: Mapping[str, str]
) -> AsInfra | Answer | NotACommand:
    """What a comment whose first word is `atlantis` or `terraform` means.

    `layer_paths` maps each layer's name to its repo-relative path, for `-d`.
    """
    head = fold(words[0])
    if not single_line:
        return NotACommand("Atlantis reads a command only from a one-line comment")
    rest = list(words[1:])
    if head == "terraform":
        word = fold(rest[0]) if rest else ""
        near = _RUNS.get(word) or ("help" if word in ("", *_HELP_FLAGS, "help") else None)
        if near is None:
            return NotACommand("prose that starts with the word terraform")
        return Answer(f"Did you mean `/{near}`? Commands here start with `/`.")
    if not rest or fold(rest[0]) in (*_HELP_FLAGS, "help"):
        return AsInfra("help")
    word, args = fold(rest[0]), rest[1:]
    if word == "approve_policies":
        usage = any(arg in _HELP_FLAGS for arg in args)
        stray = _unused(args, (*_SINGLE_VALUE, "--policy-set"))
        if stray and not usage:
            # Atlantis refuses these too ("unknown argument(s)"), rather than approve.
            return Answer(
                f"`atlantis approve_policies` takes no arguments (got `{_shown(' '.join(stray))}`)"
                ": `/approve_policies` approves the policy failures of the whole commit.",
                command="approve_policies",
            )
        return AsInfra("approve_policies", usage=usage)
    if word in _NO_EQUIVALENT:  # with or without flags (`-h` too): the answer is the same
        return Answer(
            f"`atlantis {word}` is not supported by infra-pipeline: {_NO_EQUIVALENT[word]}"
        )
    if word not in _RUNS:
        close = difflib.get_close_matches(word, _KNOWN, n=1, cutoff=0.6)
        hint = (
            f" Did you mean `atlantis {close[0]}` (here: `/{_RUNS.get(close[0], 'help')}`)?"
            if close
            else ""
        )
        return Answer(f"Unknown command `atlantis {_shown(word)}`.{hint}")
    return _flags(_RUNS[word], args, layer_paths)


def _flags(command: str, args: list[str], layer_paths: Mapping[str, str]) -> AsInfra | Answer:
    """Atlantis's flags for plan, apply and unlock, read as pflag reads them."""
    values: dict[str, str] = {}
    positional: list[str] = []
    extra: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        flag, has_value, inline = arg.partition("=")
        if arg == "--":
            extra = args[index + 1 :]
            break
        if arg in _HELP_FLAGS:
            return AsInfra(command, usage=True)
        if flag in _SINGLE_VALUE:
            if has_value:
                values[_long(flag)] = _unquote(inline)
            elif index + 1 < len(args):
                values[_long(flag)] = _unquote(args[index + 1])
                index += 1
            else:
                return Answer(f"Flag `{flag}` needs a value.", command)
        elif arg in _SWITCHES:
            pass  # how Atlantis reports; infra's dashboard always shows the output
        elif arg.startswith("-") and arg != "-":
            return Answer(f"Unknown flag `{_shown(arg)}` for `/{command}`.", command)
        else:
            positional.append(arg)
        index += 1
    if command == "unlock" and (values or extra):
        return Answer(
            "`atlantis unlock` takes no flags: `/unlock [layer…]` releases locks.", command
        )
    if extra:
        return Answer(
            f"infra passes no extra arguments to the engine from a comment "
            f"(got `{_shown(' '.join(extra))}`): set them for the layer in infra.yaml "
            f"(`env: {{TF_CLI_ARGS_{command}: …}}`).",
            command,
        )
    if "--project" in values and ("--dir" in values or "--workspace" in values):
        return Answer(
            "Cannot use -p/--project at the same time as -d/--dir or -w/--workspace.", command
        )
    workspace = values.get("--workspace")
    if workspace is not None and workspace != "default":
        return Answer(
            f"infra runs one workspace per layer, so `-w {_shown(workspace)}` names nothing: "
            f"name the layer instead (`/{command} <layer>`); a migrated layer sets TF_WORKSPACE.",
            command,
        )
    layers = list(positional)
    if "--project" in values:
        layers.append(values["--project"])
    if "--dir" in values:
        found = _layers_at(values["--dir"], layer_paths)
        if isinstance(found, Answer):
            return Answer(found.text, command)
        layers += found
    return AsInfra(command, tuple(layers))


def _layers_at(directory: str, layer_paths: Mapping[str, str]) -> list[str] | Answer:
    """The layers at a `-d` path, or every layer a glob matches."""
    if ".." in directory.split("/") or posixpath.normpath(directory).startswith(".."):
        return Answer(
            f"`-d {_shown(directory)}`: a relative path out of the repository is not allowed."
        )
    wanted = posixpath.normpath(directory.strip().strip("/") or ".")
    paths = {name: posixpath.normpath(path.strip("/") or ".") for name, path in layer_paths.items()}
    if any(ch in wanted for ch in "*?["):
        if wanted.count("[") != wanted.count("]"):
            return Answer(f"`-d {_shown(directory)}`: invalid glob pattern.")
        matched = [name for name, path in paths.items() if glob_match(wanted, path)]
    else:
        matched = [name for name, path in paths.items() if path == wanted]
    if matched:
        return matched
    listed = ", ".join(f"`{p}`" for p in sorted(set(paths.values()))[:30]) or "none configured"
    return Answer(f"No layer at `{_shown(directory)}`. Layer paths: {listed}.")


def glob_match(pattern: str, path: str) -> bool:
    """Whether a repo-relative path matches a doublestar glob, as Atlantis matches `dir`:
    `*`, `?` and `[…]` stay within a segment; `**` spans any number of segments."""
    wanted = [s for s in pattern.strip("/").split("/") if s not in ("", ".")]
    parts = [s for s in path.split("/") if s not in ("", ".")]

    def match(i: int, j: int) -> bool:
        if i == len(wanted):
            return j == len(parts)
        if wanted[i] == "**":
            return any(match(i + 1, k) for k in range(j, len(parts) + 1))
        return j < len(parts) and fnmatch.fnmatchcase(parts[j], wanted[i]) and match(i + 1, j + 1)

    return match(0, 0)


def _unquote(value: str) -> str:
    """A value as a shell would pass it: Atlantis splits comments with shell quoting."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _long(flag: str) -> str:
    return {"-p": "--project", "-d": "--dir", "-w": "--workspace"}.get(flag, flag)


def _unused(args: Sequence[str], valued: Sequence[str]) -> list[str]:
    """The words that are neither a flag nor a flag's value (Atlantis's "unused arguments")."""
    unused: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in valued:
            index += 1  # its value follows
        elif arg != "--" and not arg.startswith("-"):
            unused.append(arg)
        index += 1
    return unused


def _shown(text: str) -> str:
    clean = "".join(ch for ch in text if ch.isprintable() and ch != "`")
    return clean[:40] + ("…" if len(clean) > 40 else "")
