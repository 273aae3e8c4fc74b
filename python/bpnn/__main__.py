"""python -m bpnn: what the package adds to bpnn-cl.

    python -m bpnn devices                      the devices bpnn.devices() lists
    python -m bpnn export-onnx MODEL OUT.onnx   a model file as an ONNX graph
"""

import sys


def main(argv):
    import bpnn

    if len(argv) == 1 and argv[0] == "devices":
        for d in bpnn.devices():
            print(f"{d.spec:<12} {d.name} ({d.type}{', ' + d.vendor if d.vendor else ''})")
        return 0
    if len(argv) in (3, 4) and argv[0] == "export-onnx":
        input_type = argv[3] if len(argv) == 4 else "float64"
        try:
            bpnn.Model.load(argv[1]).to_onnx(argv[2], input_type=input_type)
        except (bpnn.BPNNError, ValueError, ImportError, OSError) as e:
            print(f"python -m bpnn: {e}", file=sys.stderr)
            return 2 if isinstance(e, ValueError) else 1
        print(f"python -m bpnn: {argv[2]} written", file=sys.stderr)
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
