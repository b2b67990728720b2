"""ArtiMuse Studio core: the scoring engine, its one settings spec, results and the library.

Knows nothing of any front end. The Python API's one way in is ``get_model`` (``api.py``), like pyiqa's
``create_metric``; ``list_models()`` says which checkpoints exist, their scale and which are in the cache.
Long-running hosts (ComfyUI, the watcher) use ``get_engine``: one copy of each checkpoint's weights per
process, reloaded when its files change.

    >>> import artimuse_core
    >>> model = artimuse_core.get_model()                        # default checkpoint; or a name/folder
    >>> model("a.jpg").score                                     # one input -> one ScoreResult
    >>> from artimuse_core import create_engine                  # the engine underneath
    >>> engine = create_engine("ArtiMuse", batch_size=16)        # or an EngineSpec, or a folder
    >>> [r.score for r in engine.score(["a.jpg", "b.png"])]      # 0-100, higher is better

The public surface, and the only modules the front ends (the CLI, ComfyUI, the watcher, the web gallery,
Ray batch) import from the core (``tests/test_architecture.py`` holds them to it):

- ``artimuse_core``: models and engines (``get_model``, ``create_engine``, ``get_engine``, ``list_models``,
  ``resolve_checkpoint``...), settings declared once (``EngineSpec``, ``SETTINGS``, ``Config``,
  ``load_config``, ``home_paths``), what the model is asked and answers (``ATTRIBUTES``, ``CATEGORIES``,
  ``ScoreResult``, ``CritiqueResult``, ``Provenance``), image files (``collect_images``, ``open_rgb``,
  ``display_path``, ``render_preview``, ``photo_facts``), this machine (``diagnose``, ``estimate_memory``)
  and the errors (every one an ``ArtiMuseError`` with a one-line message);
- ``artimuse_core.library``: the library database (``Library``, the door ``ingest``, its records, the
  gallery's pages, upkeep: migrations and checks);
- ``artimuse_core.xmp``: XMP sidecars for photo managers (the optional ``xmp`` extra);
- ``artimuse_core.finetune``: training an adapter on the library's ratings.

Everything else is the core's own business and may change. Importing the package is cheap: each name
loads its module on first use (PEP 562, ``exports.py``), so ``from artimuse_core import EngineSpec`` does not
import torch; ``create_engine`` does. The names are the imports of the ``TYPE_CHECKING`` block below, the
one list that type checkers and the lazy loader both read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .exports import lazy_exports

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .adapters import remove_adapter_folder as remove_adapter_folder
    from .api import Model as Model
    from .api import get_model as get_model
    from .categories import CATEGORIES as CATEGORIES
    from .categories import normalise_category as normalise_category
    from .checkpoints import DEFAULT_MODEL as DEFAULT_MODEL
    from .checkpoints import DOWNLOAD_PATTERNS as DOWNLOAD_PATTERNS
    from .checkpoints import KNOWN_MODELS as KNOWN_MODELS
    from .checkpoints import fingerprint as fingerprint
    from .checkpoints import inspect_checkpoint as inspect_checkpoint
    from .checkpoints import list_models as list_models
    from .checkpoints import resolve_checkpoint as resolve_checkpoint
    from .config import Config as Config
    from .config import deepest_category as deepest_category
    from .config import home_paths as home_paths
    from .config import load_config as load_config
    from .devices import bitsandbytes_available as bitsandbytes_available
    from .doctor import diagnose as diagnose
    from .engine import Engine as Engine
    from .engine import create_engine as create_engine
    from .engine_cache import get_engine as get_engine
    from .engine_cache import release_engines as release_engines
    from .errors import ArtiMuseError as ArtiMuseError
    from .errors import CheckpointError as CheckpointError
    from .errors import CheckpointNotFound as CheckpointNotFound
    from .errors import ConfigError as ConfigError
    from .errors import CorruptImage as CorruptImage
    from .errors import DeviceError as DeviceError
    from .errors import FileGone as FileGone
    from .errors import FinetuneError as FinetuneError
    from .errors import ImageError as ImageError
    from .errors import ImageTooLarge as ImageTooLarge
    from .errors import InvalidValue as InvalidValue
    from .errors import LibraryError as LibraryError
    from .errors import MissingExtra as MissingExtra
    from .errors import NotAnImage as NotAnImage
    from .errors import UnreadableFile as UnreadableFile
    from .exif import photo_facts as photo_facts
    from .families import ALL_DIMENSIONS as ALL_DIMENSIONS
    from .families import PRIMARY_DIMENSION as PRIMARY_DIMENSION
    from .families import Family as Family
    from .families import family_named as family_named
    from .families import match_family as match_family
    from .files import PassedOverFile as PassedOverFile
    from .files import collect_images as collect_images
    from .files import inside as inside
    from .files import name_label as name_label
    from .files import run_summary as run_summary
    from .images import IMAGE_SIZE as IMAGE_SIZE
    from .images import DecodedImage as DecodedImage
    from .images import ImageOptions as ImageOptions
    from .images import decode_bytes as decode_bytes
    from .images import is_image_name as is_image_name
    from .images import open_rgb as open_rgb
    from .images import source_name as source_name
    from .lazy_engine import LazyEngine as LazyEngine
    from .lazy_engine import weights_identity as weights_identity
    from .metrics import correlation_report as correlation_report
    from .paths import display_path as display_path
    from .paths import path_key as path_key
    from .previews import preview_reason as preview_reason
    from .previews import render_preview as render_preview
    from .prompts import ATTRIBUTES as ATTRIBUTES
    from .prompts import resolve_attribute as resolve_attribute
    from .resources import estimate_memory as estimate_memory
    from .results import AskResult as AskResult
    from .results import CritiqueResult as CritiqueResult
    from .results import Provenance as Provenance
    from .results import ScoreResult as ScoreResult
    from .results import utc_timestamp as utc_timestamp
    from .scoring import BaseEngine as BaseEngine
    from .scoring import CategoryWish as CategoryWish
    from .scoring import Progress as Progress
    from .scoring import ScoringEngine as ScoringEngine
    from .scoring import Source as Source
    from .scoring import StepHook as StepHook
    from .spec import SETTINGS as SETTINGS
    from .spec import EngineSpec as EngineSpec
    from .spec import Setting as Setting
    from .spec import default_of as default_of
    from .spec import describe_settings as describe_settings
    from .spec import setting_named as setting_named
    from .spec import settings_at as settings_at
    from .stacks.best import StackMember as StackMember
    from .stacks.best import StackRecord as StackRecord
    from .stacks.grouping import group_stacks as group_stacks
    from .stacks.grouping import near_duplicate_runs as near_duplicate_runs
    from .stacks.hashing import HASH_BITS as HASH_BITS
    from .stacks.hashing import file_hash as file_hash
    from .stacks.hashing import hash_distance as hash_distance
    from .stacks.hashing import perceptual_hash as perceptual_hash
    from .stacks.settings import STACK_SETTINGS as STACK_SETTINGS
    from .stacks.settings import StackSettings as StackSettings
    from .stacks.settings import parse_gap as parse_gap
    from .stacks.settings import stack_settings as stack_settings
    from .staleness import checkpoint_identity as checkpoint_identity
    from .synthetic import build_checkpoint as build_checkpoint
else:
    __getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
