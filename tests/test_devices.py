"""Placement choices are explicit and refuse what can't work here with a clear error."""

from __future__ import annotations

import pytest
import torch

from artimuse_core import DeviceError
from artimuse_core.devices import choose_placement, is_out_of_memory


def test_auto_on_a_cpu_machine_is_fp32_sdpa():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    placement = choose_placement()
    assert (placement.device.type, placement.dtype, placement.attn_implementation) == ("cpu", torch.float32, "sdpa")


def test_overrides_and_refusals():
    assert choose_placement("cpu", "bfloat16").dtype == torch.bfloat16
    with pytest.raises(DeviceError, match="needs a CUDA GPU"):
        choose_placement("cpu", quantize="4bit")
    with pytest.raises(DeviceError, match="unknown dtype"):
        choose_placement("cpu", "float8")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            choose_placement("cuda")


def test_out_of_memory_is_recognised():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
