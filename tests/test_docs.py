"""README.md and docs/ quote only what exists: make targets, `asdcore` subcommands and their options,
scripts and their options, recipe and preset names, `--set` keys, repository paths, test names,
asdcore modules and links.  A renamed option, recipe or file fails here instead of misleading a reader.

What counts as a quotation: inline code spans (`...`) and the lines of fenced blocks marked `sh`,
outside them only Markdown links.  Placeholders are written in capitals (RUN_DIR) or in angle
brackets (runs/<run_id>/), and alternatives as a|b; both are understood."""
from __future__ import annotations

import ast
import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from asdcore.cli import build_parser
from asdcore.config import set_dotted
from asdcore.data.toy.presets import PRESETS as TOY_PRESETS
from asdcore.recipes import PRESETS as TRAINING_PRESETS
from asdcore.recipes import RECIPES, resolve

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# made by the project or by the user, never committed: quoted paths under them need not exist here
GENERATED = ("data/", "runs/", ".venv/", "test-artifacts/", "~/", "/", "$")
TOP_LEVEL = {p.name for p in ROOT.iterdir() if not p.name.startswith(".git")} - {"data", "runs", ".venv"}
# other programs' options that the docs quote: (program, option)
FOREIGN_OPTIONS = {"--nproc_per_node", "--nnodes", "--node_rank", "--master_addr", "--master_port",  # torchrun
                   "--durations",  # pytest
                   "--server.address", "--server.port", "--server.headless", "--browser.gatherUsageStats",
                   "--server.fileWatcherType"}  # streamlit
ASDCORE_PREFIXES = (("python", "-m", "asdcore"), (".venv/bin/python", "-m", "asdcore"), ("asdcore",),
                    (".venv/bin/asdcore",))


@dataclass
class Quote:
    file: Path
    line: int
    text: str
    in_shell_block: bool = False

    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}: `{self.text}`"


def quotes(path: Path) -> list[Quote]:
    """Inline code spans and the lines of `sh` blocks, with their line numbers."""
    out, fence = [], None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "text")
            continue
        if fence is not None:
            if fence in ("sh", "bash", "shell") and stripped and not stripped.startswith("#"):
                out.append(Quote(path, n, stripped.split(" # ")[0].strip(), True))
            continue
        for span in re.findall(r"(?<!`)`([^`]+)`(?!`)", line):
            out.append(Quote(path, n, span.strip()))
    return out


def links(path: Path) -> list[tuple[int, str]]:
    """Markdown link and image targets outside code, with their line numbers."""
    out, fence = [], False
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            out += [(n, target) for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line))]
    return out


ALL_QUOTES = [q for path in DOCS for q in quotes(path)]


# --- what exists -----------------------------------------------------------------------------------

def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, flags=re.M))


def cli_tree():
    """{subcommand path tuple: argparse parser} of the asdcore command."""
    tree = {}

    def walk(parser, path):
        tree[path] = parser
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, child in action.choices.items():
                    walk(child, path + (name,))

    walk(build_parser(), ())
    return tree


def options_of(parser) -> dict[str, object]:
    return {opt: action for action in parser._actions for opt in action.option_strings}


def script_options(script: Path) -> set[str]:
    """The --options a script's argparse declares (read from its source, not run)."""
    tree = ast.parse(script.read_text())
    return {arg.value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "add_argument"
            for arg in node.args if isinstance(arg, ast.Constant) and str(arg.value).startswith("-")}


MAKE = make_targets()
CLI = cli_tree()
SCRIPT_OPTIONS = {opt for script in (ROOT / "scripts").glob("*.py") for opt in script_options(script)}
BUNDLED = {p.name for p in (ROOT / "checkpoints").iterdir() if p.is_dir()}
SUBCOMMANDS = {name for path in CLI for name in path}  # `warm-up`, `download`, ...
NAMES = set(RECIPES) | set(TOY_PRESETS) | set(TRAINING_PRESETS) | MAKE | BUNDLED | SUBCOMMANDS


def is_placeholder(token: str) -> bool:
    """RUN_DIR, NAME, <run_id>, ..., or a shell variable."""
    token = token.strip("[]'\"")
    return (not token or token == "..." or "<" in token or token.startswith("$")
            or bool(re.fullmatch(r"[A-Z][A-Z0-9_]*(\.\.\.)?", token)))


def setting_known(key: str) -> bool:
    if key == "key":  # `--set key=value`, the placeholder
        return True
    try:
        set_dotted(resolve("tastgram-noisy-arcmix").to_dict(), key, None)
        return True
    except KeyError:
        return False


# --- the checks --------------------------------------------------------------------------------------

def check_make(words: list[str]) -> list[str]:
    return [f"`make {w}`: no such target in the Makefile" for w in words[1:]
            if "=" not in w and not w.startswith("-") and not is_placeholder(w) and w not in MAKE]


def check_asdcore(words: list[str]) -> list[str]:
    """A command line of the asdcore CLI: its subcommands, options and option values."""
    errors, path, i = [], (), 0
    while i < len(words):
        word = words[i].strip("[]")
        parser = CLI[path]
        if (path + (word,)) in CLI:
            path += (word,)
        elif word.startswith("--"):
            option, _, inline_value = word.partition("=")
            action = options_of(parser).get(option)
            if action is None:
                errors.append(f"`{option}` is not an option of `asdcore {' '.join(path)}`")
            elif action.nargs != 0:  # takes a value: check it where the option restricts it
                value = inline_value or (words[i + 1] if i + 1 < len(words) else "")
                i += 0 if inline_value else 1
                errors += check_value(option, value, action)
        elif len(path) == 0 or (len(path) == 1 and path[0] == "data" and not word.startswith("-")):
            if not is_placeholder(word):
                errors.append(f"`{word}` is not an asdcore subcommand here (after `{' '.join(path) or 'asdcore'}`)")
        i += 1
    return errors


def check_value(option: str, value: str, action) -> list[str]:
    value = value.strip("[]'\"")
    if is_placeholder(value) or value in ("...", ""):
        return []
    if option == "--recipe":
        return [] if value in RECIPES else [f"`--recipe {value}`: no such recipe"]
    if option == "--set":
        key = value.split("=", 1)[0]
        return [] if setting_known(key) else [f"`--set {key}=...`: no such setting"]
    if action.choices:
        return [f"`{option} {v}`: not one of {sorted(action.choices)}" for v in value.split("|")
                if v not in action.choices and not is_placeholder(v)]
    return []


def check_script(words: list[str]) -> list[str]:
    script = ROOT / words[0]
    if not script.exists():
        return [f"`{words[0]}` does not exist"]
    known = script_options(script)
    return [f"`{w.split('=')[0]}` is not an option of {words[0]}" for w in words[1:]
            if w.strip("[]").startswith("--") and w.strip("[]").split("=")[0] not in known]


def check_command(text: str) -> list[str]:
    """A quoted command line, whichever program it runs."""
    try:
        words = shlex.split(text.replace("\\", ""))
    except ValueError:
        return []
    words = [w for w in words if w not in ("|", "&&")]
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the command
        words = words[1:]
    if not words:
        return []
    if words[0] == "make":
        return check_make(words)
    if "pytest" in words[:3]:
        return check_pytest(words)
    if words[0].startswith("--"):  # an option quoted with its value: `--set m=0.5`, `--preset paper`
        return check_bare_option(words)
    if words[0] == "torchrun" and "-m" in words:
        words = words[words.index("-m"):]
        words = ["python"] + words
    for prefix in ASDCORE_PREFIXES:
        if tuple(words[:len(prefix)]) == prefix:
            return check_asdcore(words[len(prefix):])
    if words[0] in ("python", ".venv/bin/python", "python3.11") and len(words) > 1 and words[1].startswith("scripts/"):
        return check_script(words[1:])
    if words[0].startswith("scripts/") and words[0].endswith(".py"):
        return check_script(words)
    return []


def check_bare_option(words: list[str]) -> list[str]:
    option = words[0].split("=")[0]
    actions = [a for parser in CLI.values() for opt, a in options_of(parser).items() if opt == option]
    if not actions:
        return [] if option in SCRIPT_OPTIONS | FOREIGN_OPTIONS else [
            f"`{option}`: no asdcore or scripts/ option has this name"]
    value = words[0].partition("=")[2] or (words[1] if len(words) > 1 else "")
    if not value or actions[0].nargs == 0:
        return []
    results = [check_value(option, value, a) for a in actions]
    return [] if any(not r for r in results) else results[0]


def check_path(text: str) -> list[str]:
    """A repository path (or a test's node id, or a glob) exists."""
    path, _, test_name = text.partition("::")
    path = path.rstrip("/")
    parts = path.split("/")
    # cut at the first placeholder segment: what comes before it must exist
    for k, part in enumerate(parts):
        if is_placeholder(part) or "{" in part:
            parts = parts[:k]
            break
    if not parts:
        return []
    head = "/".join(parts)
    if "*" in head:
        return [] if list(ROOT.glob(head)) else [f"`{text}`: nothing matches"]
    if not (ROOT / head).exists():
        return [f"`{text}`: {head} does not exist in the repository"]
    if test_name:
        names = {n.name for n in ast.walk(ast.parse((ROOT / head).read_text()))
                 if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        if test_name.split("[")[0] not in names:
            return [f"`{text}`: {head} has no {test_name}"]
    return []


def looks_like_path(token: str) -> bool:
    token = token.rstrip(".,;:")
    if token.startswith(GENERATED) or " " in token or "://" in token:
        return False
    first = token.split("/")[0].split("::")[0]
    return first in TOP_LEVEL and (("/" in token) or "::" in token or "." in first or first in ("Makefile",))


FILE_NAME = re.compile(r"\.(log|json|jsonl|pt|npy|parquet|csv|md|py|png|txt|toml|wav|zip)$")
SETTING = re.compile(r"(data|train|eval|loss|model|mixup|features)\.\w+")
MARKERS = set(re.findall(r'^\s*"(\w+):', (ROOT / "pyproject.toml").read_text(), flags=re.M))
CODE = "\n".join(p.read_text() for folder in ("asdcore", "app_pages", "scripts", "tests")
                 for p in (ROOT / folder).rglob("*.py") if p.name != "test_docs.py")


def check_pytest(words: list[str]) -> list[str]:
    """pytest's -m expressions name registered markers."""
    errors = []
    words = words[words.index("pytest") + 1:]  # not the `-m` of `python -m pytest`
    for flag, expression in zip(words, words[1:]):
        if flag == "-m":
            errors += [f"`pytest -m {expression}`: no marker {name!r} in pyproject.toml"
                       for name in re.findall(r"\w+", expression)
                       if name not in ("not", "and", "or") and name not in MARKERS]
    return errors


def check_module(text: str) -> list[str]:
    """asdcore.x.y names a module, or an attribute of one."""
    parts = text.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            if not hasattr(obj, attr):
                return [f"`{text}`: {'.'.join(parts[:k])} has no {attr}"]
            obj = getattr(obj, attr)
        return []
    return [f"`{text}`: no such module"]


def problems(quote: Quote) -> list[str]:
    text = quote.text
    errors = check_command(text)
    if not quote.in_shell_block:
        for token in text.replace(",", " ").split():
            token = token.strip("()'\"")
            if looks_like_path(token):
                errors += check_path(token.rstrip("/.,;:"))
        if re.fullmatch(r"asdcore(\.\w+)+(\(\))?", text):
            errors += check_module(text.removesuffix("()"))
        if re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", text) and text not in NAMES:
            errors.append(f"`{text}`: no recipe, preset, make target, subcommand or bundled run has this name")
        key = text.split("=")[0]
        if SETTING.fullmatch(key) and not FILE_NAME.search(key) and not setting_known(key):
            errors.append(f"`{text}`: no such setting in the run configuration")
        if re.fullmatch(r"ASD_[A-Z_]+(=\S*)?", text) and text.split("=")[0] not in CODE:
            errors.append(f"`{text}`: no code reads this environment variable")
    else:
        for token in text.split():
            if looks_like_path(token) and token.split("/")[0] in ("scripts", "checkpoints", "docs", "notebooks"):
                errors += check_path(token)
    return errors


def test_every_quoted_name_exists():
    found = [f"{q.where()}: {p}" for q in ALL_QUOTES for p in problems(q)]
    assert not found, "names quoted in README.md / docs/ that do not exist:\n" + "\n".join(found)


def test_every_local_link_resolves():
    broken = []
    for path in DOCS:
        for line, target in links(path):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                broken.append(f"{path.relative_to(ROOT)}:{line}: ({target})")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


@pytest.mark.parametrize("text, expected", [
    ("make tset", "no such target"),
    ("python -m asdcore train --recipe tastgram-noisy-arcmx", "no such recipe"),
    ("python -m asdcore train --epochs 3", "not an option"),
    ("python -m asdcore data toy --out x --preset huge", "not one of"),
    ("python -m asdcore train --set train.epochz=3", "no such setting"),
    ("python -m asdcore trian", "not an asdcore subcommand"),
    (".venv/bin/python scripts/bench_pages.py --roundz 5", "not an option"),
    ("asdcore/trainig/loop.py", "does not exist"),
    ("tests/test_engine.py::test_that_does_not_exist", "has no"),
    ("asdcore.evaluation.no_such_module", "has no"),
    ("stgram-arcfcae", "no recipe, preset"),
    ("--set data.chanel=N", "no such setting"),
    ("--preset huge", "not one of"),
    ("--resum", "no asdcore or scripts/ option"),
    ('pytest -m "not slwo"', "no marker"),
    ("ASD_DATAS", "no code reads"),
    ("train.chanels_last", "no such setting"),
])
def test_the_checks_catch_drift(text, expected):
    """Each kind of check fails on a misspelt name (so the test above can fail)."""
    assert any(expected in p for p in problems(Quote(ROOT / "README.md", 1, text))), problems(
        Quote(ROOT / "README.md", 1, text))


@pytest.mark.parametrize("text", [
    "make run PORT=8600", "python -m asdcore train --recipe NAME [--preset tiny|quick|paper] [--set key=value ...]",
    "python -m asdcore data toy --out DIR [--preset tiny|default|hard|dcase-scale] [--seed N]",
    "torchrun --nproc_per_node=4 -m asdcore train --resume --run-dir runs/x",
    "tests/test_engine.py::test_a_run_killed_mid_epoch_resumes_to_the_same_result", "runs/<run_id>/",
    "asdcore.evaluation.domain_metrics", "tastgram-noisy-arcmix", "--set 'eval.tmax_types=[\"valve\"]'",
    "--preset paper", "--preset hard", "--resume", 'pytest -m "not browser"', "ASD_DATA=/path/to/data",
    "train.channels_last", "data.classes", "--set m=0.5",
])
def test_the_checks_accept_what_exists(text):
    assert not problems(Quote(ROOT / "README.md", 1, text))


def test_readme_is_short_and_shows_the_app():
    """The README is read in minutes (at most 200 lines) and shows the app as a PNG of at most 300 KB
    (regenerated by `make screenshot`)."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200, f"README.md has {len(readme.splitlines())} lines (at most 200)"
    images = [t for _, t in links(ROOT / "README.md") if t.endswith(".png")]
    assert images, "README.md shows no screenshot"
    for image in images:
        size = (ROOT / image).stat().st_size
        assert size <= 300 * 1024, f"{image} is {size / 1024:.0f} KB (at most 300 KB)"
