"""Which BLAS this Python process has loaded (after some matrix work), from /proc/self/maps.
Debian's PyTorch and numpy use whatever libblas.so.3 the alternatives system points at: with only
the reference BLAS (libblas3) they run 15-20x slower than with OpenBLAS, and a comparison against
that is meaningless."""


def blas_in_use():
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if ".so" in line}
    except OSError:
        return "unknown"
    names = sorted(p for p in libs if any(k in p.lower() for k in ("blas", "mkl", "blis")))
    if any("openblas" in p for p in names):
        return "openblas-pthread" if any("openblas-pthread" in p for p in names) else "openblas"
    if any("mkl" in p for p in names):
        return "mkl"
    if any("blis" in p for p in names):
        return "blis"
    if any("/blas/" in p or p.endswith("libblas.so.3") for p in names):
        return "reference"
    return "bundled" if not names else names[0]
