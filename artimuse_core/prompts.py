"""The exact prompt texts of the inference contract (docs/inference.md "Prompt" and "Token As Score").

Every string here is byte-for-byte what the authors' code sends; a changed space changes scores.
"""

from __future__ import annotations

import hashlib

from .errors import InvalidValue

DEFAULT_SYSTEM_MESSAGE = (
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
)

SCORE_QUESTION = (
    "\n        Rate the aesthetics score of the image in 0-100. \n"
    "        In the output format, numbers are replaced by 2 corresponding letters, \n"
    "        and the mapping relationship is: \n"
    "        score 0 to 25: 0-aa, 1-ab, 2-ac, 3-ad, ... , 25-az,\n"
    "        score 26 to 50: 26-ca, 27-cb, 28-cc, 29-cd, ..., 50-cy,\n"
    "        score 51 to 75: 51-da, 52-db, 53-dc, 54-dd, ..., 75-dy,\n"
    "        score 76 to 100: 76-ea, 77-eb, 78-ec, 79-ed, ..., 100-ey.\n"
    "\n"
    "        The answer only outputs 2 corresponding letters.\n"
    "        "
)
SCORE_QUESTION_SHA256 = "44add3d4d8e19034638648cf932161dde5dbc191851afac8e6d019cef7d5d6ad"

ATTRIBUTES: tuple[str, ...] = (
    "Composition & Design",
    "Visual Elements & Structure",
    "Technical Execution",
    "Originality & Creativity",
    "Theme & Communication",
    "Emotion & Viewer Response",
    "Overall Gestalt",
    "Comprehensive Evaluation",
)

IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"
IM_END = "<|im_end|>"
NUM_IMAGE_TOKENS = 256


def critique_question(attribute: str) -> str:
    return f"Please evaluate the aesthetic quality of this image from the aspect of {attribute}."


def resolve_attribute(name: str) -> str:
    """Accept an attribute by its full name, case-insensitively, or by an unambiguous prefix/slug."""
    wanted = name.strip().lower().replace("_", " ").replace("-", " ")
    for attribute in ATTRIBUTES:
        if attribute.lower() == name.strip().lower():
            return attribute
    matches = [
        a for a in ATTRIBUTES if a.lower().replace("&", "and").startswith(wanted) or a.lower().startswith(wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InvalidValue(f"ambiguous attribute {name!r}: matches {', '.join(matches)}")
    raise InvalidValue(f"unknown attribute {name!r}; choose from: {', '.join(ATTRIBUTES)}")


def system_message(chat_config: dict) -> str:
    """The reference renders ``config.system_message`` with ``str()`` (JSON null -> 'None')."""
    if "system_message" in chat_config:
        return str(chat_config["system_message"])
    return DEFAULT_SYSTEM_MESSAGE


def render_prompt(system: str, question: str, num_image_tokens: int = NUM_IMAGE_TOKENS, *, newline: bool = True) -> str:
    """The ``internvl2_5`` chat template with one image in front of the question.

    ``newline``: ``</img>\n{question}`` as ``chat()`` writes it (the question gets ``<image>\n`` in front);
    False for a question that carries its own ``<image>`` placeholder (UniPercept's score prompts).
    """
    image = IMG_START + IMG_CONTEXT * num_image_tokens + IMG_END + ("\n" if newline else "")
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{image}{question}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def score_token_strings() -> list[str]:
    """Token-As-Score strings in score order 0..100: aa..az, ca..cy, da..dy, ea..ey (no 'b' row)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    rows = [("a", 26), ("c", 25), ("d", 25), ("e", 25)]
    return [prefix + letters[i] for prefix, count in rows for i in range(count)]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


assert sha256_text(SCORE_QUESTION) == SCORE_QUESTION_SHA256, "score question text was altered"
assert len(score_token_strings()) == 101
