#!/usr/bin/env python3
"""tests/safetensors_interop.py — wsk's safetensors files against the reference
implementation (the `safetensors` Python package), both ways.

    python3 tests/safetensors_interop.py LIBWSK_SO

LIBWSK_SO is the shared library (build/<preset>/libwsk.so); the script calls
wsk_safetensors_write / wsk_safetensors_read through ctypes.

1. wsk writes tensors of rank 0..4 (one empty; values with subnormals, -0,
   +-inf and NaN payloads) and metadata; safetensors.numpy.load_file (and
   safetensors.torch.load_file when torch is installed) read the same names,
   shapes and bits, and safe_open(...).metadata() the same metadata.
2. safetensors.numpy.save_file (and safetensors.torch.save_file) write float32
   tensors and metadata; wsk reads the same names, shapes, bits and metadata.
3. A file with a float16 tensor written by Python is rejected by wsk with
   WSK_ERR_FORMAT, the message naming the tensor and the dtype.

Exit 0 when every check passes, 1 on a failure, 77 (ctest's SKIP_RETURN_CODE)
when numpy or safetensors is not installed or the library cannot be loaded
into Python (a sanitizer build). To run it with a virtual environment:

    python3 -m venv /work/venv && /work/venv/bin/pip install safetensors numpy  # torch optional
    PATH=/work/venv/bin:$PATH ctest --test-dir build/release -R safetensors_interop
"""
import ctypes
import os
import sys
import tempfile

SKIP = 77
WSK_OK, WSK_ERR_FORMAT = 0, 8


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


try:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file as np_load, save_file as np_save
except ImportError as e:
    skip(f"{e} (pip install safetensors numpy)")
try:
    import torch
    from safetensors.torch import load_file as torch_load, save_file as torch_save
except ImportError:
    torch = None


class TensorRef(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("rank", ctypes.c_int),
                ("shape", ctypes.c_int64 * 8), ("data", ctypes.POINTER(ctypes.c_float))]


class SafeTensors(ctypes.Structure):
    _fields_ = [("count", ctypes.c_size_t), ("names", ctypes.POINTER(ctypes.c_char_p)),
                ("ranks", ctypes.POINTER(ctypes.c_int)),
                ("shapes", ctypes.POINTER(ctypes.c_int64 * 8)),
                ("data", ctypes.POINTER(ctypes.POINTER(ctypes.c_float))),
                ("nmeta", ctypes.c_size_t), ("meta_keys", ctypes.POINTER(ctypes.c_char_p)),
                ("meta_values", ctypes.POINTER(ctypes.c_char_p))]


failures = 0


def check(ok, what):
    global failures
    if not ok:
        failures += 1
        print(f"FAIL: {what}")


def same_bits(a, b):
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def sample_tensors():
    rng = np.random.default_rng(7)
    special = np.array([0.0, -0.0, 1e-40, -1e-45, np.inf, -np.inf, np.nan, 3.4e38],
                       dtype=np.float32)
    special[6:7].view(np.uint32)[0] = 0x7FC01234  # a NaN with a payload
    return {
        "0.weight": rng.standard_normal((32, 64)).astype(np.float32),
        "0.bias": rng.standard_normal(32).astype(np.float32),
        "conv.weight": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
        "empty": np.zeros((0, 5), dtype=np.float32),
        "scalar": np.array(2.5, dtype=np.float32),
        "special": special,
    }


def wsk_write(lib, path, tensors, meta):
    refs = (TensorRef * len(tensors))()
    keep = []
    for i, (name, a) in enumerate(tensors.items()):
        a = np.ascontiguousarray(a, dtype=np.float32)
        keep.append(a)
        refs[i].name = name.encode()
        refs[i].rank = a.ndim
        for k, d in enumerate(a.shape):
            refs[i].shape[k] = d
        refs[i].data = a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    flat = [s.encode() for kv in meta.items() for s in kv] + [None]
    cmeta = (ctypes.c_char_p * len(flat))(*flat)
    s = lib.wsk_safetensors_write(path.encode(), refs, len(tensors), cmeta)
    check(s == WSK_OK, f"wsk_safetensors_write {path}: {s} {lib.wsk_last_error().decode()}")


def wsk_read(lib, path):
    st = SafeTensors()
    s = lib.wsk_safetensors_read(path.encode(), ctypes.byref(st))
    if s != WSK_OK:
        return s, lib.wsk_last_error().decode(), None
    tensors = {}
    for i in range(st.count):
        shape = tuple(st.shapes[i][k] for k in range(st.ranks[i]))
        n = int(np.prod(shape, dtype=np.int64))
        a = np.ctypeslib.as_array(st.data[i], shape=(max(n, 1),))[:n].copy().reshape(shape)
        tensors[st.names[i].decode()] = a
    meta = {st.meta_keys[i].decode(): st.meta_values[i].decode() for i in range(st.nmeta)}
    lib.wsk_safetensors_free(ctypes.byref(st))
    return s, tensors, meta


def compare(got, want, what):
    check(sorted(got) == sorted(want), f"{what}: names {sorted(got)} != {sorted(want)}")
    for name, a in want.items():
        if name in got:
            check(same_bits(np.asarray(got[name]), a),
                  f"{what}: tensor {name} differs (shape {np.shape(got[name])} vs {a.shape})")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = os.path.abspath(sys.argv[1])
    with open(path, "rb") as f:
        image = f.read()
    # An AddressSanitizer build aborts the interpreter on load (its runtime
    # must come first); test_safetensors covers the C side under ASan.
    if b"__asan_init" in image or b"__tsan_init" in image:
        skip(f"{path} is a sanitizer build, which cannot be loaded into Python")
    lib = ctypes.CDLL(path)
    lib.wsk_last_error.restype = ctypes.c_char_p
    lib.wsk_safetensors_write.argtypes = [ctypes.c_char_p, ctypes.POINTER(TensorRef),
                                          ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p)]
    lib.wsk_safetensors_read.argtypes = [ctypes.c_char_p, ctypes.POINTER(SafeTensors)]
    lib.wsk_safetensors_free.argtypes = [ctypes.POINTER(SafeTensors)]

    tensors = sample_tensors()
    meta = {"epoch": "5", "optimizer": "adam", "note": "quote \" comma , \u00e9"}
    with tempfile.TemporaryDirectory(prefix="wsk_st_interop_") as d:
        # 1. wsk -> Python
        p = os.path.join(d, "from_wsk.safetensors")
        wsk_write(lib, p, tensors, meta)
        compare(np_load(p), tensors, "numpy.load_file of wsk's file")
        with safe_open(p, framework="numpy") as f:
            check(f.metadata() == meta, f"metadata {f.metadata()} != {meta}")
        if torch is not None:
            got = {k: v.numpy() for k, v in torch_load(p).items()}
            compare(got, tensors, "torch.load_file of wsk's file")
            check(all(v.dtype == torch.float32 for v in torch_load(p).values()), "torch dtype")

        # 2. Python -> wsk
        p = os.path.join(d, "from_numpy.safetensors")
        np_save(tensors, p, metadata=meta)
        s, got, gmeta = wsk_read(lib, p)
        check(s == WSK_OK, f"wsk reads numpy's file: {s} {got}")
        if s == WSK_OK:
            compare(got, tensors, "wsk read of numpy's file")
            check(gmeta == meta, f"wsk metadata {gmeta} != {meta}")
        if torch is not None:
            p = os.path.join(d, "from_torch.safetensors")
            torch_save({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, p,
                       metadata=meta)
            s, got, gmeta = wsk_read(lib, p)
            check(s == WSK_OK, f"wsk reads torch's file: {s} {got}")
            if s == WSK_OK:
                compare(got, tensors, "wsk read of torch's file")
                check(gmeta == meta, f"wsk metadata {gmeta} != {meta}")
        p = os.path.join(d, "no_meta.safetensors")
        np_save({"x": tensors["0.bias"]}, p)
        s, got, gmeta = wsk_read(lib, p)
        check(s == WSK_OK and gmeta == {} and same_bits(got["x"], tensors["0.bias"]),
              f"file without metadata: {s} {got}")

        # 3. other dtypes are refused, by name
        p = os.path.join(d, "half.safetensors")
        np_save({"w": np.ones((2, 2), dtype=np.float32),
                 "h": np.ones(3, dtype=np.float16)}, p)
        s, msg, _ = wsk_read(lib, p)
        check(s == WSK_ERR_FORMAT and '"h"' in msg and "F16" in msg and p in msg,
              f"float16 file: status {s}, message {msg!r}")

    torch_note = "with torch" if torch is not None else "torch not installed: numpy only"
    if failures:
        print(f"{failures} check(s) failed")
        return 1
    print(f"safetensors interop: all checks passed ({torch_note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
