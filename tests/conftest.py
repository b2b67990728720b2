"""Shared fixtures: seeded tiny checkpoints (built once per session), real image files, no network, and the
fake engine for front-end tests (``run_cli`` / ``fake_engines``: the CLI with ``FakeEngine`` injected through
its public ``AppContext`` seam)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Nothing may download at test time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _hypothesis_profiles() -> None:
    """Fuzzing is seeded: two runs of one commit draw the same inputs (so they see the same failures and the
    same warnings), and no example database replays an earlier run's finds. ``HYPOTHESIS_PROFILE=explore``
    draws fresh inputs on purpose (a failure prints the seed that reproduces it)."""
    from hypothesis import HealthCheck, settings

    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    settings.register_profile("seeded", derandomize=True, database=None, **common)
    settings.register_profile("explore", derandomize=False, print_blob=True, **common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "seeded"))


_hypothesis_profiles()


def conformance_dirs() -> list[Path]:
    """Fixture sets with reference outputs: ARTIMUSE_CONFORMANCE_DIRS (os.pathsep list), or ../shared/conformance
    (ArtiMuse) and ../shared/conformance-unipercept (UniPercept)."""
    listed = os.environ.get("ARTIMUSE_CONFORMANCE_DIRS")
    default = [SHARED / "conformance", SHARED / "conformance-unipercept"]
    candidates = [Path(p) for p in listed.split(os.pathsep)] if listed else default
    return [p for p in candidates if (p / "expected.json").is_file()]


def expected_dimensions(expected: dict) -> dict[str, dict]:
    """A fixture's score prompts by dimension: UniPercept's ``score_prompt.dimensions``; ArtiMuse's single
    prompt as ``iaa``."""
    prompt = expected["score_prompt"]
    return prompt["dimensions"] if "dimensions" in prompt else {"iaa": prompt}


def expected_scores(entry: dict) -> dict[str, dict]:
    """One fixture image's expected ``score``/``probs`` by dimension (ArtiMuse's as ``iaa``)."""
    return entry["dimensions"] if "dimensions" in entry else {"iaa": entry}


@pytest.fixture(scope="session", autouse=True)
def isolated_hf_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hf_home")
    old = {k: os.environ.get(k) for k in ("HF_HOME", "HF_HUB_CACHE")}
    os.environ["HF_HOME"] = str(home)
    os.environ["HF_HUB_CACHE"] = str(home / "hub")
    import huggingface_hub.constants as c

    saved = (c.HF_HOME, c.HF_HUB_CACHE, c.HF_HUB_OFFLINE)
    c.HF_HOME, c.HF_HUB_CACHE, c.HF_HUB_OFFLINE = str(home), str(home / "hub"), True
    yield home
    c.HF_HOME, c.HF_HUB_CACHE, c.HF_HUB_OFFLINE = saved
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session", autouse=True)
def artimuse_home(tmp_path_factory):
    """Tests never touch the user's real config, library or adapters."""
    home = tmp_path_factory.mktemp("artimuse_home")
    os.environ["ARTIMUSE_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def tiny_chat(tmp_path_factory) -> Path:
    from artimuse_core.synthetic import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-chat", seed=1)


@pytest.fixture(scope="session")
def tiny_native(tmp_path_factory) -> Path:
    from artimuse_core.synthetic import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-native", seed=1, layout="native")


@pytest.fixture(scope="session")
def engine(tiny_chat):
    from artimuse_core import create_engine

    return create_engine(tiny_chat, batch_size=4)


def write_mixed_images(folder: Path, count: int = 10, seed: int = 0) -> list[Path]:
    """Varied real files: several sizes, formats and modes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    kinds = [("png", "RGB"), ("jpg", "RGB"), ("png", "RGBA"), ("png", "L"), ("webp", "RGB"), ("gif", "P")]
    for i in range(count):
        ext, mode = kinds[i % len(kinds)]
        w, h = int(rng.integers(40, 700)), int(rng.integers(40, 700))
        base = np.clip(rng.normal(rng.uniform(20, 230), rng.uniform(5, 80), (h, w, 3)), 0, 255).astype(np.uint8)
        image = Image.fromarray(base, "RGB")
        if mode == "RGBA":
            image.putalpha(Image.fromarray(rng.integers(0, 255, (h, w), dtype=np.uint8)))
        elif mode != "RGB":
            image = image.convert(mode)
        path = folder / f"img{i:03d}.{ext}"
        image.save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def mixed_images(tmp_path_factory) -> list[Path]:
    return write_mixed_images(tmp_path_factory.mktemp("images"), count=10)


@pytest.fixture()
def fake_engines():
    """Every FakeEngine the CLI builds in this test (to look at the spec it was given, or its calls)."""
    return []


@pytest.fixture()
def run_cli(fake_engines):
    """``run_cli(*args, engine=None)``: invoke `artimuse` with a FakeEngine (or ``engine(spec)``) injected."""
    from click.testing import CliRunner

    from artimuse_cli.main import AppContext, cli
    from artimuse_core.testing import FakeEngine

    def factory(spec):
        engine = FakeEngine(spec)
        fake_engines.append(engine)
        return engine

    factory.identity = FakeEngine.identity  # what the CLI's lazy engine looks cached files up by

    def run(*args, engine=None):
        return CliRunner().invoke(cli, [str(a) for a in args], obj=AppContext(engine_factory=engine or factory))

    return run


# Tiers: a test that loads a real model (the tiny checkpoints, the conformance fixtures, ComfyUI's nodes,
# fine-tuning) is `slow`; everything else runs in seconds on the fake engine (`pytest -m "not slow"`).
REAL_MODEL_FIXTURES = {"tiny_chat", "tiny_native", "engine"}
REAL_MODEL_MODULES = {
    "test_conformance",
    "test_comfyui",
    "test_finetune",
    "test_engine",
    "test_engine_cache",
    "test_forward",
    "test_batch_ray",  # a real Ray instance and the tiny checkpoint
    "test_batch_cluster",  # a real Ray cluster and the tiny checkpoint
}


#: The fast tier's budget on 2 quiet cores (`pytest -m "not slow"`).
FAST_TIER_BUDGET_S = 30
#: The fast tier runs on this many worker processes (pytest-xdist, one per core of a 2-core machine): its tests
#: are single-threaded and independent (own temporary folders, free ports), and a third of its time is spent
#: waiting (debounces, polling rounds, other processes), which a second worker fills. `-n 0` (or
#: ARTIMUSE_TEST_WORKERS=1) runs it in one process; an explicit `-n N` wins.
FAST_TIER_WORKERS = 2
_SESSION_STARTED = pytest.StashKey[float]()  # when the run began (the fast tier's time)


def fast_tier(config) -> bool:
    return "not slow" in (config.option.markexpr or "")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """The fast tier on ``FAST_TIER_WORKERS`` processes where pytest-xdist is installed and the machine has
    the cores (before xdist reads ``-n``)."""
    if not fast_tier(config) or not config.pluginmanager.hasplugin("xdist"):
        return None
    if config.option.numprocesses is not None or os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    if config.option.collectonly or config.getoption("usepdb", False):
        return None
    workers = min(int(os.environ.get("ARTIMUSE_TEST_WORKERS", FAST_TIER_WORKERS)), len(os.sched_getaffinity(0)))
    if workers > 1:
        config.option.numprocesses, config.option.dist = workers, "worksteal"
    return None


def pytest_sessionstart(session):
    session.config.stash[_SESSION_STARTED] = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The fast tier ends with its time against its budget: a figure each run prints, rather than one a
    document states and time makes false."""
    if not fast_tier(config) or _SESSION_STARTED not in config.stash:
        return
    seconds = time.monotonic() - config.stash[_SESSION_STARTED]
    ran = sum(len(terminalreporter.stats.get(k, [])) for k in ("passed", "failed", "skipped", "error"))
    over = seconds > FAST_TIER_BUDGET_S
    advice = "; over budget (on a busy machine?): `--durations=10` names the tests to mark slow" if over else ""
    workers = getattr(config.option, "numprocesses", None) or 1
    on = f" on {workers} workers" if workers > 1 else " in one process"
    terminalreporter.write_line(
        f"fast tier: {seconds:.0f} s for {ran} tests{on}, budget {FAST_TIER_BUDGET_S} s{advice}"
    )


def pytest_ignore_collect(collection_path, config):
    """In the fast tier, modules whose every test loads a real model are not even imported (they import
    torch and transformers at the top, seconds before any test runs)."""
    if fast_tier(config) and collection_path.stem in REAL_MODEL_MODULES:
        return True
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in REAL_MODEL_MODULES or REAL_MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# Whatever a test started (tests/processes.py: `artimuse watch` processes, writers, watcher threads) ends with
# it, passed or failed, before its fixtures are torn down: a failed assertion never leaves a process behind.
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    from tests import processes

    item.stash[_STARTED] = processes.mark()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    from tests import processes

    raised = processes.teardown(item.stash.get(_STARTED, processes.mark()))
    if raised:
        raise raised[0]


_STARTED = pytest.StashKey[int]()


# A new SQLite library starts as a copy of one migrated at the start of the session (by the real migrations):
# running the twelve migrations again for each of the hundred-odd libraries the tests create costs ~40 ms each,
# a tenth of the fast tier. Opening an existing file (an older revision, a damaged one, a foreign one) takes the
# real path, as does every test marked `real_migrations` (the tests of creating a library itself).
@pytest.fixture(scope="session")
def migrated_library_file(tmp_path_factory) -> Path:
    """An empty library file at the newest revision, made by the real migrations (its WAL folded in)."""
    import sqlite3

    from artimuse_core.library import Library

    path = tmp_path_factory.mktemp("library-template") / "library.db"
    Library.at(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture(autouse=True)
def new_libraries_start_migrated(request, monkeypatch):
    """``database.migrate`` of a SQLite file that does not exist yet (or is empty) first copies
    ``migrated_library_file`` there; the real ``migrate`` then finds it at the newest revision."""
    if request.node.get_closest_marker("real_migrations"):
        return
    import shutil

    from artimuse_core.library import database

    real, template = database.migrate, request.getfixturevalue("migrated_library_file")

    def migrate(engine):
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            target = Path(url.database)
            if not target.exists() or target.stat().st_size == 0:
                # Whole or not at all (a copy cut short by a full disk would be a damaged library): the real
                # migration then meets, and reports, whatever stopped the copy.
                partial = target.with_name(f".{target.name}.template")
                try:
                    shutil.copyfile(template, partial)
                    os.replace(partial, target)
                except OSError:
                    partial.unlink(missing_ok=True)
        return real(engine)

    monkeypatch.setattr(database, "migrate", migrate)


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """An empty ArtiMuse home (``ARTIMUSE_HOME``) for this test: its own config and library."""
    monkeypatch.setenv("ARTIMUSE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture()
def run(run_cli):
    """``run_cli`` under its short name."""
    return run_cli


# A real PostgreSQL server (tests/postgres.py), started once per session when a test asks for it; every test
# on it gets its own database, copied from a migrated template. Where PostgreSQL is not installed those tests
# are skipped, with the reason (in CI, which installs it, they fail instead).
@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server (``tests.postgres.PostgresServer``: ``url(name)``, ``create_database``)."""
    from tests.postgres import PostgresServer, why_absent

    reason = why_absent()
    if reason and os.environ.get("CI"):
        pytest.fail(f"{reason}: CI installs it (.ci/run), so its tests must run there, not be skipped")
    if reason:
        pytest.skip(reason)
    server = PostgresServer()
    try:
        server.start()
        from artimuse_core.library.database import open_engine

        open_engine(server.create_database("artimuse_template")).dispose()
        yield server
    finally:
        server.stop()


_DATABASES = iter(range(1, 1 << 30))


@pytest.fixture()
def postgres_url(postgres):
    """A fresh, migrated library database on the session's PostgreSQL server (dropped afterwards)."""
    name = f"library_{next(_DATABASES)}"
    yield postgres.create_database(name, template="artimuse_template")
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def library_backend(request, tmp_path) -> str:
    """A library database URL on each backend in turn: a SQLite file (``library.db`` in the ``home``
    fixture's folder, where that home keeps it), then a PostgreSQL database (the full suite only: it starts
    a server)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'library.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture()
def library_home(home, library_backend, monkeypatch):
    """``home`` whose library is ``library_backend`` (through ``ARTIMUSE_DATABASE_URL``, as users set it)."""
    if not library_backend.startswith("sqlite"):
        monkeypatch.setenv("ARTIMUSE_DATABASE_URL", library_backend)
    return home
