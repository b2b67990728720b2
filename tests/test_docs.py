"""The manual (docs/, MkDocs) and the README front page: the site builds with every warning an error and
loads nothing from another site; its generated reference covers every declared setting and every command;
the inference contract it states is the one the engine runs; the README stays a front page whose set-up
commands are the manual's; and no file of the repository names a tracker's issue numbers."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def hooks():
    """docs/hooks.py (the MkDocs hook), imported by path: it is not a package of the project."""
    spec = importlib.util.spec_from_file_location("artimuse_docs_hooks", DOCS / "hooks.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flat(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------- the site builds
@pytest.mark.slow
def test_the_manual_builds_strict_and_loads_nothing_from_another_site(tmp_path):
    """`mkdocs build --strict` (a process, as CI runs it): a broken link or anchor, a page left out of the
    navigation or an unknown generated part fails the build. The built pages and their styles and scripts
    load nothing from another host (no CDN, no web font, no analytics): the manual reads offline."""
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "WARNING" not in done.stderr, done.stderr
    pages = sorted(site.rglob("*.html"))
    assert {p.relative_to(site).as_posix() for p in pages} >= {
        "index.html",
        "install/index.html",
        "configuration/index.html",
        "reference/cli/index.html",
        "inference/index.html",
    }
    loads = re.compile(
        r"""<(?:script|img|iframe|source)\b[^>]*\bsrc=["']?(?:https?:)?//|<link\b[^>]*\bhref=["']?(?:https?:)?//|@import\s+url\(["']?(?:https?:)?//|url\(["']?(?:https?:)?//""",
        re.I,
    )
    for file in [*pages, *site.rglob("*.css"), *site.rglob("*.js")]:
        found = loads.findall(file.read_text(encoding="utf-8", errors="replace"))
        assert not found, f"{file.relative_to(site)} loads from another site: {found[:3]}"
    reference = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "artimuse score" in reference and "--batch-size" in reference and "<!-- generated" not in reference
    assert (site / "img" / "gallery.webp").is_file()


def test_every_generated_part_a_page_asks_for_exists():
    """A marker with no generator would fail the build; here it fails in the fast tier, naming the page."""
    module = hooks()
    for file in DOCS.rglob("*.md"):
        for name in module.MARKER.findall(file.read_text(encoding="utf-8")):
            assert module.generated(name).strip(), f"{file.relative_to(REPO)} asks for {name}"


# ----------------------------------------------------------------------------------- the generated reference
def test_the_settings_tables_are_every_declared_setting_with_its_flag_variable_and_default():
    from artimuse_core.spec import SETTINGS
    from artimuse_core.xmp.settings import XMP_SETTINGS

    module = hooks()
    for name, declared in (("engine-settings", SETTINGS), ("xmp-settings", XMP_SETTINGS)):
        rows = [line for line in module.generated(name).splitlines() if line.startswith("| `")]
        assert [row.split("|")[1].strip() for row in rows] == [
            f"`{s.name}`<br>`ARTIMUSE_{s.name.upper()}`" for s in declared
        ]
        for row, setting in zip(rows, declared):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
            assert cells[1], f"{setting.name} has no command-line flag in the table: {row}"
            assert cells[4] == module.cell(setting.help), row
    engine = module.generated("engine-settings")
    assert "| `batch_size`<br>`ARTIMUSE_BATCH_SIZE` | `-b` `--batch-size` | integer 1-4096 | `8` |" in engine
    assert "| `exif`<br>`ARTIMUSE_EXIF` | `--exif` `--no-exif` | `true` / `false` | `true` |" in engine


def test_the_command_reference_is_every_command_and_option_as_help_prints_them():
    from artimuse_cli.main import cli

    module = hooks()
    reference = module.generated("cli-reference")
    headings = re.findall(r"^#{2,4} (artimuse.*)$", reference, re.M)
    top = click.Context(cli, info_name="artimuse")
    expected = ["artimuse"] + [ctx.command_path for _, ctx in module.commands(cli, top)]
    assert headings == expected
    assert {"artimuse score", "artimuse db check", "artimuse xmp write", "artimuse adapters list"} <= set(headings)
    score = click.Context(cli.commands["score"], info_name="score", parent=top)
    for param in cli.commands["score"].get_params(score):
        record = param.get_help_record(score) if isinstance(param, click.Option) else None
        if record:
            assert f"| `{record[0]}` | {module.cell(record[1])} |" in reference, record
    # Example blocks stay blocks (one line per example), not folded into running text.
    assert "```text\nQuick start:\n  artimuse score photo.jpg" in reference


# ---------------------------------------------------------------------------- the contract the docs state
def python_literals(text: str) -> list[str]:
    """The page's code blocks that are one Python string literal each (fenced as ``text``: a formatter must not
    touch them)."""
    found = []
    for block in re.findall(r"```text\n(.*?)```", text, re.S):
        try:
            value = ast.literal_eval(block.strip())
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, str):
            found.append(value)
    return found


def test_the_inference_contract_on_the_page_is_the_one_the_engine_runs():
    """The prompt texts (byte for byte), their hashes, the attributes in order, the system-message default,
    the image size, normalisation and token counts, as docs/inference.md states them."""
    from artimuse_core import families, images, prompts

    text = (DOCS / "inference.md").read_text(encoding="utf-8")
    literals = python_literals(text)
    assert prompts.SCORE_QUESTION in literals and families.UNIPERCEPT_QUESTION in literals
    assert len(prompts.SCORE_QUESTION) == 501 and "exact 501-character string" in flat(text)
    assert hashlib.sha256(prompts.SCORE_QUESTION.encode()).hexdigest() == prompts.SCORE_QUESTION_SHA256
    assert f"Its UTF-8 SHA-256 is `{prompts.SCORE_QUESTION_SHA256}`" in flat(text)
    assert prompts.DEFAULT_SYSTEM_MESSAGE in text
    listed = re.findall(r"^ +\d\. (.+)$", text, re.M)
    assert tuple(listed) == prompts.ATTRIBUTES
    assert f"`{prompts.critique_question('{ATTRIBUTE}')}`" in flat(text)
    for dimension in families.UNIPERCEPT.dimensions:
        desc = dimension.question.split("Rate the ", 1)[1].split(" score of", 1)[0]
        digest = hashlib.sha256(dimension.question.encode()).hexdigest()
        assert f"| `{dimension.key}` | `{desc}` | `{digest}` |" in text
    assert f"exactly {images.IMAGE_SIZE} x {images.IMAGE_SIZE} with PIL bicubic" in flat(text)
    assert f"mean {tuple(round(float(v), 3) for v in images.IMAGENET_MEAN)}" in flat(text)
    assert f"std {tuple(round(float(v), 3) for v in images.IMAGENET_STD)}" in flat(text)
    assert f"{prompts.NUM_IMAGE_TOKENS} image tokens per image" in flat(text)


# ------------------------------------------------------------------------------------ the README front page
def first_bash_block(text: str) -> str:
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block
    return block.group(1)


def test_the_readme_is_a_front_page_with_the_manuals_set_up_commands_a_picture_and_working_links():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    assert first_bash_block(text) == first_bash_block((DOCS / "install.md").read_text(encoding="utf-8"))
    first, second = first_bash_block(text).splitlines()
    assert first.endswith("(artimuse doctor && artimuse score samples/ || artimuse demo)")
    assert second == "python -m pytest -q"
    links = re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", text)
    assert links, "the front page links to the manual"
    for link in links:
        assert (REPO / link).is_file(), f"README links to {link}, which is not in the repository"
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert pictures
    for picture in pictures:
        file = REPO / picture
        assert file.stat().st_size < 300_000, f"{picture} is {file.stat().st_size} bytes"
        with Image.open(file) as image:
            assert image.width >= 800, image.size
            extrema = image.convert("L").getextrema()
            assert extrema[1] - extrema[0] > 100, "a picture, not a blank"


@pytest.mark.slow
@pytest.mark.browser
def test_the_front_page_picture_is_made_by_photographing_the_gallery(tmp_path):
    """tests/gallery_screenshot.py (how docs/img/gallery.webp is made) still works: a real gallery in a real
    Chromium, saved small."""
    from tests import chromium

    if not chromium.available():
        pytest.skip(chromium.MISSING)
    from tests.gallery_screenshot import WIDTH, photograph

    shot = photograph(tmp_path / "gallery.webp")
    assert shot.stat().st_size < 300_000
    with Image.open(shot) as image:
        assert image.width == WIDTH
        colours = image.convert("RGB").resize((64, 40)).getcolors(64 * 40)
        assert colours and len(colours) > 200, "the grid shows pictures"


# ------------------------------------------------------------------------------------------ no issue numbers
#: A word such as "issue", "fault", "item", "ticket" or "bug" (singular or plural) followed by a number, with or
#: without "#": how a reference to a tracker reads (a bare "#" and number is also a colour or an anchor, so only
#: a word before it counts). The examples below are built from parts, so that this file does not match itself.
TRACKER = re.compile(r"\b(?:issue|fault|item|ticket|bug)s?[ _-]*(?:no\.?\s*)?#?\s*" + r"\d+\b", re.I)
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".sh", ".yml", ".yaml", ".html", ".js", ".css", ".mako", ".cfg", ""}
N = "12"


def tracked_files() -> list[Path]:
    """The repository's files: git's list when this is a checkout, else every file outside hidden and
    build folders."""
    if shutil.which("git") and (REPO / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        names = [n for n in listed.decode("utf-8", "surrogateescape").split("\0") if n]
        return [REPO / n for n in names if (REPO / n).is_file()]
    skip = {".venv", ".git", "site", "build", "__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache"}
    return [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)]


def test_no_file_refers_to_a_trackers_issue_numbers():
    """Code, tests, docs and comments describe behaviour ("a name that is not UTF-8"), never a tracker's
    number, which means nothing to a reader of the file."""
    found = []
    for file in tracked_files():
        if file.suffix not in TEXT_SUFFIXES or file.suffix == "" and file.name not in ("run", "Makefile"):
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if TRACKER.search(line):
                found.append(f"{file.relative_to(REPO)}:{number}: {line.strip()[:100]}")
    assert not found, "\n".join(found)


def test_the_tracker_pattern_finds_what_it_must():
    for text in (f"issue {N}, item {N}", f"(issue {N} fault {N})", f"Issues {N} and {N}", f"bug #{N}", f"issue-{N}"):
        assert TRACKER.search(text), text
    for text in ("items[0]", "an issue with 2 files", "16 items", "the item's 3 fields", "#fff", "fault-free"):
        assert not TRACKER.search(text), text
