#!/usr/bin/env python3
"""Rewrites four of the models into graphs ONNX Runtime runs faster, with the same arithmetic.

The converted TensorFlow graphs spell simple activations in ways ONNX Runtime's CPU kernels handle
badly (measured with its profiler, docs/performance.md):
  * age/gender: ReLU6 as Relu -> Min(6) -> Max(0): three unfused passes, each forcing the blocked
    (NCHWc) convolution layout back and forth. Written as Clip(0, 6), it fuses into the convolution.
  * face mesh: PRelu, whose CPU kernel takes a slow generic broadcast path (64 % of the model's time).
  * MobileFaceNet: PRelu spelled Relu(x) + k * (x - Abs(x)) (five passes).
Both PRelu forms become x + (s - 1) * Min(x, 0) (three vectorised passes), which is PRelu exactly:
x for x >= 0, s * x below. Outputs agree with the originals to float rounding (checked here and by
tests/models.rs on real faces).
  * mask: declared for 224x224 only, with a 7x7 AveragePool over its last 7x7 map. Written as
    GlobalAveragePool (the same at 224) with any input size, so small faces can be read at 112 px
    (attributes.mask_small_face_px): bit for bit the same output at 224.

Usage: optimize-models.py MODELS_DIR   (writes <name>.fast.onnx beside each original)
Needs the `onnx` Python package (Debian: python3-onnx).
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def consumers(graph):
    out = {}
    for n in graph.node:
        for i in n.input:
            out.setdefault(i, []).append(n)
    return out


def const_of(graph, name):
    for i in graph.initializer:
        if i.name == name:
            return numpy_helper.to_array(i)
    return None


def replace_nodes(graph, nodes, initializers=()):
    """The graph's nodes become `nodes` (in order); `initializers` are added."""
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)


def prelu_nodes(x, slope_minus_one, out, tag):
    """x + (s - 1) * Min(x, 0)."""
    return [
        helper.make_node("Min", [x, "fast_zero"], [f"{tag}_neg"], name=f"{tag}_min"),
        helper.make_node("Mul", [f"{tag}_neg", slope_minus_one], [f"{tag}_scaled"], name=f"{tag}_mul"),
        helper.make_node("Add", [x, f"{tag}_scaled"], [out], name=f"{tag}_add"),
    ]


def relu6_to_clip(model):
    g = model.graph
    use = consumers(g)
    new, drop, k = [], set(), 0
    for n in g.node:
        if id(n) in drop:
            continue
        if n.op_type == "Relu":
            nxt = use.get(n.output[0], [])
            if len(nxt) == 1 and nxt[0].op_type == "Min" and np.all(const_of(g, nxt[0].input[1]) == 6):
                mn = nxt[0]
                nxt2 = use.get(mn.output[0], [])
                if len(nxt2) == 1 and nxt2[0].op_type == "Max" and np.all(const_of(g, nxt2[0].input[1]) == 0):
                    mx = nxt2[0]
                    new.append(helper.make_node("Clip", [n.input[0], "fast_zero", "fast_six"], [mx.output[0]],
                                                name=f"fast_relu6_{k}"))
                    drop.update((id(mn), id(mx)))
                    k += 1
                    continue
        new.append(n)
    replace_nodes(g, new, [numpy_helper.from_array(np.array(6, np.float32), "fast_six")])
    return k


def size_free_pool(model):
    """The input's height and width made free, the fixed 7x7 average over the last map global."""
    g = model.graph
    pools = [n for n in g.node if n.op_type == "AveragePool"
             and [list(a.ints) for a in n.attribute if a.name == "kernel_shape"] == [[7, 7]]]
    dims = g.input[0].type.tensor_type.shape.dim
    if len(pools) != 1 or len(dims) != 4 or dims[1].dim_value != 224 or dims[2].dim_value != 224:
        return 0
    for k, name in ((1, "height"), (2, "width")):
        dims[k].ClearField("dim_value")
        dims[k].dim_param = name
    pools[0].op_type = "GlobalAveragePool"
    del pools[0].attribute[:]
    # Shapes inferred for 224 would contradict other sizes.
    del g.value_info[:]
    return 1


def prelu_to_min(model):
    g = model.graph
    new, extra, k = [], [], 0
    for n in g.node:
        s = const_of(g, n.input[1]) if n.op_type == "PRelu" else None
        if s is None:
            new.append(n)
            continue
        name = f"fast_prelu_{k}"
        extra.append(numpy_helper.from_array((s - 1).astype(np.float32), f"{name}_s1"))
        new.extend(prelu_nodes(n.input[0], f"{name}_s1", n.output[0], name))
        k += 1
    replace_nodes(g, new, extra)
    return k


def spelled_prelu_to_min(model):
    """Relu(x) + Mul(Sub(x, Abs(x)), k)  ->  x + (2k - 1) * Min(x, 0)."""
    g = model.graph
    use = consumers(g)
    by_out = {o: n for n in g.node for o in n.output}
    new, extra, drop, k = [], [], set(), 0
    replaced = {}
    for add in g.node:
        if add.op_type != "Add" or len(add.input) != 2:
            continue
        relu, mul = (by_out.get(add.input[0]), by_out.get(add.input[1]))
        if not (relu and mul and relu.op_type == "Relu" and mul.op_type == "Mul"):
            continue
        sub = by_out.get(mul.input[0])
        kk = const_of(g, mul.input[1])
        if not (sub and sub.op_type == "Sub" and kk is not None):
            continue
        ab = by_out.get(sub.input[1])
        x = relu.input[0]
        if not (ab and ab.op_type == "Abs" and ab.input[0] == x and sub.input[0] == x):
            continue
        if any(len(use.get(o.output[0], [])) != 1 for o in (relu, ab, sub, mul)):
            continue
        name = f"fast_prelu_{k}"
        extra.append(numpy_helper.from_array((2 * kk - 1).astype(np.float32), f"{name}_s1"))
        replaced[id(add)] = prelu_nodes(x, f"{name}_s1", add.output[0], name)
        drop.update((id(relu), id(ab), id(sub), id(mul)))
        k += 1
    for n in g.node:
        if id(n) in drop:
            continue
        new.extend(replaced.get(id(n), [n]))
    replace_nodes(g, new, extra)
    return k


REWRITES = {
    "age_gender_hse_mobilenet.onnx": relu6_to_clip,
    "face_landmarks_mediapipe_468.onnx": prelu_to_min,
    "face_recognizer_mobilefacenet_192d.onnx": spelled_prelu_to_min,
    "face_mask_mobilenetv2.onnx": size_free_pool,
}


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    for name, rewrite in REWRITES.items():
        src = folder / name
        if not src.is_file():
            print(f"optimize-models: {src} missing, skipped", file=sys.stderr)
            continue
        model = onnx.load(str(src))
        model.graph.initializer.extend([numpy_helper.from_array(np.array(0, np.float32), "fast_zero")])
        n = rewrite(model)
        dst = src.with_suffix(".fast.onnx")
        if n == 0:
            # Another version of the model: it runs as shipped, and no stale rewrite of the old
            # one may stay beside it.
            dst.unlink(missing_ok=True)
            print(f"optimize-models: nothing to rewrite in {src}; it runs as shipped", file=sys.stderr)
            continue
        used = {i for node in model.graph.node for i in node.input}
        keep = [i for i in model.graph.initializer if i.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(keep)
        onnx.checker.check_model(model)
        tmp = dst.with_suffix(".tmp")
        onnx.save(model, str(tmp))
        tmp.replace(dst)
        print(f"optimize-models: {dst.name}: {n} activations rewritten")


if __name__ == "__main__":
    main()
