"""Finding and checking checkpoints: folders, the Hugging Face cache by id and short name, clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from artimuse_cli.main import cli
from artimuse_core import CheckpointError, CheckpointNotFound, resolve_checkpoint
from artimuse_core.checkpoints import fingerprint, inspect_checkpoint


def create_engine(*args, **kwargs):  # imported when used: torch and transformers load for the slow tests only
    from artimuse_core import create_engine

    return create_engine(*args, **kwargs)


def build_checkpoint(*args, **kwargs):
    from artimuse_core.synthetic import build_checkpoint

    return build_checkpoint(*args, **kwargs)


@pytest.fixture()
def copy_of(tiny_chat, tmp_path):
    def make(name="ckpt"):
        return shutil.copytree(tiny_chat, tmp_path / name)

    return make


def test_hf_id_and_short_name_resolve_through_the_local_cache(tiny_chat, isolated_hf_home, mixed_images):
    snapshot = isolated_hf_home / "hub" / "models--Thunderbolt215215--ArtiMuse_AVA" / "snapshots" / ("a" * 40)
    shutil.copytree(tiny_chat, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    by_name = resolve_checkpoint("ArtiMuse_AVA")
    by_id = resolve_checkpoint("Thunderbolt215215/ArtiMuse_AVA")
    assert by_name.path == by_id.path == snapshot
    assert by_name.name == "ArtiMuse_AVA" and by_name.repo_id == "Thunderbolt215215/ArtiMuse_AVA"
    cached = create_engine("ArtiMuse_AVA").score(mixed_images[:3])
    local = create_engine(tiny_chat).score(mixed_images[:3])
    assert [r.score for r in cached] == [r.score for r in local]
    assert cached[0].provenance.repo_id == "Thunderbolt215215/ArtiMuse_AVA"


def test_uncached_model_offline_says_how_to_get_it():
    with pytest.raises(CheckpointNotFound) as info:
        resolve_checkpoint("ArtiMuse_PARA")
    message = str(info.value)
    assert "Thunderbolt215215/ArtiMuse_PARA" in message and "hf download" in message
    assert "downloads are off" in message and "model setting" in message  # the core names settings, not flags


def test_missing_folder_and_unknown_name(tmp_path):
    with pytest.raises(CheckpointNotFound, match="no such checkpoint folder"):
        resolve_checkpoint(str(tmp_path / "nowhere"))
    with pytest.raises(CheckpointNotFound):
        resolve_checkpoint("NotAModel")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "config.json").unlink(), "no config.json"),
        (lambda p: (p / "model.safetensors").unlink(), "no model.safetensors"),
        (lambda p: (p / "vocab.json").unlink(), "missing tokenizer.json"),
        (lambda p: (p / "config.json").write_text(json.dumps({"model_type": "llama"})), "not an InternVL"),
        (lambda p: (p / "config.json").write_text("{not json"), "unreadable config"),
    ],
)
def test_wrong_or_incomplete_folder_names_what_is_wrong(copy_of, damage, message):
    folder = copy_of()
    damage(folder)
    with pytest.raises(CheckpointError, match=message):
        inspect_checkpoint(folder)


def test_pickle_weights_are_refused(copy_of):
    folder = copy_of()
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="safetensors only"):
        inspect_checkpoint(folder)


def test_truncated_weights_and_mismatched_config_are_clear(copy_of):
    folder = copy_of("truncated")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        create_engine(folder)
    other = copy_of("mismatch")
    config = json.loads((other / "config.json").read_text())
    config["llm_config"]["hidden_size"] = 64
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="do not fit"):
        create_engine(other)


def test_fingerprint_tells_same_shaped_weights_apart(tiny_chat, tmp_path):
    other = build_checkpoint(tmp_path / "seed2", seed=2)
    a, b = inspect_checkpoint(tiny_chat), inspect_checkpoint(other)
    assert fingerprint(a) == fingerprint(inspect_checkpoint(tiny_chat))
    assert fingerprint(a) != fingerprint(b)


def test_trust_remote_code_is_never_needed(copy_of, mixed_images):
    folder = copy_of()
    (folder / "modeling_internvl_chat.py").write_text("raise SystemExit('remote code ran')\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_internvl_chat.InternVLChatModel"}
    (folder / "config.json").write_text(json.dumps(config))
    assert create_engine(folder).score(mixed_images[:1])[0].ok


def test_cli_reports_a_bad_model_in_one_line(tmp_path, mixed_images):
    result = CliRunner().invoke(cli, ["score", str(mixed_images[0]), "--model", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "no config.json" in result.output
