"""Where things live and what the user configured: ``config.toml`` in the user config dir.

``ARTIMUSE_HOME`` overrides the whole home (config, database, adapters) in one folder; otherwise
platformdirs gives the platform's usual config and data folders. Unknown keys and bad values are errors
that name the key and the file.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from .categories import normalise_category
from .errors import ArtiMuseError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP = "artimuse"


class ConfigError(ArtiMuseError):
    pass


@dataclass(frozen=True)
class Paths:
    config_file: Path
    data_dir: Path

    @property
    def database_file(self) -> Path:
        return self.data_dir / "library.db"

    @property
    def adapters_dir(self) -> Path:
        return self.data_dir / "adapters"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"


def paths() -> Paths:
    home = os.environ.get("ARTIMUSE_HOME")
    if home:
        root = Path(home).expanduser()
        return Paths(root / "config.toml", root)
    return Paths(Path(platformdirs.user_config_dir(APP)) / "config.toml", Path(platformdirs.user_data_dir(APP)))


@dataclass(frozen=True)
class WatchedFolder:
    path: Path
    category: str | None = None


@dataclass(frozen=True)
class Config:
    model: str = "ArtiMuse"
    device: str = "auto"
    dtype: str = "auto"
    quantize: str = "none"
    batch_size: int = 8
    database_url: str | None = None
    folders: tuple[WatchedFolder, ...] = field(default_factory=tuple)
    source: Path | None = None

    def category_for(self, path: Path) -> str | None:
        return deepest_category(path.expanduser().resolve(), [(f.path, f.category) for f in self.folders])


def deepest_category(path: Path, folders) -> str | None:
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


_CHOICES = {"device": None, "dtype": ("auto", "float32", "bfloat16", "float16"),
            "quantize": ("none", "8bit", "4bit")}


def load_config(file: Path | None = None) -> Config:
    file = file or paths().config_file
    if not file.is_file():
        return Config()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: {exc}") from exc
    known = {"model", "device", "dtype", "quantize", "batch_size", "database_url", "folders"}
    for key in data:
        if key not in known:
            raise ConfigError(f"{file}: unknown key '{key}' (known: {', '.join(sorted(known))})")
    values: dict = {"source": file}
    for key in ("model", "device", "dtype", "quantize", "database_url"):
        if key in data:
            if not isinstance(data[key], str) or not data[key]:
                raise ConfigError(f"{file}: '{key}' must be a non-empty string")
            if _CHOICES.get(key) and data[key] not in _CHOICES[key]:
                raise ConfigError(f"{file}: '{key}' must be one of {', '.join(_CHOICES[key])}, not {data[key]!r}")
            values[key] = data[key]
    if "batch_size" in data:
        if not isinstance(data["batch_size"], int) or isinstance(data["batch_size"], bool) or data["batch_size"] < 1:
            raise ConfigError(f"{file}: 'batch_size' must be a whole number >= 1")
        values["batch_size"] = data["batch_size"]
    folders = []
    for i, entry in enumerate(data.get("folders", [])):
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
            except ValueError as exc:
                raise ConfigError(f"{where}.category: {exc}") from exc
        folders.append(WatchedFolder(Path(entry["path"]).expanduser().resolve(), category))
    values["folders"] = tuple(folders)
    return Config(**values)


def database_url(config: Config) -> str:
    if config.database_url:
        return config.database_url
    return f"sqlite:///{paths().database_file}"
