"""Model families as data: prompt texts byte for byte against the UniPercept fixture's README hashes, the
reference's typo kept, matching a checkpoint to its family by name, config or the ``family`` setting."""

from __future__ import annotations

import hashlib
import json

import pytest

from artimuse_core import prompts
from artimuse_core.errors import InvalidValue
from artimuse_core.families import ARTIMUSE, FAMILIES, UNIPERCEPT, Family, family_named, match_family
from artimuse_core.spec import EngineSpec

from .conftest import SHARED

# ../shared/conformance-unipercept/README.md, "The three dimensions": question chars and sha256 (UTF-8).
README_QUESTIONS = {
    "iaa": (427, "24412c54fb4b6682d3700a55dded5bbae61f08ca70d89cd52e4c4fc78a9625e8"),
    "iqa": (424, "43835bda51c8651c1925e0ee7612d7c4848bc11c745678e9f6188b9805ea517b"),
    "ista": (447, "b959122145e96467a75e31a73be55b99e02322e5a3bd80334adbd65473ccdaa4"),
}


def test_unipercept_questions_are_the_references_byte_for_byte():
    assert UNIPERCEPT.dimension_keys == ("iaa", "iqa", "ista")
    for key, (chars, digest) in README_QUESTIONS.items():
        question = UNIPERCEPT.dimension(key).question
        assert len(question) == chars
        assert hashlib.sha256(question.encode("utf-8")).hexdigest() == digest
        assert "77-eb, 73-ec, 74-ed" in question  # the reference's typo, kept on purpose
        assert question.endswith("letters.")


def test_score_prompts_differ_only_where_the_references_do():
    system = prompts.DEFAULT_SYSTEM_MESSAGE
    uni = UNIPERCEPT.score_prompt(system, "iqa")
    assert "</img>Rate the quality score" in uni  # no newline after </img>
    art = ARTIMUSE.score_prompt(system, "iaa")
    assert art == prompts.render_prompt(system, prompts.SCORE_QUESTION)
    assert "</img>\n\n        Rate the aesthetics" in art
    assert ARTIMUSE.dimension_keys == ("iaa",) and ARTIMUSE.primary == UNIPERCEPT.primary == "iaa"


def test_every_family_reports_the_same_primary_dimension():
    """The library's default dimension (``PRIMARY_DIMENSION``) is the plain score of every family: a family whose
    primary dimension differed would need the library to name the dimension everywhere it now defaults."""
    from artimuse_core.families import FAMILIES, PRIMARY_DIMENSION

    assert {f.primary for f in FAMILIES.values()} == {PRIMARY_DIMENSION}


def test_system_message_rule_is_shared():
    for family in FAMILIES.values():
        assert family.system_message({}) == prompts.DEFAULT_SYSTEM_MESSAGE
        assert family.system_message({"system_message": None}) == "None"
        assert family.system_message({"system_message": "Be brief."}) == "Be brief."


@pytest.mark.skipif(not (SHARED / "conformance-unipercept").is_dir(), reason="no UniPercept fixture")
def test_fixture_prompt_texts_match_our_rendering():
    expected = json.loads((SHARED / "conformance-unipercept" / "expected.json").read_text())
    template = expected["score_prompt"]["question_template"]
    assert template == UNIPERCEPT.dimension("iaa").question.replace("aesthetics", "{desc}", 1)
    for key, entry in expected["score_prompt"]["dimensions"].items():
        assert UNIPERCEPT.dimension(key).question == entry["question"]


def test_matching_by_name_config_and_setting():
    assert match_family(["tiny-unipercept", None], {}) is UNIPERCEPT
    assert match_family(["model", "Thunderbolt215215/UniPercept"], {}) is UNIPERCEPT
    assert match_family(["snapshot"], {"_name_or_path": "/ckpt/UniPercept-8B"}) is UNIPERCEPT
    assert match_family(["ArtiMuse_AVA"], {}) is ARTIMUSE
    assert match_family(["my-finetune"], {}) is ARTIMUSE  # the default
    assert match_family(["my-finetune"], {"family": "UniPercept"}) is UNIPERCEPT  # config key
    assert match_family(["tiny-unipercept"], {}, explicit="artimuse") is ARTIMUSE  # the setting wins
    with pytest.raises(InvalidValue, match="family must be one of ArtiMuse, UniPercept"):
        family_named("nope")
    with pytest.raises(InvalidValue, match="dimension must be one of iaa for ArtiMuse"):
        ARTIMUSE.dimension("iqa")


def test_family_is_a_declared_setting():
    assert EngineSpec(family="unipercept").family == "unipercept"
    assert EngineSpec().family is None
    assert EngineSpec.from_strings({"family": "auto"}).family is None
    with pytest.raises(InvalidValue, match="family must be one of"):
        EngineSpec(family="clip")


def test_a_third_family_is_one_declaration():
    """What a new InternVL Token-As-Score model needs: a Family; the prompts follow from it."""
    third = Family(
        name="Sharpness",
        dimensions=(UNIPERCEPT.dimension("iqa"),),
        newline_after_image=True,
        name_patterns=("sharp",),
    )
    text = third.score_prompt("sys", "iqa", num_image_tokens=2)
    assert text == prompts.render_prompt("sys", UNIPERCEPT.dimension("iqa").question, 2)
    assert third.primary == "iqa" and not third.attributes and third.can_ask


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "conformance-unipercept").is_dir(), reason="no UniPercept fixture")
def test_the_family_setting_and_config_key_choose_the_prompts(tmp_path):
    """The fixture checkpoint under a neutral name loads as ArtiMuse (other prompt ids, other scores); the
    ``family`` setting, or a ``family`` key in its config.json, makes it UniPercept again: reference ids."""
    import shutil

    from artimuse_core import create_engine

    folder = SHARED / "conformance-unipercept"
    expected = json.loads((folder / "expected.json").read_text())
    reference = {k: d["token_ids"] for k, d in expected["score_prompt"]["dimensions"].items()}
    plain = shutil.copytree(folder / "tiny-unipercept", tmp_path / "checkpoint")
    as_artimuse = create_engine(plain, batch_size=2)
    assert as_artimuse.family is ARTIMUSE and as_artimuse.score_prompt_ids.tolist() != reference["iaa"]
    chosen = create_engine(plain, batch_size=2, family="unipercept")
    assert chosen.family is UNIPERCEPT and chosen.provenance.family == "UniPercept"
    assert {k: v.tolist() for k, v in chosen.dimension_prompt_ids.items()} == reference
    with pytest.raises(InvalidValue, match="UniPercept writes no attribute critiques"):
        chosen.critique([folder / "images" / "u02_square_448.jpg"], ["composition"])
    result = next(chosen.evaluate([folder / "images" / "u02_square_448.jpg"], predict_category=True))
    assert result.category is None and list(result.scores) == ["iaa", "iqa", "ista"]  # no category question
    wanted = expected["images"][1]["dimensions"]
    assert all(abs(result.scores[k] - wanted[k]["score"]) <= 1e-3 for k in wanted)

    config = json.loads((plain / "config.json").read_text())
    (plain / "config.json").write_text(json.dumps({**config, "family": "UniPercept"}))
    assert create_engine(plain, batch_size=2).family is UNIPERCEPT
