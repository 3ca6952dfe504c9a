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

// MR rows × 16 columns of C held in registers (12 accumulators for MR = 6 on AVX2).
template <int MR>
static void micro16(const GemmArgs& g, size_t i0, size_t j0) {
  v8sf c0[MR], c1[MR];
  for (int r = 0; r < MR; r++) c0[r] = c1[r] = v8sf{0, 0, 0, 0, 0, 0, 0, 0};
  const float* a = g.a + i0 * g.sai;
  const float* b = g.b + j0;
  for (size_t k = 0; k < g.k; k++) {
    v8sf b0 = load8(b + k * g.ldb), b1 = load8(b + k * g.ldb + 8);
    const float* ak = a + k * g.sak;
    for (int r = 0; r < MR; r++) {
      float s = ak[r * g.sai];
      v8sf av = {s, s, s, s, s, s, s, s};
      c0[r] += av * b0;
      c1[r] += av * b1;
    }
  }
  for (int r = 0; r < MR; r++) {
    float* c = g.c + (i0 + r) * g.ldc + j0;
    if (g.accumulate) {
      c0[r] += load8(c);
      c1[r] += load8(c + 8);
    }
    store8(c, c0[r]);
    store8(c + 8, c1[r]);
  }
}

template <int MR>
static void rows16(const GemmArgs& g, size_t i0, size_t n16) {
  for (size_t j0 = 0; j0 < n16; j0 += 16) micro16<MR>(g, i0, j0);
}

static void gemm(const GemmArgs& g) {
  size_t n16 = g.n / 16 * 16;
  size_t i = 0;
  for (; i + 6 <= g.m; i += 6) rows16<6>(g, i, n16);
  switch (g.m - i) {
    case 5: rows16<5>(g, i, n16); break;
    case 4: rows16<4>(g, i, n16); break;
    case 3: rows16<3>(g, i, n16); break;
    case 2: rows16<2>(g, i, n16); break;
    case 1: rows16<1>(g, i, n16); break;
    default: break;
  }
  if (n16 == g.n) return;
  // Remaining columns (fewer than 16): plain loops, the compiler vectorizes over j.
  for (size_t r = 0; r < g.m; r++) {
    float* c = g.c + r * g.ldc;
    float acc[16] = {0};
    for (size_t k = 0; k < g.k; k++) {
      float av = g.a[r * g.sai + k * g.sak];
      const float* b = g.b + k * g.ldb;
      for (size_t j = n16; j < g.n; j++) acc[j - n16] += av * b[j];
    }
    for (size_t j = n16; j < g.n; j++) c[j] = g.accumulate ? c[j] + acc[j - n16] : acc[j - n16];
  }
}

const Kernels table = {QM_ISA_NAME, weightedSum, accumulate, gemm};
