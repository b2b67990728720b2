"""Find a checkpoint (local folder, Hugging Face id or short name) and check that it can be loaded.

One path for everything: a short name resolves to a Hugging Face id, an id resolves to a folder in the
local Hugging Face cache (downloading it first when online), and from then on a cached snapshot, a folder
the user names and a folder a test builds are loaded by the same code.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CheckpointError, CheckpointNotFound

HF_ORG = "Thunderbolt215215"


@dataclass(frozen=True)
class KnownModel:
    """A published checkpoint: its short name, Hugging Face id, training set and the SRCC/PLCC the ArtiMuse
    paper reports on that set's test split. Every checkpoint scores on 0-100 (``score_range``), but each
    learnt the spread of its own training labels: ``scale`` says what they were (from the datasets' papers,
    not measured here), which is why percentiles of your own library read better than raw numbers."""

    name: str
    repo_id: str
    trained_on: str
    paper_srcc_plcc: tuple[float, float]
    scale: str = ""
    score_range: tuple[float, float] = (0.0, 100.0)
    architecture: str = "InternVL3-8B"  # its shape (``sizing.ARCHITECTURES``): the memory and download it needs


KNOWN_MODELS: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            "ArtiMuse",
            f"{HF_ORG}/ArtiMuse",
            "ArtiMuse-10K (recommended)",
            (0.614, 0.627),
            "expert scores over five categories (photography, painting, AIGC, 3D, graphic design), with "
            "critiques on eight attributes: the widest use of 0-100",
        ),
        KnownModel(
            "ArtiMuse_AVA",
            f"{HF_ORG}/ArtiMuse_AVA",
            "AVA",
            (0.827, 0.826),
            "means of ~200 amateur votes on 1-10 that crowd around 5-6: scores squeeze into a narrow middle band",
        ),
        KnownModel(
            "ArtiMuse_FLICKR-AES",
            f"{HF_ORG}/ArtiMuse_FLICKR-AES",
            "FLICKR-AES",
            (0.814, 0.837),
            "means of 5 crowd ratings on 1-5 of Flickr photos",
        ),
        KnownModel(
            "ArtiMuse_PARA",
            f"{HF_ORG}/ArtiMuse_PARA",
            "PARA",
            (0.936, 0.958),
            "means of ~25 ratings on 1-5 of photos; a middle-heavy spread",
        ),
        KnownModel(
            "ArtiMuse_TAD66K",
            f"{HF_ORG}/ArtiMuse_TAD66K",
            "TAD66K",
            (0.510, 0.543),
            "ratings judged within 47 themes: a score compares an image with others of its theme",
        ),
    )
}
DEFAULT_MODEL = "ArtiMuse"

# What a download fetches: configs, tokenizer files and safetensors. Never pickles, never code.
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]


@dataclass
class CheckpointInfo:
    """A checked checkpoint folder: its layout ('chat' or 'native'), config and weight files."""

    path: Path
    layout: str
    config: dict
    weight_files: list[Path]
    name: str = ""
    repo_id: str | None = None
    extra: dict = field(default_factory=dict)


def repo_id_for(name: str) -> str | None:
    """Short name or 'owner/name' -> a Hugging Face id; None when it is neither."""
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name].repo_id
    lowered = {k.lower(): v for k, v in KNOWN_MODELS.items()}
    if name.lower() in lowered:
        return lowered[name.lower()].repo_id
    parts = name.split("/")
    if len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~")):
        return name
    return None


def _looks_like_path(name: str) -> bool:
    """'./x', '/x', '~/x', 'a/b/c', or 'a/b' where the folder 'a' exists here: the user meant a folder."""
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        return True
    return "/" in name and Path(name.split("/")[0]).is_dir()


@dataclass(frozen=True)
class ModelListing:
    """A known checkpoint and whether it is in the local Hugging Face cache (``path`` then set)."""

    model: KnownModel
    available: bool
    path: str | None

    def to_dict(self) -> dict:
        """The row `artimuse models --json` prints."""
        m = self.model
        return {
            "name": m.name,
            "repo_id": m.repo_id,
            "trained_on": m.trained_on,
            "paper_srcc": m.paper_srcc_plcc[0],
            "paper_plcc": m.paper_srcc_plcc[1],
            "score_range": list(m.score_range),
            "scale": m.scale,
            "available": self.available,
            "path": self.path,
        }


def list_models() -> list[ModelListing]:
    """The published checkpoints (``KNOWN_MODELS``, default first) with their local availability. Never
    touches the network."""
    return [ModelListing(m, (path := cached_snapshot(m.repo_id)) is not None, path) for m in KNOWN_MODELS.values()]


def cached_snapshot(repo_id: str) -> str | None:
    """The folder of ``repo_id`` in the local Hugging Face cache, or None."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(repo_id, local_files_only=True, allow_patterns=["config.json"])
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def downloads_enabled() -> bool:
    """False when Hugging Face downloads are switched off (``HF_HUB_OFFLINE``)."""
    from huggingface_hub import constants

    return not constants.HF_HUB_OFFLINE


def resolve_checkpoint(name_or_path: str | os.PathLike, *, local_only: bool | None = None) -> CheckpointInfo:
    """Turn what the user typed (a folder, a Hugging Face id or a short name) into a checked local folder.

    ``local_only`` None downloads a missing checkpoint unless ``HF_HUB_OFFLINE`` is set; True never
    touches the network.

    Raises:
        CheckpointNotFound: not a folder, and not in the cache (nor downloadable).
        CheckpointError: the folder is not a loadable ArtiMuse checkpoint (the message says what is missing).
    """
    text = os.fspath(name_or_path)
    expanded = Path(text).expanduser()
    if expanded.is_dir():
        return inspect_checkpoint(expanded, name=expanded.name)
    repo_id = None if _looks_like_path(text) else repo_id_for(text)
    if repo_id is None:
        known = ", ".join(KNOWN_MODELS)
        raise CheckpointNotFound(
            f"{text}: no such checkpoint folder, and not a Hugging Face id or a known name ({known})"
        )
    folder = _snapshot(repo_id, local_only)
    short = next((m.name for m in KNOWN_MODELS.values() if m.repo_id == repo_id), repo_id)
    info = inspect_checkpoint(folder, name=short)
    info.repo_id = repo_id
    return info


def _snapshot(repo_id: str, local_only: bool | None) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import HF_HUB_CACHE
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=DOWNLOAD_PATTERNS, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    how = (
        f"download it where there is internet with `hf download {repo_id} --include '*.json' "
        f"'*.safetensors' '*.txt'` (it lands in {HF_HUB_CACHE}, or set HF_HOME), or set the model "
        f"setting to a checkpoint folder"
    )
    if not downloads_enabled():
        raise CheckpointNotFound(
            f"{repo_id} is not in the local Hugging Face cache and downloads are off (HF_HUB_OFFLINE): {how}"
        )
    if local_only:
        raise CheckpointNotFound(
            f"{repo_id} is not in the local Hugging Face cache yet (downloads are on: it "
            f"downloads on first use, about 16 GB); or {how}"
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=DOWNLOAD_PATTERNS))
    except Exception as exc:  # network, auth, missing repo: all end the same way for the user
        raise CheckpointNotFound(
            f"{repo_id} could not be downloaded ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); {how}"
        ) from exc


def inspect_checkpoint(path: Path, name: str = "") -> CheckpointInfo:
    """Check the folder holds a loadable ArtiMuse/InternVL checkpoint; name exactly what is missing."""
    path = Path(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{path}: not a checkpoint folder (no config.json)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{config_file}: unreadable config ({exc})") from exc
    layout = _layout(config, config_file)
    weights = _weight_files(path)
    missing = [n for n in ("tokenizer_config.json",) if not (path / n).is_file()]
    if not (path / "tokenizer.json").is_file() and not all((path / n).is_file() for n in ("vocab.json", "merges.txt")):
        missing.append("tokenizer.json (or vocab.json + merges.txt)")
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint, missing {', '.join(missing)}")
    if layout == "chat":
        for key in ("llm_config", "vision_config"):
            if not isinstance(config.get(key), dict):
                raise CheckpointError(f"{config_file}: InternVL chat config without '{key}'")
        arch = config["llm_config"].get("architectures") or []
        if arch and arch[0] != "Qwen2ForCausalLM":
            raise CheckpointError(
                f"{config_file}: language model {arch[0]} is not supported (ArtiMuse checkpoints use Qwen2ForCausalLM)"
            )
    return CheckpointInfo(path=path, layout=layout, config=config, weight_files=weights, name=name or path.name)


def _layout(config: dict, config_file: Path) -> str:
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    if model_type == "internvl_chat" or "InternVLChatModel" in architectures:
        return "chat"
    if model_type == "internvl" or "InternVLForConditionalGeneration" in architectures:
        return "native"
    raise CheckpointError(
        f"{config_file}: model_type {model_type!r} is not an InternVL checkpoint "
        "(expected 'internvl_chat' or 'internvl')"
    )


def _weight_files(path: Path) -> list[Path]:
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{index}: unreadable shard index ({exc})") from exc
        missing = [s for s in shards if not (path / s).is_file()]
        if missing:
            raise CheckpointError(f"{path}: incomplete checkpoint, missing weight shards {', '.join(missing)}")
        return [path / s for s in shards]
    single = path / "model.safetensors"
    if single.is_file():
        return [single]
    pickles = sorted(p.name for p in path.glob("*.bin")) + sorted(p.name for p in path.glob("*.pt"))
    if pickles:
        raise CheckpointError(
            f"{path}: only pickle weights ({', '.join(pickles[:3])}); ArtiMuse loads "
            "safetensors only, since pickle files can run code when loaded"
        )
    raise CheckpointError(f"{path}: incomplete checkpoint, no model.safetensors or model.safetensors.index.json")


def fingerprint(info: CheckpointInfo, samples: int = 16, sample_bytes: int = 4096) -> str:
    """A short, cheap identity of the weights: config, safetensors headers and sampled weight bytes.

    Hashing 16 GB of weights at every start would take a minute; headers plus evenly spaced samples tell
    apart checkpoints of identical shapes (the five ArtiMuse variants) in milliseconds.
    """
    digest = hashlib.sha256((info.path / "config.json").read_bytes())
    for file in info.weight_files:
        size = file.stat().st_size
        with open(file, "rb") as handle:
            head = handle.read(8)
            header_len = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            if not 0 < header_len <= min(size - 8, MAX_SAFETENSORS_HEADER):
                raise CheckpointError(_malformed(file, size, header_len))
            digest.update(file.name.encode() + size.to_bytes(8, "little") + handle.read(header_len))
            body = size - 8 - header_len
            for i in range(samples):
                handle.seek(8 + header_len + (body * i) // samples)
                digest.update(handle.read(sample_bytes))
    return digest.hexdigest()[:16]


#: safetensors' own limit on the JSON header (100 MB): a larger length field is a damaged or hostile file.
MAX_SAFETENSORS_HEADER = 100_000_000


def _malformed(file: Path, size: int, header_len: int) -> str:
    """Why a safetensors file cannot be read (its first 8 bytes give the JSON header's length)."""
    if header_len < 0:
        return f"{file}: not a valid safetensors file ({size} bytes, shorter than its 8-byte header length)"
    return (
        f"{file}: not a valid safetensors file (header length {header_len} bytes in a {size}-byte file); "
        "the download is incomplete or the file is damaged: download it again"
    )


#: What artimuse says instead of transformers' advice to pass ``trust_remote_code=True`` (never taken).
REMOTE_CODE_REFUSAL = (
    "this checkpoint asks to run its own Python code (remote code), which artimuse never runs; "
    "use a checkpoint that transformers' native InternVL classes load (safetensors, no auto_map)"
)


def refusal_text(exc: BaseException) -> str:
    """The first line of a loading error, with any advice to pass ``trust_remote_code=True`` (an option
    artimuse does not have) replaced by ``REMOTE_CODE_REFUSAL``."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return REMOTE_CODE_REFUSAL if "trust_remote_code" in str(exc) else text
