"""Model families as data: what makes ArtiMuse and UniPercept differ, declared once.

Both are InternVL3 "Token As Score" checkpoints: same chat template, same system-message rule, same 101
score tokens and readout. A family only says which dimensions it scores and with which question, whether
the score prompt puts a newline between ``</img>`` and the question, and which other abilities (category,
attribute critiques, free-form ``ask``) it has. A third InternVL Token-As-Score model is one more ``Family``
in ``FAMILIES``.

Which family a checkpoint belongs to: the ``family`` setting when given; else a ``family`` key in its
``config.json``; else its name, Hugging Face id or the config's ``_name_or_path`` containing one of the
family's ``name_patterns`` (case-insensitive); else ArtiMuse.

Sources: docs/inference.md, "Prompt" for ArtiMuse and "UniPercept" for UniPercept (whose reference is PyPI
``unipercept-reward`` 1.0.3, ``modeling_unipercept.py`` ``score()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import prompts
from .errors import InvalidValue

#: UniPercept's score question (docs/inference.md "UniPercept"): one paragraph, rows separated by `` \n``; the typo
#: ``73-ec, 74-ed`` (for 78, 79) is the reference's and must be kept, it moves every score.
UNIPERCEPT_QUESTION = (
    "Rate the {desc} score of the image in 0-100. In the output format, numbers are replaced by 2 "
    "corresponding letters, and the mapping relationship is: score 0 to 25: 0-aa, 1-ab, 2-ac, 3-ad, ... , "
    "25-az, \nscore 26 to 50: 26-ca, 27-cb, 28-cc, 29-cd, ..., 50-cy, \nscore 51 to 75: 51-da, 52-db, 53-dc, "
    "54-dd, ..., 75-dy, \nscore 76 to 100: 76-ea, 77-eb, 73-ec, 74-ed, ..., 100-ey. \nThe answer only outputs "
    "2 corresponding letters."
)


@dataclass(frozen=True)
class Dimension:
    """One perceptual dimension a family scores (0-100 through the same 101 score tokens).

    ``key`` is what the library, ``--dimension`` and the JSON rows use; ``label`` and ``meaning`` are for
    people; ``question`` is the exact text after the image in the score prompt."""

    key: str
    label: str
    meaning: str
    question: str


@dataclass(frozen=True)
class Family:
    """The declaration of one model family.

    Attributes:
        name: shown in provenance and ``--family``.
        dimensions: scored in this order; the first is the primary one (``ScoreResult.score``).
        newline_after_image: the score prompt has ``</img>\\n{question}`` (ArtiMuse) or ``</img>{question}``
            (UniPercept: its question carries its own ``<image>`` placeholder, so no ``\\n`` is added).
        attributes: attribute critiques it was trained for (ArtiMuse's eight; none for UniPercept).
        categories: it answers the ArtiMuse-10K category question.
        can_ask: free-form greedy answers (``Engine.ask``; InternVL's ``chat()``).
        name_patterns: lower-case substrings of a checkpoint's name or id that mean this family.
    """

    name: str
    dimensions: tuple[Dimension, ...]
    newline_after_image: bool
    attributes: tuple[str, ...] = ()
    categories: bool = False
    can_ask: bool = True
    name_patterns: tuple[str, ...] = ()

    @property
    def dimension_keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.dimensions)

    @property
    def primary(self) -> str:
        """The dimension reported as the plain ``score``."""
        return self.dimensions[0].key

    def dimension(self, key: str) -> Dimension:
        """The dimension ``key``.

        Raises:
            InvalidValue: the family does not score it (the message lists what it scores).
        """
        for d in self.dimensions:
            if d.key == key:
                return d
        raise InvalidValue(f"dimension must be one of {', '.join(self.dimension_keys)} for {self.name}, not {key!r}")

    def system_message(self, chat_config: Mapping[str, Any]) -> str:
        """The same rule for every InternVL family (docs/inference.md "Prompt" and "UniPercept")."""
        return prompts.system_message(dict(chat_config))

    def score_prompt(self, system: str, key: str, num_image_tokens: int = prompts.NUM_IMAGE_TOKENS) -> str:
        """The full score prompt text of dimension ``key``."""
        return prompts.render_prompt(
            system, self.dimension(key).question, num_image_tokens, newline=self.newline_after_image
        )


#: The aesthetics dimension's key: the primary dimension of every family (``ScoreResult.score``).
AESTHETICS = "iaa"
IAA_MEANING = "aesthetics: composition, light, colour, subject, how appealing the picture is"

ARTIMUSE = Family(
    name="ArtiMuse",
    dimensions=(Dimension(AESTHETICS, "aesthetics", IAA_MEANING, prompts.SCORE_QUESTION),),
    newline_after_image=True,
    attributes=prompts.ATTRIBUTES,
    categories=True,
    name_patterns=("artimuse",),
)

UNIPERCEPT = Family(
    name="UniPercept",
    dimensions=(
        Dimension(AESTHETICS, "aesthetics", IAA_MEANING, UNIPERCEPT_QUESTION.format(desc="aesthetics")),
        Dimension(
            "iqa",
            "quality",
            "technical quality: sharpness, noise, exposure, compression artefacts",
            UNIPERCEPT_QUESTION.format(desc="quality"),
        ),
        Dimension(
            "ista",
            "structure and texture",
            "structure and texture richness: detail, texture, structural complexity",
            UNIPERCEPT_QUESTION.format(desc="structure and texture richness"),
        ),
    ),
    newline_after_image=False,
    name_patterns=("unipercept",),
)

FAMILIES: dict[str, Family] = {f.name.lower(): f for f in (ARTIMUSE, UNIPERCEPT)}
DEFAULT_FAMILY = ARTIMUSE
#: The dimension a score is of when nothing names one: what the library ranks and counts by default, and what
#: a result without per-dimension scores holds (every family's primary one; ``tests/test_families.py``).
PRIMARY_DIMENSION = DEFAULT_FAMILY.primary
#: Every dimension any family scores, in a stable order (library queries, ``--dimension`` choices).
ALL_DIMENSIONS: tuple[str, ...] = tuple(dict.fromkeys(k for f in FAMILIES.values() for k in f.dimension_keys))


def family_named(name: str) -> Family:
    """A family by name, case-insensitively.

    Raises:
        InvalidValue: no such family (the message lists them).
    """
    try:
        return FAMILIES[name.strip().lower()]
    except KeyError:
        known = ", ".join(f.name for f in FAMILIES.values())
        raise InvalidValue(f"family must be one of {known}, not {name!r}") from None


def match_family(names: list[str | None], config: Mapping[str, Any], explicit: str | None = None) -> Family:
    """The family of a checkpoint: ``explicit`` (the ``family`` setting), else ``config["family"]``, else
    the first family whose ``name_patterns`` occur in one of ``names`` (checkpoint folder name, Hugging Face
    id) or the config's ``_name_or_path``; else ArtiMuse.

    Raises:
        InvalidValue: ``explicit`` or the config's ``family`` names no family.
    """
    if explicit:
        return family_named(explicit)
    if isinstance(config.get("family"), str):
        return family_named(config["family"])
    texts = [n.lower() for n in [*names, config.get("_name_or_path"), config.get("name_or_path")] if isinstance(n, str)]
    for family in FAMILIES.values():
        if any(pattern in text for pattern in family.name_patterns for text in texts):
            return family
    return DEFAULT_FAMILY


__all__ = [
    "AESTHETICS",
    "ALL_DIMENSIONS",
    "ARTIMUSE",
    "DEFAULT_FAMILY",
    "Dimension",
    "FAMILIES",
    "Family",
    "PRIMARY_DIMENSION",
    "UNIPERCEPT",
    "UNIPERCEPT_QUESTION",
    "family_named",
    "match_family",
]
