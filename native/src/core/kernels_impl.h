// Included by kernels_v2.cc and kernels_v3.cc inside `namespace qm::QM_ISA`, after every
// standard header, so each copy is compiled for its own instruction set.
// GCC vector extensions: 8 floats; the v2 copy lowers each to two SSE registers.
typedef float v8sf __attribute__((vector_size(32)));
typedef float v4sf __attribute__((vector_size(16)));
typedef double v4df __attribute__((vector_size(32)));

static inline v8sf load8(const float* p) { v8sf v; std::memcpy(&v, p, sizeof v); return v; }
static inline void store8(float* p, v8sf v) { std::memcpy(p, &v, sizeof v); }
static inline v4sf load4(const float* p) { v4sf v; std::memcpy(&v, p, sizeof v); return v; }
static inline void store4(float* p, v4sf v) { std::memcpy(p, &v, sizeof v); }
static inline v4df load4d(const double* p) { v4df v; std::memcpy(&v, p, sizeof v); return v; }
static inline void store4d(double* p, v4df v) { std::memcpy(p, &v, sizeof v); }

// K > 0: the input count is known at compile time, so the loop over inputs unrolls fully.
template <int K>
static inline v8sf weightedSum8(const float* const* xs, const double* w, size_t k, size_t j, double scale) {
  v4df lo = {0, 0, 0, 0}, hi = {0, 0, 0, 0};
  const size_t count = K > 0 ? static_cast<size_t>(K) : k;
  for (size_t i = 0; i < count; i++) {
    v4df wi = {w[i], w[i], w[i], w[i]};
    lo += wi * __builtin_convertvector(load4(xs[i] + j), v4df);
    hi += wi * __builtin_convertvector(load4(xs[i] + j + 4), v4df);
  }
  v4df s = {scale, scale, scale, scale};
  v4sf a = __builtin_convertvector(lo * s, v4sf), b = __builtin_convertvector(hi * s, v4sf);
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7);
}

template <int K>
static void weightedSumBody(const float* const* xs, const double* w, size_t k, size_t j, size_t n, double scale, float* out) {
  for (; j + 8 <= n; j += 8) {
    v8sf r = weightedSum8<K>(xs, w, k, j, scale);
    QM_STREAM8(out + j, r);
  }
}

static void weightedSum(const float* const* xs, const double* w, size_t k, size_t n, double scale, float* out) {
  size_t j = 0;
  // Scalar head up to a 32-byte boundary, so the body can stream its stores past the cache
  // (the output is written once and not read back: no read-for-ownership traffic).
  for (; j < n && (reinterpret_cast<uintptr_t>(out + j) & 31) != 0; j++) {
    double acc = 0;
    for (size_t i = 0; i < k; i++) acc += w[i] * static_cast<double>(xs[i][j]);
    out[j] = static_cast<float>(acc * scale);
  }
  size_t body = j + (n - j) / 8 * 8;
  switch (k) {
#define QM_CASE(K) \
  case K: weightedSumBody<K>(xs, w, k, j, body, scale, out); break;
    QM_CASE(1) QM_CASE(2) QM_CASE(3) QM_CASE(4) QM_CASE(5) QM_CASE(6) QM_CASE(7) QM_CASE(8)
    QM_CASE(9) QM_CASE(10) QM_CASE(11) QM_CASE(12) QM_CASE(13) QM_CASE(14) QM_CASE(15) QM_CASE(16)
#undef QM_CASE
    default: weightedSumBody<0>(xs, w, k, j, body, scale, out); break;
  }
  j = body;
  _mm_sfence();
  for (; j < n; j++) {
    double acc = 0;
    for (size_t i = 0; i < k; i++) acc += w[i] * static_cast<double>(xs[i][j]);
    out[j] = static_cast<float>(acc * scale);
  }
}

static void accumulate(double* acc, const float* x, double w, size_t n) {
  size_t j = 0;
  v4df wv = {w, w, w, w};
  for (; j + 4 <= n; j += 4) store4d(acc + j, load4d(acc + j) + wv * __builtin_convertvector(load4(x + j), v4df));
  for (; j < n; j++) acc[j] += w * static_cast<double>(x[j]);
}

// The SGEMM: MR × 16 blocks of C in registers (6 × 16: 12 accumulators), B read in strips of 16
// columns (8 for a narrow last strip). B is read in place, row by row, or packed k-major and
// contiguous (by the caller once, as a layer's weights, or here per call), which keeps the
// hardware prefetchers streaming where a strided B crosses a 4 KB page every few rows. A is read
// in place: MR rows, each a sequential stream. Each value of C is one FMA chain over k in order,
// then added to C when accumulating: the same arithmetic, in the same order, whatever the layout.
constexpr size_t kStrip = 16;

// The width a packed strip starting at column j0 of n has: 16, or 8 for a last strip of 1-8 columns.
static size_t stripWidth(size_t n, size_t j0) { return n - j0 > 8 ? kStrip : 8; }

// Columns [0, n) of B (k rows, stride ldb) into strips; a partial strip is padded with zeros.
static void packB(size_t k, size_t n, const float* b, size_t ldb, float* out) {
  for (size_t j0 = 0; j0 < n; j0 += kStrip) {
    const size_t w = stripWidth(n, j0), cols = std::min(w, n - j0);
    float* dst = out + j0 * k;
    if (cols == kStrip) {
      for (size_t p = 0; p < k; p++) {
        store8(dst + p * kStrip, load8(b + p * ldb + j0));
        store8(dst + p * kStrip + 8, load8(b + p * ldb + j0 + 8));
      }
      continue;
    }
    for (size_t p = 0; p < k; p++) {
      float* d = dst + p * w;
      for (size_t j = 0; j < cols; j++) d[j] = b[p * ldb + j0 + j];
      for (size_t j = cols; j < w; j++) d[j] = 0.0f;
    }
  }
}

// packB of a B stored transposed (B(p, j) = b[j*ldb + p]): each strip reads 16 rows of b in step.
static void packBTransposed(size_t k, size_t n, const float* b, size_t ldb, float* out) {
  for (size_t j0 = 0; j0 < n; j0 += kStrip) {
    const size_t w = stripWidth(n, j0), cols = std::min(w, n - j0);
    float* dst = out + j0 * k;
    for (size_t p = 0; p < k; p++) {
      float* d = dst + p * w;
      for (size_t j = 0; j < cols; j++) d[j] = b[(j0 + j) * ldb + p];
      for (size_t j = cols; j < w; j++) d[j] = 0.0f;
    }
  }
}

// Where the strips of B's columns [j0, j0 + n) are: packed (`packed` non-null, as packB lays them
// out) or in place, with the last partial strip packed alone in `tail`.
struct Panel {
  const float* packed;
  const float* tail;
  size_t j0, n;
};

// C[MR × 8·NV] (+)= A[MR rows] · one strip (k rows, stride bs); only the first `cols` columns are written.
template <int MR, int NV>
static void micro(const GemmArgs& g, const float* a, const float* bp, size_t bs, float* c, size_t cols) {
  v8sf c0[MR], c1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) c0[r] = c1[r] = v8sf{0, 0, 0, 0, 0, 0, 0, 0};
  const size_t sai = g.sai, sak = g.sak;
  for (size_t p = 0; p < g.k; p++) {
    const v8sf b0 = load8(bp + p * bs), b1 = NV == 2 ? load8(bp + p * bs + 8) : b0;
    const float* ak = a + p * sak;
  #pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
      const float s = ak[r * sai];
      const v8sf av = {s, s, s, s, s, s, s, s};
      c0[r] += av * b0;
      if (NV == 2) c1[r] += av * b1;
    }
  }
  if (cols == 8 * NV) {
  #pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
      float* cr = c + r * g.ldc;
      if (g.accumulate) {
        c0[r] += load8(cr);
        if (NV == 2) c1[r] += load8(cr + 8);
      }
      store8(cr, c0[r]);
      if (NV == 2) store8(cr + 8, c1[r]);
    }
    return;
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; r++) {
    float tmp[8 * NV];
    store8(tmp, c0[r]);
    if constexpr (NV == 2) store8(tmp + 8, c1[r]);
    float* cr = c + r * g.ldc;
    for (size_t j = 0; j < cols && j < 8 * NV; j++) cr[j] = g.accumulate ? cr[j] + tmp[j] : tmp[j];
  }
}

// MR rows of C starting at row i, against every strip of the panel.
template <int MR>
static void rowBlock(const GemmArgs& g, size_t i, const Panel& pn) {
  const float* a = g.a + i * g.sai;
  float* c = g.c + i * g.ldc + pn.j0;
  for (size_t j = 0; j < pn.n; j += kStrip) {
    const size_t w = stripWidth(pn.n, j), cols = std::min(w, pn.n - j);
    const float* bp = pn.packed ? pn.packed + j * g.k : cols == kStrip ? g.b + pn.j0 + j : pn.tail;
    const size_t bs = pn.packed || cols < kStrip ? w : g.ldb;
    if (w == kStrip) micro<MR, 2>(g, a, bp, bs, c + j, cols);
    else micro<MR, 1>(g, a, bp, bs, c + j, cols);
  }
}

static void panelRows(const GemmArgs& g, const Panel& pn) {
  size_t i = 0;
  for (; i + 6 <= g.m; i += 6) rowBlock<6>(g, i, pn);
  switch (g.m - i) {
    case 5: rowBlock<5>(g, i, pn); break;
    case 4: rowBlock<4>(g, i, pn); break;
    case 3: rowBlock<3>(g, i, pn); break;
    case 2: rowBlock<2>(g, i, pn); break;
    case 1: rowBlock<1>(g, i, pn); break;
    default: break;
  }
}

static void gemm(const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  if (g.bPacked) return panelRows(g, Panel{g.bPacked, nullptr, 0, g.n});
  static thread_local std::vector<float> buf;
  // Packing costs a copy of B; it pays where B is read by many row blocks (m > 48) or spans more
  // than about L2 (measured on the engine's shapes), and is the only way to read a transposed B.
  const bool pack = g.bTransposed || g.m > 48 || g.k * g.ldb > 65536;
  if (!pack) {
    const size_t full = g.n / kStrip * kStrip;
    if (full < g.n) {
      buf.resize(std::max(buf.size(), packedBSize(g.k, g.n - full)));
      packB(g.k, g.n - full, g.b + full, g.ldb, buf.data());
    }
    return panelRows(g, Panel{nullptr, buf.data(), 0, g.n});
  }
  // Panels of whole strips, each small enough to stay in L2 while every row block reads it.
  const size_t budget = 64 * 1024;  // floats
  const size_t nc = std::max<size_t>(kStrip, budget / std::max<size_t>(g.k, 1) / kStrip * kStrip);
  buf.resize(std::max(buf.size(), packedBSize(g.k, std::min(nc, g.n))));
  for (size_t j0 = 0; j0 < g.n; j0 += nc) {
    const size_t n = std::min(nc, g.n - j0);
    if (g.bTransposed) packBTransposed(g.k, n, g.b + j0 * g.ldb, g.ldb, buf.data());
    else packB(g.k, n, g.b + j0, g.ldb, buf.data());
    panelRows(g, Panel{buf.data(), nullptr, j0, n});
  }
}

const Kernels table = {QM_ISA_NAME, weightedSum, accumulate, gemm, packB};
