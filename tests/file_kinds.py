"""Count the model-file kinds smtnn reads and computes as their own library does.

    python -m tests.file_kinds [--folder DIR]

Writes every kind of tests/model_zoo.py (needs keras, torch, onnxruntime, skl2onnx) and adds the published
VNN-COMP 2021 networks of tests/data/vnncomp2021; for each file, "ok" means smtnn loads it and matches the
library (values within 1e-6 relative, quantized labels exactly).  Quantized files are counted by their
exact forward pass (smtnn.loaders.load_quantized); the verification engines refuse them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"


def vnncomp_kinds() -> list:
    from tests.model_zoo import Made, onnxruntime_outputs
    import onnx

    made = []
    for path in sorted((DATA / "vnncomp2021").glob("*/*.onnx")):
        model = onnx.load(str(path))
        dims = tuple(d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim)
        inputs = np.random.default_rng(3).uniform(-1, 1, size=(20, int(np.prod(dims))))
        outputs = onnxruntime_outputs(model, inputs, dims)
        reads = "relu" if model.graph.node[-1].op_type == "Relu" else "logits"
        made.append(Made(f"VNN-COMP 2021 {path.parent.name}/{path.name}", path, inputs, outputs, reads, "onnxruntime"))
    return made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="where to write the files (default: a temporary folder)")
    args = parser.parse_args(argv)
    from tests.format_check import agrees
    from tests.model_zoo import make_all

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        made, missing = make_all(folder)
        made += vnncomp_kinds()
        ok = 0
        for item in made:
            try:
                good, message = agrees(item.path, item.reads, item.inputs, item.outputs)
            except Exception as exc:  # noqa: BLE001 - a count of what fails, with its one-line reason
                good, message = False, f"{type(exc).__name__}: {str(exc)[:160]}"
            ok += good
            print(f"{'ok  ' if good else 'FAIL'} {item.kind}: {message}")
        for line in missing:
            print(f"skipped {line}")
        print(f"{ok} of {len(made)} file kinds load and compute what their library computes")
    return 0 if ok == len(made) else 1


if __name__ == "__main__":
    sys.exit(main())
