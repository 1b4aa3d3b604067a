"""Accelerators' published peak matmul throughput and memory, for MFU and capacity planning.

MFU (PaLM App. B) divides the model FLOPs actually achieved by the peak the hardware could deliver,
so the peak must be the vendor's dense figure for the dtype the model computes in (no sparsity).
Figures are per chip/device as the vendors publish them.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Accelerator:
    name: str
    peak_bf16_flops: float  # dense bf16 matmul FLOP/s per device
    peak_fp32_flops: float  # dense fp32 FLOP/s per device (TF32 where the vendor quotes it)
    memory_gib: float  # device memory (HBM) per device
    note: str = ""


ACCELERATORS: dict[str, Accelerator] = {
    a.name: a for a in (
        Accelerator("tpu_v4", 275e12, 275e12 / 2, 32, "per chip; PaLM's hardware"),
        Accelerator("tpu_v5e", 197e12, 197e12 / 2, 16, "per chip"),
        Accelerator("tpu_v5p", 459e12, 459e12 / 2, 95, "per chip"),
        Accelerator("h100_sxm", 989e12, 494.5e12, 80, "dense bf16; fp32 column is TF32"),
        Accelerator("h200", 989e12, 494.5e12, 141, "same compute as H100 SXM, more HBM"),
        Accelerator("a100", 312e12, 156e12, 80,
                    "dense bf16; fp32 column is TF32; 40 GB variant exists"),
        Accelerator("v100", 125e12, 15.7e12, 32, "tensor-core fp16 figure for the bf16 column"),
    )
}


def accelerator(name: str) -> Accelerator:
    """The named accelerator, or a ValueError listing the known names."""
    try:
        return ACCELERATORS[name]
    except KeyError:
        raise ValueError(f"unknown accelerator {name!r}; known: {', '.join(ACCELERATORS)} "
                         "(or give the peak FLOP/s explicitly)") from None


def guess_accelerator(device_kind: str) -> Accelerator | None:
    """Maps `jax.Device.device_kind` (e.g. 'NVIDIA H100 80GB HBM3', 'TPU v4') to a table entry.

    None for CPUs and anything unrecognised: their peak must be measured or given.
    """
    kind = device_kind.lower().replace(" ", "")
    for key, name in (("h200", "h200"), ("h100", "h100_sxm"), ("a100", "a100"),
                      ("v100", "v100"), ("tpuv5p", "tpu_v5p"), ("tpuv5lite", "tpu_v5e"),
                      ("tpuv5e", "tpu_v5e"), ("tpuv4", "tpu_v4")):
        if key in kind:
            return ACCELERATORS[name]
    return None
