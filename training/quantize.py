"""ONNX Runtime int8: static quantization of the ONNX form, its activations' ranges calibrated on
images of the run's training split (never test images). EfficientNet-Lite was built to quantize well
(ReLU6, no squeeze-excite); on CPUs with int8 dot products (AVX-512 VNNI) the int8 model ran about 2x
the images/s of float32 here (BENCHMARKS.md, serving forms). ``training export`` ships it only when it
is faster on the exporting machine and loses at most ``--int8-max-f1-drop`` points of test macro-F1."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process


class _Batches(CalibrationDataReader):
    def __init__(self, images: Iterator[np.ndarray], input_name: str) -> None:
        self.images = images
        self.input_name = input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        image = next(self.images, None)
        return None if image is None else {self.input_name: image[None]}


def quantize_int8(fp32: Path, out: Path, calibration: list[np.ndarray], input_name: str = "input") -> Path:
    """``fp32`` quantized to int8 (QDQ, weights per channel) into ``out``; ``calibration``: preprocessed
    images (3, H, W) whose activations set the quantization ranges."""
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))  # shape inference and graph clean-up first, as advised
        quantize_static(
            str(prepared),
            str(out),
            _Batches(iter(calibration), input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    return out
