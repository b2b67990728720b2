"""Stacks: bursts and near-duplicates grouped, and the best of each picked with a reason.

``hashing`` (a perceptual hash per picture, ImageHash's DCT hash), ``grouping`` (the index: multi-index
hashing for near-duplicates, a time window for bursts; runs of adjacent near-identical frames), ``best``
(the best of a stack and why), ``settings`` (the stack settings, declared once). The library keeps each
image's hash and stack (``library.stacks``); the door hashes files as they arrive. Knows no front end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exports import lazy_exports

if TYPE_CHECKING:
    from .best import StackMember as StackMember
    from .best import StackRecord as StackRecord
    from .best import make_stack as make_stack
    from .grouping import group_labels as group_labels
    from .grouping import group_stacks as group_stacks
    from .grouping import near_duplicate_runs as near_duplicate_runs
    from .grouping import near_pairs as near_pairs
    from .hashing import HASH_BITS as HASH_BITS
    from .hashing import file_hash as file_hash
    from .hashing import hash_distance as hash_distance
    from .hashing import perceptual_hash as perceptual_hash
    from .settings import STACK_SETTINGS as STACK_SETTINGS
    from .settings import StackSettings as StackSettings
    from .settings import parse_gap as parse_gap
    from .settings import stack_settings as stack_settings
else:
    __getattr__, __dir__, __all__ = lazy_exports(__name__, __file__)
