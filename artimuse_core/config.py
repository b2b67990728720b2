"""Where things live and what the user configured, resolved in one place.

Precedence, lowest first: the declared defaults (``spec.SETTINGS``), ``config.toml`` in the user config
folder, environment variables ``ARTIMUSE_<SETTING>`` (``ARTIMUSE_MODEL``, ``ARTIMUSE_BATCH_SIZE``,
``ARTIMUSE_DATABASE_URL``...), then explicit arguments (``Config.with_arguments``). ``Config.sources``
remembers where each value came from, for ``artimuse config show``.

``ARTIMUSE_HOME`` moves the whole home (config, database, adapters) into one folder; otherwise platformdirs
gives the platform's usual config and data folders. Unknown keys and bad values are errors that name the
key and the file (or the variable).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .categories import normalise_category
from .errors import ConfigError, InvalidValue
from .spec import SETTINGS, EngineSpec, setting_named
from .stacks.settings import STACK_SETTING_NAMES, checked_stack_values, stack_setting_named, stack_settings
from .xmp.settings import XMP_SETTING_NAMES, checked_xmp_values, xmp_setting_named, xmp_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP = "artimuse"
#: Where a value came from, lowest precedence first.
SOURCES = ("default", "file", "environment", "argument")
#: Settings of the library (not of the engine) that the file and the environment may set.
LIBRARY_SETTINGS = ("database_url",)


@dataclass(frozen=True)
class Paths:
    """The files of one ArtiMuse home: config file, library database, adapters, run-time state."""

    config_file: Path
    data_dir: Path

    @property
    def database_file(self) -> Path:
        """The default library database: ``library.db`` in the data folder."""
        return self.data_dir / "library.db"

    @property
    def adapters_dir(self) -> Path:
        """Where fine-tuned adapters are saved, one folder each."""
        return self.data_dir / "adapters"

    @property
    def run_dir(self) -> Path:
        """Run-time state (the watcher's status file)."""
        return self.data_dir / "run"


def home_paths() -> Paths:
    """The home's paths: ``ARTIMUSE_HOME`` when set, else the platform's config and data folders."""
    home = os.environ.get("ARTIMUSE_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root / "config.toml", root)
    import platformdirs

    return Paths(Path(platformdirs.user_config_dir(APP)) / "config.toml", Path(platformdirs.user_data_dir(APP)))


@dataclass(frozen=True)
class WatchedFolder:
    """A folder the watcher scores (``[[folders]]`` in the config), with its category if one is set."""

    path: Path
    category: str | None = None


@dataclass(frozen=True)
class Config:
    """The resolved settings: one ``EngineSpec``, the library's own settings, the XMP settings
    (``xmp``: name -> value for every ``xmp.settings.XMP_SETTINGS``; ``xmp_settings()`` builds what
    ``write_xmp`` takes) and the stack settings (``stacks``, ``stack_settings()``).

    ``sources`` maps a setting name to where its value came from (one of ``SOURCES``); settings absent
    from it are defaults. ``file`` is the config file that was read, None when there is none.
    """

    spec: EngineSpec = field(default_factory=EngineSpec)
    database_url: str | None = None
    folders: tuple[WatchedFolder, ...] = ()
    file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    xmp: Mapping[str, Any] = field(default_factory=lambda: checked_xmp_values({}))
    stacks: Mapping[str, Any] = field(default_factory=lambda: checked_stack_values({}))

    def source_of(self, name: str) -> str:
        """Where the value of setting ``name`` came from: default, file, environment or argument."""
        return self.sources.get(name, "default")

    def with_arguments(self, **explicit: Any) -> Config:
        """Explicit arguments (a command line's options) on top; ``None`` means "not given".

        Raises:
            InvalidValue: an unknown setting or a bad value (the message names the setting).
        """
        given = {k: v for k, v in explicit.items() if v is not None}
        if not given:
            return self
        library = {k: given.pop(k) for k in LIBRARY_SETTINGS if k in given}
        xmp = {k: given.pop(k) for k in XMP_SETTING_NAMES if k in given}
        stacks = {k: given.pop(k) for k in STACK_SETTING_NAMES if k in given}
        spec = self.spec.replace(**given)
        sources = {**self.sources, **{k: "argument" for k in (*given, *library, *xmp, *stacks)}}
        xmp_values = checked_xmp_values({**self.xmp, **xmp})
        stack_values = checked_stack_values({**self.stacks, **stacks})
        database = library.get("database_url", self.database_url)
        return Config(spec, database, self.folders, self.file, sources, xmp_values, stack_values)

    def xmp_settings(self) -> Any:
        """The resolved ``xmp.XmpSettings`` (what ``write_xmp`` takes).

        Raises:
            InvalidValue: XMP settings that do not fit together (``xmp_label`` pick without ``pick_at``...).
        """
        return xmp_settings(self.xmp)

    def stack_settings(self) -> Any:
        """The resolved ``stacks.StackSettings`` (what grouping and the library's stacks read)."""
        return stack_settings(self.stacks)

    def library_url(self) -> str:
        """The library's SQLAlchemy URL: ``database_url`` when set, else ``library.db`` in the home."""
        return self.database_url or f"sqlite:///{home_paths().database_file}"

    def to_dict(self) -> dict[str, Any]:
        """Every setting with its effective value and its source, plus the file, home and folders."""
        values = {**self.spec.to_dict(), "database_url": self.library_url(), **_json_ready(self.xmp), **self.stacks}
        return {
            "file": str(self.file) if self.file else None,
            "home": str(home_paths().data_dir),
            "settings": {name: {"value": value, "source": self.source_of(name)} for name, value in values.items()},
            "folders": [{"path": str(f.path), "category": f.category} for f in self.folders],
        }


def deepest_category(path: Path, folders: Iterable[tuple[Path, str | None]]) -> str | None:
    """The category of the deepest of ``folders`` ((folder, category) pairs) that contains ``path``."""
    best, depth = None, -1
    for folder, category in folders:
        try:
            path.relative_to(folder)
        except ValueError:
            continue
        if category and len(folder.parts) > depth:
            best, depth = category, len(folder.parts)
    return best


def load_config(file: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Defaults, then the config file, then ``ARTIMUSE_*`` environment variables: the one place where
    settings are resolved (explicit arguments go on top with ``Config.with_arguments``).

    Raises:
        ConfigError: an unreadable file, an unknown key or a bad value (naming the file or the variable).
    """
    file = file or home_paths().config_file
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    folders: tuple[WatchedFolder, ...] = ()
    read = None
    if file.is_file():
        read = file
        data = _read_toml(file)
        known = [s.name for s in SETTINGS] + list(LIBRARY_SETTINGS) + list(XMP_SETTING_NAMES) + ["folders"]
        known += list(STACK_SETTING_NAMES)
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"{file}: unknown key '{key}' (known: {', '.join(sorted(known))})")
            if key == "folders":
                folders = _folders(file, value)
                continue
            values[key] = _checked(key, value, f"{file}: '{key}'", from_text=False)
            sources[key] = "file"
    for key in (
        [s.name for s in SETTINGS] + list(LIBRARY_SETTINGS) + list(XMP_SETTING_NAMES) + list(STACK_SETTING_NAMES)
    ):
        variable = f"ARTIMUSE_{key.upper()}"
        if variable in environ:
            values[key] = _checked(key, environ[variable], variable, from_text=True)
            sources[key] = "environment"
    database = values.pop("database_url", None)
    xmp = checked_xmp_values({k: values.pop(k) for k in XMP_SETTING_NAMES if k in values})
    stacks = checked_stack_values({k: values.pop(k) for k in STACK_SETTING_NAMES if k in values})
    try:
        spec = EngineSpec(**values)
    except InvalidValue as exc:  # pragma: no cover - every value was checked above
        raise ConfigError(str(exc)) from exc
    return Config(spec, database, folders, read, sources, xmp, stacks)


def _json_ready(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: {exc}") from exc


def _checked(key: str, value: Any, where: str, *, from_text: bool) -> Any:
    if key in LIBRARY_SETTINGS:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a non-empty string")
        return value
    if key in STACK_SETTING_NAMES:
        setting = stack_setting_named(key)
    else:
        setting = xmp_setting_named(key) if key in XMP_SETTING_NAMES else setting_named(key)
    try:
        return setting.parse(value) if from_text else setting.check(value)
    except InvalidValue as exc:
        message = str(exc).removeprefix(f"{key} ")
        raise ConfigError(f"{where} {message}") from exc


def _folders(file: Path, entries: Any) -> tuple[WatchedFolder, ...]:
    if not isinstance(entries, list):
        raise ConfigError(f"{file}: 'folders' must be a list of [[folders]] tables")
    folders = []
    for i, entry in enumerate(entries):
        where = f"{file}: folders[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ConfigError(f"{where} needs a 'path' string ([[folders]] path = \"~/Exports\")")
        extra = set(entry) - {"path", "category"}
        if extra:
            raise ConfigError(f"{where}: unknown key '{sorted(extra)[0]}' (known: path, category)")
        category = entry.get("category")
        if category is not None:
            try:
                category = normalise_category(str(category))
            except InvalidValue as exc:
                raise ConfigError(f"{where}.category: {exc}") from exc
        folders.append(WatchedFolder(Path(entry["path"]).expanduser().resolve(), category))
    return tuple(folders)


__all__ = [
    "Config",
    "LIBRARY_SETTINGS",
    "Paths",
    "SOURCES",
    "WatchedFolder",
    "deepest_category",
    "home_paths",
    "load_config",
]
