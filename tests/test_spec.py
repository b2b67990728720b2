"""The one engine spec: declared once, validated, resolved with a known precedence, and the only source of
the CLI's options and of what ComfyUI needs to build its inputs."""

from __future__ import annotations

import dataclasses

import click
import pytest

from artimuse_core.config import load_config
from artimuse_core.errors import ConfigError, InvalidValue
from artimuse_core.images import ImageOptions
from artimuse_core.settings import STAGES
from artimuse_core.spec import SETTINGS, EngineSpec, describe_settings, setting_named, settings_at


def test_defaults_and_validation_name_the_setting():
    spec = EngineSpec()
    assert (spec.model, spec.batch_size, spec.max_new_tokens, spec.max_pixels) == ("ArtiMuse", 8, 512, 200_000_000)
    for bad, message in [
        (dict(batch_size=0), "batch_size must be a whole number from 1"),
        (dict(dtype="float8"), "dtype must be one of auto, float32, bfloat16, float16"),
        (dict(device="gpu"), "device must be auto, cpu, cuda, cuda:N or mps"),
        (dict(background=(1, 2)), "background must be three numbers 0-255"),
        (dict(exif="yes"), "exif must be true or false"),
        (dict(colour="blue"), "unknown setting 'colour'"),
    ]:
        with pytest.raises(InvalidValue, match=message):
            EngineSpec().replace(**bad)
    with pytest.raises(ValueError):  # InvalidValue is also a ValueError
        EngineSpec(batch_size=-1)


def test_text_values_parse_like_the_environment_writes_them():
    spec = EngineSpec.from_strings(
        {
            "background": "255,255,255",
            "exif": "off",
            "decode_workers": "auto",
            "batch_size": "16",
            "adapter": "none",
            "device": "cuda:1",
        }
    )
    assert spec.background == (255, 255, 255) and spec.exif is False and spec.decode_workers is None
    assert spec.batch_size == 16 and spec.adapter is None and spec.device == "cuda:1"


def test_coerce_takes_a_spec_a_model_or_nothing():
    assert EngineSpec.coerce() == EngineSpec()
    assert EngineSpec.coerce("/x/ckpt", batch_size=2) == EngineSpec(model="/x/ckpt", batch_size=2)
    spec = EngineSpec(model="m", jpeg_draft=True)
    assert EngineSpec.coerce(spec) is spec and EngineSpec.coerce(spec, model="n").jpeg_draft is True


def test_image_options_are_the_image_stage_of_the_spec():
    """``ImageOptions`` holds exactly the settings of the ``image`` stage, under their names, with their declared
    defaults and checks: a new image setting that is not added there fails here."""
    image = settings_at("image")
    assert [f.name for f in dataclasses.fields(ImageOptions)] == [s.name for s in image]
    assert [f.default for f in dataclasses.fields(ImageOptions)] == [s.default for s in image]
    assert ImageOptions() == ImageOptions.of(EngineSpec())
    options = ImageOptions.of(EngineSpec(max_pixels=10, exif=False, background=(0, 0, 0), jpeg_draft=True))
    assert (options.max_pixels, options.exif, options.background, options.jpeg_draft) == (10, False, (0, 0, 0), True)
    assert ImageOptions(background=[1, 2, 3]).background == (1, 2, 3)  # normalised as the spec normalises it
    for bad, message in [(dict(sixteen_bit="fancy"), "sixteen_bit must be one of reference, scale"),
                         (dict(max_pixels=0), "max_pixels must be a whole number from 1")]:  # fmt: skip
        with pytest.raises(InvalidValue, match=message):
            ImageOptions(**bad)


def test_every_setting_declares_its_stage_and_the_groups_follow_from_it():
    """Which settings belong together is read from the declarations, not from lists written beside them."""
    assert all(s.stage in STAGES for s in SETTINGS)
    assert {s.name for s in settings_at("weights")} == {"model", "device", "dtype", "quantize", "attn", "adapter"}
    assert [s.name for s in settings_at("call")] == ["max_new_tokens"]
    assert set(settings_at(*STAGES)) == set(SETTINGS)  # every setting has exactly one stage of these
    from artimuse_core.xmp.settings import XMP_SETTINGS

    assert {s.stage for s in XMP_SETTINGS} == {"xmp"}


@pytest.mark.slow  # imports torch (devices.py)
def test_the_device_choices_have_not_drifted_from_the_spec():
    from artimuse_core.devices import QUANTIZE_CHOICES

    assert QUANTIZE_CHOICES == setting_named("quantize").choices


def test_precedence_defaults_file_environment_arguments(tmp_path):
    file = tmp_path / "config.toml"
    file.write_text('model = "from-file"\nbatch_size = 4\ndtype = "bfloat16"\n')
    config = load_config(
        file,
        environ={
            "ARTIMUSE_MODEL": "from-env",
            "ARTIMUSE_JPEG_DRAFT": "1",
            "ARTIMUSE_DATABASE_URL": "sqlite:////tmp/x.db",
        },
    )
    assert (config.spec.model, config.spec.batch_size, config.spec.dtype, config.spec.jpeg_draft) == (
        "from-env",
        4,
        "bfloat16",
        True,
    )
    assert config.library_url() == "sqlite:////tmp/x.db"
    assert [config.source_of(n) for n in ("model", "batch_size", "jpeg_draft", "device", "database_url")] == [
        "environment",
        "file",
        "environment",
        "default",
        "environment",
    ]
    given = config.with_arguments(batch_size=32, model=None)
    assert (given.spec.batch_size, given.spec.model, given.source_of("batch_size")) == (32, "from-env", "argument")
    with pytest.raises(ConfigError, match="ARTIMUSE_MAX_PIXELS must be a whole number"):
        load_config(file, environ={"ARTIMUSE_MAX_PIXELS": "lots"})


def test_what_comfyui_needs_to_build_its_inputs():
    described = {d["name"]: d for d in describe_settings()}
    assert list(described) == [s.name for s in SETTINGS]
    assert described["batch_size"] == {
        "name": "batch_size",
        "type": "int",
        "stage": "engine",
        "default": 8,
        "choices": None,
        "min": 1,
        "max": 4096,
        "optional": False,
        "help": setting_named("batch_size").help,
    }
    assert described["quantize"]["choices"] == ("none", "8bit", "4bit")
    assert all(d["help"] for d in described.values())
    assert [d["name"] for d in describe_settings(("dtype", "device"))] == ["device", "dtype"]


def test_cli_engine_options_are_generated_from_the_spec():
    """Every engine command's options carry the declared default, help, choices and bounds: no copies."""
    from artimuse_cli.main import cli

    for name in ("score", "critique", "eval", "watch", "finetune", "doctor"):
        options = {p.name: p for p in cli.commands[name].params if isinstance(p, click.Option)}
        for setting in SETTINGS:
            option = options.get(setting.name)
            if option is None:
                continue
            assert option.help == setting.help and option.default == setting.default, (name, setting.name)
            if setting.kind == "choice":
                assert tuple(option.type.choices) == setting.choices
            if setting.kind == "int":
                assert (option.type.min, option.type.max) == (setting.min, setting.max)
    score = {p.name for p in cli.commands["score"].params}
    assert {s.name for s in SETTINGS} - {"max_new_tokens"} <= score


def test_doctor_takes_the_settings_a_load_reads():
    """`doctor` judges the engine a load would build: every setting of the weights and engine stages (it reads
    decode_workers for its thread plan), none of how files become pixels or of one call."""
    from artimuse_cli.main import cli

    options = {p.name for p in cli.commands["doctor"].params if isinstance(p, click.Option)}
    assert options & {s.name for s in SETTINGS} == {s.name for s in settings_at("weights", "engine")}
