"""The ctypes mirrors of include/bpnn.h against the header itself: a change of
the header that the bindings do not follow fails here, not as corrupted
memory at run time.

Each mirrored structure's members are read from the header, in order, and a
small C program compiled against it prints every size and offset; every
bound function must be declared with as many parameters as it is bound with."""

import ctypes
import os
import re
import shutil
import subprocess

import pytest

from bpnn import _lib

from conftest import INCLUDE_DIR

HEADER = os.path.join(INCLUDE_DIR, "bpnn.h")


def header_text():
    with open(HEADER, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_members(text, name):
    match = re.search(r"typedef\s+struct\s+" + name + r"\s*\{(.*?)\}\s*" + name + r"\s*;", text,
                      re.S)
    assert match, f"{name} is not declared in {HEADER}"
    members = []
    for declaration in match.group(1).split(";"):
        declaration = " ".join(declaration.split())
        if not declaration:
            continue
        first, *rest = declaration.split(",")
        members.append(re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", first).group(1))
        for part in rest:
            members.append(re.search(r"\**\s*(\w+)\s*(\[[^\]]*\])?\s*$", part).group(1))
    return members


def c_name(field):
    return _lib.C_FIELD_NAMES.get(field, field)


@pytest.mark.parametrize("name", sorted(_lib.STRUCTS))
def test_members_match_header(name):
    mirrored = [c_name(f) for f, _ in _lib.STRUCTS[name]._fields_]
    assert mirrored == header_members(header_text(), name)


def compiled_layout(tmp_path):
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        pytest.skip("no C compiler (CC) to compile the header with")
    lines = ["#include <signal.h>", "#include <stddef.h>", "#include <stdio.h>",
             '#include "bpnn.h"', "int main(void) {",
             '    printf("sig_atomic_t %zu 0\\n", sizeof(sig_atomic_t));']
    for name, struct in _lib.STRUCTS.items():
        lines.append(f'    printf("{name} %zu 0\\n", sizeof({name}));')
        for field, _ in struct._fields_:
            member = c_name(field)
            lines.append(f'    printf("{name}.{member} %zu %zu\\n", '
                         f"sizeof((({name} *)0)->{member}), offsetof({name}, {member}));")
    for enum in ("bpnn_status", "bpnn_precision", "bpnn_optimizer", "bpnn_lr_schedule",
                 "bpnn_progress_kind", "bpnn_normalization", "bpnn_csv_header"):
        lines.append(f'    printf("{enum} %zu 0\\n", sizeof({enum}));')
    lines += ["    return 0;", "}"]
    source = tmp_path / "layout.c"
    source.write_text("\n".join(lines) + "\n")
    program = tmp_path / "layout"
    subprocess.run([compiler, "-std=c11", "-I", INCLUDE_DIR, str(source), "-o", str(program)],
                   check=True)
    out = subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout
    return {k: (int(size), int(offset))
            for k, size, offset in (line.split() for line in out.splitlines())}


def test_sizes_and_offsets_match_header(tmp_path):
    layout = compiled_layout(tmp_path)
    assert layout["sig_atomic_t"][0] == ctypes.sizeof(ctypes.c_int)  # bpnn_interrupt_flag
    for enum in ("bpnn_status", "bpnn_precision", "bpnn_optimizer", "bpnn_lr_schedule",
                 "bpnn_progress_kind", "bpnn_normalization", "bpnn_csv_header"):
        assert layout[enum][0] == ctypes.sizeof(ctypes.c_int), enum
    for name, struct in _lib.STRUCTS.items():
        assert layout[name][0] == ctypes.sizeof(struct), f"sizeof({name})"
        for field, _ in struct._fields_:
            member = c_name(field)
            descriptor = getattr(struct, field)
            assert layout[f"{name}.{member}"] == (descriptor.size, descriptor.offset), \
                f"{name}.{member}: (size, offset) in C and in the bindings"


def test_bound_functions_match_header():
    text = header_text()
    for name, (_, argtypes) in _lib._SIGNATURES.items():
        match = re.search(r"\b" + name + r"\s*\(([^)]*)\)\s*(?:BPNN_\w+\s*\([^)]*\)\s*)?;", text)
        assert match, f"{name} is not declared in {HEADER}"
        parameters = " ".join(match.group(1).split())
        count = 0 if parameters in ("", "void") else parameters.count(",") + 1
        assert count == len(argtypes), f"{name}: {count} parameters in C, bound with " \
                                       f"{len(argtypes)}"
        assert _lib.has(name), f"{name} is declared but libbpnn does not export it"


def test_enum_values_match_header():
    text = header_text()
    for c, value in (("BPNN_OK", _lib.BPNN_OK), ("BPNN_ERR_RUNTIME", _lib.BPNN_ERR_RUNTIME),
                     ("BPNN_ERR_INVALID", _lib.BPNN_ERR_INVALID),
                     ("BPNN_ERR_DIVERGED", _lib.BPNN_ERR_DIVERGED),
                     ("BPNN_ERR_INTERRUPTED", _lib.BPNN_ERR_INTERRUPTED)):
        assert re.search(r"\b" + c + r"\s*=\s*" + str(value) + r"\b", text), c
    assert re.search(r"#define\s+BPNN_MAX_LAYERS\s+" + str(_lib.BPNN_MAX_LAYERS) + r"\b", text)
    order = [("BPNN_OPT_CG", 0), ("BPNN_OPT_LBFGS", 1), ("BPNN_OPT_SGD", 2),
             ("BPNN_OPT_MOMENTUM", 3), ("BPNN_OPT_ADAM", 4), ("BPNN_LR_CONSTANT", 0),
             ("BPNN_LR_STEP", 1), ("BPNN_LR_COSINE", 2), ("BPNN_NORMALIZE_NONE", 0),
             ("BPNN_NORMALIZE_ZSCORE", 1), ("BPNN_NORMALIZE_MINMAX", 2), ("BPNN_F32", 0),
             ("BPNN_F64", 1)]
    for c, value in order:
        assert re.search(r"\b" + c + r"\s*=\s*" + str(value) + r"\b", text), c
