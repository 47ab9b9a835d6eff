#!/usr/bin/env python3
"""The int8 graphs of the age/gender and mask models (models.int8_age_gender, models.int8_mask).

usage: quantize-models.py MODELS_DIR CALIBRATION_DIR

CALIBRATION_DIR holds what `facestream model-calibration` wrote: faces.txt (how many faces),
age_gender.f32 and mask.f32, each model's 224x224x3 inputs as it reads them. Weights int8 per
channel, activations uint8, QDQ format (ONNX Runtime fuses the pairs into integer kernels),
activation ranges by min/max over the calibration faces. The mask model's first six
convolutions stay float: in 8 bits they moved masked faces near its threshold across it (the
layers at 112 px, where a face's detail is finest). Quantized from the model's rewritten graph
(scripts/optimize-models.py) when that is current. Writes <model>.int8.onnx beside the model
through a temporary file, so a reader never sees half a graph. Measured in docs/models.md.
"""
import os
import sys

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

# (model, calibration inputs, how many of its first convolutions stay float)
MODELS = [
    ("age_gender_hse_mobilenet.onnx", "age_gender.f32", 0),
    ("face_mask_mobilenetv2.onnx", "mask.f32", 6),
]


class Faces(CalibrationDataReader):
    def __init__(self, name, data):
        self.items = iter([{name: data[i : i + 1]} for i in range(len(data))])

    def get_next(self):
        return next(self.items, None)


def source_of(models, file):
    """The graph to quantize: the rewritten one when it is current, else the model."""
    model = os.path.join(models, file)
    fast = model[: -len(".onnx")] + ".fast.onnx"
    if os.path.exists(fast) and os.path.getmtime(fast) >= os.path.getmtime(model):
        return fast
    return model


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    models, calibration = sys.argv[1], sys.argv[2]
    count = int(open(os.path.join(calibration, "faces.txt")).read())
    for file, inputs, float_convs in MODELS:
        data = np.fromfile(os.path.join(calibration, inputs), dtype="<f4")
        if data.size != count * 224 * 224 * 3:
            sys.exit(f"{inputs}: {data.size} floats, expected {count} faces of 224x224x3")
        data = data.reshape(count, 224, 224, 3)
        src = source_of(models, file)
        out = os.path.join(models, file[: -len(".onnx")] + ".int8.onnx")
        pre, tmp = out + ".pre.part", out + ".part"
        quant_pre_process(src, pre, skip_symbolic_shape=True)
        # Named in the graph the quantizer reads (pre-processing fuses and renames nodes).
        graph = onnx.load(pre).graph
        name = graph.input[0].name
        convs = [n.name for n in graph.node if n.op_type == "Conv"]
        quantize_static(
            pre,
            tmp,
            Faces(name, data),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=convs[:float_convs],
        )
        os.remove(pre)
        os.replace(tmp, out)
        print(f"quantize-models: {os.path.basename(src)} -> {os.path.basename(out)} ({count} faces)")


if __name__ == "__main__":
    main()
