#include "core/layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/kernels.h"
#include "core/rng.h"
#include "core/threads.h"

namespace qm {
namespace {

size_t ceilDiv(size_t a, size_t b) { return (a + b - 1) / b; }

typedef float v4sf __attribute__((vector_size(16)));
typedef uint32_t v4su __attribute__((vector_size(16)));
v4sf load4(const float* p) {
  v4sf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store4(float* p, v4sf v) { std::memcpy(p, &v, sizeof v); }

// Zeroes the few values at a row's edges. Kept a loop on purpose: GCC would otherwise call
// memset for every 1-2 values, which cost more than the row (im2col of a 14-wide image).
__attribute__((optimize("no-tree-loop-distribute-patterns"))) void zeroFew(float* p, size_t n) {
  for (size_t j = 0; j < n; j++) p[j] = 0.0f;
}

// About one share of n per thread, a multiple of `align` (the GEMM's 6-row register block).
size_t share(size_t n, size_t align) {
  size_t per = std::max<size_t>(align, ceilDiv(n, static_cast<size_t>(threadCount())));
  return ceilDiv(per, align) * align;
}

void forRows(size_t rows, size_t align, const std::function<void(size_t, size_t)>& fn) { parallelRange(rows, share(rows, align), fn); }

// Elementwise work: chunks large enough that the pool's hand-off is small beside them.
void forValues(size_t n, const std::function<void(size_t, size_t)>& fn) { parallelRange(n, std::max<size_t>(1 << 14, share(n, 64)), fn); }

// A layer's own bias, and the ReLU that follows it when the model fused one in (the same
// expressions as the Relu layer's, so the values are the same).
void biasRelu(float* y, size_t n, const float* b, bool relu) {
  for (size_t j = 0; j < n; j++) y[j] += b[j];
  if (relu)
    for (size_t j = 0; j < n; j++) y[j] = y[j] > 0 ? y[j] : 0.0f;
}
void biasRelu(float* y, size_t n, float b, bool relu) {
  for (size_t j = 0; j < n; j++) y[j] += b;
  if (relu)
    for (size_t j = 0; j < n; j++) y[j] = y[j] > 0 ? y[j] : 0.0f;
}

// dy through a fused ReLU (y its output), into `buf`; returns buf's data.
const float* reluMask(const float* y, const float* dy, size_t n, std::vector<float>& buf) {
  buf.resize(n);
  for (size_t j = 0; j < n; j++) buf[j] = y[j] > 0 ? dy[j] : 0.0f;
  return buf.data();
}

class Dense : public Layer {
 public:
  Dense(const Dims& input, size_t units, const std::string& where) {
    in = input;
    out = {units, 1, 1};
    fanIn = in.size();
    weightSize = checkedMul(units, fanIn, "BAD_SPEC", where, where + "'s weights");
    biasSize = units;
    wt_.assign(packedBSize(fanIn, units), 0.0f);
    wd_.assign(packedBSize(units, fanIn), 0.0f);
  }

  bool absorbRelu() override { return relu_ = true; }

  void forward(const float* params, const float* x, float* y, size_t rows, Scratch*) const override {
    const size_t I = in.size(), O = out.c;
    const float* b = params + weightSize;
    forRows(rows, 1, [&](size_t r0, size_t r1) {
      kernels().gemm(GemmArgs{r1 - r0, O, I, x + r0 * I, I, 1, nullptr, 0, y + r0 * O, O, false, wt_.data()});
      for (size_t r = r0; r < r1; r++) biasRelu(y + r * O, O, b, relu_);
    });
  }

  void backward(const float*, const float* x, const float* y, const float* dy, float* dx, float* grad, size_t rows, const Scratch&) const override {
    const size_t I = in.size(), O = out.c;
    std::vector<float> masked;
    if (relu_) dy = reluMask(y, dy, rows * O, masked);
    // dW[o][i] = Σ_r dy[r][o] x[r][i], split by output rows.
    forRows(O, 1, [&](size_t o0, size_t o1) { kernels().gemm(GemmArgs{o1 - o0, I, rows, dy + o0, 1, O, x, I, grad + o0 * I, I, false}); });
    float* gb = grad + weightSize;
    std::fill(gb, gb + O, 0.0f);
    for (size_t r = 0; r < rows; r++)
      for (size_t j = 0; j < O; j++) gb[j] += dy[r * O + j];
    if (dx) forRows(rows, 1, [&](size_t r0, size_t r1) { kernels().gemm(GemmArgs{r1 - r0, I, O, dy + r0 * O, O, 1, nullptr, 0, dx + r0 * I, I, false, wd_.data()}); });
  }

  void paramsChanged(const float* params) override {
    const size_t I = in.size(), O = out.c;
    // wt_: Wᵀ ([in][out]) for the forward pass; wd_: W ([out][in]) for the input gradient; both
    // in the SGEMM's packed layout, 16 columns a task.
    parallelFor(ceilDiv(O, 16), [&](size_t t) {
      const size_t o0 = t * 16, o1 = std::min(O, o0 + 16);
      for (size_t o = o0; o < o1; o++)
        for (size_t i = 0; i < I; i++) wt_[packedBIndex(I, O, i, o)] = params[o * I + i];
    });
    parallelRange(I, std::max<size_t>(16, ceilDiv(I, 16 * threadCount()) * 16), [&](size_t i0, size_t i1) {
      kernels().packB(O, i1 - i0, params + i0, I, wd_.data() + i0 * O);
    });
  }

 private:
  std::vector<float> wt_, wd_;
  bool relu_ = false;
};

class Conv2d : public Layer {
 public:
  Conv2d(const LayerConfig& c, const Dims& input, const std::string& where) : cfg_(c) {
    in = input;
    out = {c.units, (in.h + 2 * c.ph - c.kh) / c.sh + 1, (in.w + 2 * c.pw - c.kw) / c.sw + 1};
    k_ = checkedMul(checkedMul(in.c, c.kh, "BAD_SPEC", where, where + "'s kernel"), c.kw, "BAD_SPEC", where, where + "'s kernel");
    p_ = checkedMul(out.h, out.w, "BAD_SPEC", where, where + "'s output");
    fanIn = k_;
    weightSize = checkedMul(c.units, k_, "BAD_SPEC", where, where + "'s weights");
    biasSize = c.units;
    checkedMul(k_ + 1, p_, "BAD_SPEC", where, where + "'s unfolded input");
  }

  bool absorbRelu() override { return relu_ = true; }
  void reluMaskedAfter() override { maskedAfter_ = true; }

  void forward(const float* params, const float* x, float* y, size_t rows, Scratch*) const override {
    const size_t O = out.c, isz = in.size(), osz = out.size();
    const float* b = params + weightSize;
    forRows(rows, 1, [&](size_t s0, size_t s1) {
      std::vector<float> col(k_ * p_);
      for (size_t s = s0; s < s1; s++) {
        im2col(x + s * isz, col.data());
        float* ys = y + s * osz;
        kernels().gemm(GemmArgs{O, p_, k_, params, k_, 1, col.data(), p_, ys, p_, false});
        for (size_t o = 0; o < O; o++) biasRelu(ys + o * p_, p_, b[o], relu_);
      }
    });
  }

  void backward(const float* params, const float* x, const float* y, const float* dy, float* dx, float* grad, size_t rows, const Scratch&) const override {
    const size_t O = out.c, isz = in.size(), osz = out.size(), K1 = k_ + 1;
    const size_t per = share(rows, 1), tasks = ceilDiv(rows, per);
    // Each task sums its samples' gradients in its own buffer; they are added in task order.
    // col has a last row of ones, so that the weight-gradient GEMM also sums dy over the pixels:
    // row k_ of gwT is the bias gradient, summed in the order a plain loop would (1·dy is exact).
    std::vector<std::vector<float>> gwT(tasks);
    parallelFor(tasks, [&](size_t t) {
      const size_t s0 = t * per, s1 = std::min(rows, s0 + per);
      std::vector<float> col(K1 * p_), dcol(dx ? k_ * p_ : 0), masked;
      std::fill(col.begin() + k_ * p_, col.end(), 1.0f);
      gwT[t].assign(K1 * O, 0.0f);
      for (size_t s = s0; s < s1; s++) {
        const float* dys = dy + s * osz;
        if (relu_ && !maskedAfter_) dys = reluMask(y + s * osz, dys, osz, masked);
        im2col(x + s * isz, col.data());
        // dWᵀ[k][o] += Σ_p col[k][p] dy[o][p]: B is dyᵀ, packed from dy by the GEMM
        kernels().gemm(GemmArgs{K1, O, p_, col.data(), p_, 1, dys, p_, gwT[t].data(), O, true, nullptr, true});
        if (dx) {
          // dcol[k][p] = Σ_o W[o][k] dy[o][p], then folded back onto the input
          kernels().gemm(GemmArgs{k_, p_, O, params, 1, k_, dys, p_, dcol.data(), p_, false});
          float* dxs = dx + s * isz;
          std::fill(dxs, dxs + isz, 0.0f);
          col2imAdd(dcol.data(), dxs);
        }
      }
    });
    for (size_t o = 0; o < O; o++)
      for (size_t k = 0; k < K1; k++) {  // k_: the bias, stored after the weights
        float sum = 0;
        for (size_t t = 0; t < tasks; t++) sum += gwT[t][k * O + o];
        (k < k_ ? grad[o * k_ + k] : grad[weightSize + o]) = sum;
      }
  }

 private:
  // col[(c·kh + i)·kw + j][oy·OW + ox] = x[c][oy·sh + i − ph][ox·sw + j − pw] (0 outside the image).
  // visit(col row, input row or null, first and end ox inside the image, j − pw) per output row:
  // the bounds are worked out once a row, so the inner loops are plain strided copies.
  template <class Visit>
  void unfold(Visit visit) const {
    const LayerConfig& c = cfg_;
    const ptrdiff_t W = static_cast<ptrdiff_t>(in.w), OW = static_cast<ptrdiff_t>(out.w), sw = static_cast<ptrdiff_t>(c.sw);
    for (size_t ch = 0; ch < in.c; ch++)
      for (size_t i = 0; i < c.kh; i++)
        for (size_t j = 0; j < c.kw; j++) {
          const size_t row = ((ch * c.kh + i) * c.kw + j) * p_;
          const ptrdiff_t shift = static_cast<ptrdiff_t>(j) - static_cast<ptrdiff_t>(c.pw);  // ix = ox·sw + shift
          // ox inside: 0 <= ox·sw + shift < W
          const ptrdiff_t lo = std::min(OW, shift >= 0 ? 0 : (-shift + sw - 1) / sw);
          const ptrdiff_t hi = std::max(lo, std::min(OW, W - shift <= 0 ? 0 : (W - shift - 1) / sw + 1));
          for (size_t oy = 0; oy < out.h; oy++) {
            const ptrdiff_t iy = static_cast<ptrdiff_t>(oy * c.sh + i) - static_cast<ptrdiff_t>(c.ph);
            const bool inside = iy >= 0 && iy < static_cast<ptrdiff_t>(in.h);
            visit(row + oy * out.w, inside ? (ch * in.h + static_cast<size_t>(iy)) * in.w : SIZE_MAX, static_cast<size_t>(lo), static_cast<size_t>(hi), shift);
          }
        }
  }
  // Rows of 10-30 values: copied and zeroed by explicit 4-wide moves, since a libc call per row
  // (memcpy, memset) cost more than the row itself.
  void im2col(const float* x, float* col) const {
    const size_t sw = cfg_.sw, ow = out.w;
    if (sameWidth()) return im2colSameWidth(x, col);
    unfold([&](size_t at, size_t from, size_t lo, size_t hi, ptrdiff_t shift) {
      float* __restrict dst = col + at;
      if (from == SIZE_MAX) lo = hi = ow;
      zeroFew(dst, lo);
      if (lo < hi) {
        const float* __restrict src = x + static_cast<size_t>(static_cast<ptrdiff_t>(from + lo * sw) + shift);  // the input at ox = lo
        size_t ox = lo;
        if (sw == 1) {
          for (; ox + 4 <= hi; ox += 4) store4(dst + ox, load4(src + (ox - lo)));
          for (; ox < hi; ox++) dst[ox] = src[ox - lo];
        } else {
          for (; ox < hi; ox++) dst[ox] = src[(ox - lo) * sw];
        }
      }
      zeroFew(dst + hi, ow - hi);
    });
  }
  // Stride 1 with an output as wide as the input (a "same" padding): the input rows a kernel
  // offset reads are consecutive, so each of its col rows is one block copy of the input, shifted,
  // with the few values that fell outside the image zeroed afterwards.
  bool sameWidth() const { return cfg_.sw == 1 && cfg_.sh == 1 && out.w == in.w; }
  // (no-tree-loop-distribute-patterns: the edge loops zero 0-2 values a row; as memset calls they cost more than the rows)
  __attribute__((optimize("no-tree-loop-distribute-patterns"))) void im2colSameWidth(const float* x, float* col) const {
    const LayerConfig& c = cfg_;
    const size_t W = in.w, H = in.h, OH = out.h;
    for (size_t ch = 0; ch < in.c; ch++)
      for (size_t i = 0; i < c.kh; i++) {
        // output rows whose input row oy + i − ph lies inside the image: [oy0, oy1)
        const size_t oy0 = std::min(OH, c.ph > i ? c.ph - i : 0);
        const size_t oy1 = std::max(oy0, std::min(OH, H + c.ph > i ? H + c.ph - i : 0));
        for (size_t j = 0; j < c.kw; j++) {
          float* __restrict dst = col + ((ch * c.kh + i) * c.kw + j) * p_;
          const ptrdiff_t shift = static_cast<ptrdiff_t>(j) - static_cast<ptrdiff_t>(c.pw);
          const size_t lo = std::min(W, shift >= 0 ? 0 : static_cast<size_t>(-shift));
          const size_t hi = std::max(lo, std::min(W, shift >= 0 ? W - std::min(W, static_cast<size_t>(shift)) : W));
          zeroFew(dst, oy0 * W);
          zeroFew(dst + oy1 * W, (OH - oy1) * W);
          if (oy0 == oy1) continue;
          // values [lo, n − (W − hi)) of the block: every one inside a row of the image
          const size_t n = (oy1 - oy0) * W, first = oy0 * W + lo, last = oy0 * W + n - (W - hi);
          if (first < last) {
            // dst[oy·W + ox] takes x[ch][oy + i − ph][ox + shift]; the block starts at oy0, lo
            const float* __restrict from = x + (ch * H + oy0 + i - c.ph) * W + static_cast<size_t>(static_cast<ptrdiff_t>(lo) + shift);
            size_t t = 0;
            for (; t + 4 <= last - first; t += 4) store4(dst + first + t, load4(from + t));
            for (; t < last - first; t++) dst[first + t] = from[t];
          }
          for (size_t oy = oy0; oy < oy1; oy++) {  // the edges: the copy put the neighbouring row's values there
            float* row = dst + oy * W;
            for (size_t ox = 0; ox < lo; ox++) row[ox] = 0.0f;
            for (size_t ox = hi; ox < W; ox++) row[ox] = 0.0f;
          }
        }
      }
  }

  void col2imAdd(const float* col, float* dx) const {
    const size_t sw = cfg_.sw;
    unfold([&](size_t at, size_t to, size_t lo, size_t hi, ptrdiff_t shift) {
      if (to == SIZE_MAX || lo == hi) return;
      float* __restrict dst = dx + static_cast<size_t>(static_cast<ptrdiff_t>(to + lo * sw) + shift);  // the input at ox = lo
      const float* __restrict src = col + at;
      size_t ox = lo;
      if (sw == 1)
        for (; ox + 4 <= hi; ox += 4) store4(dst + (ox - lo), load4(dst + (ox - lo)) + load4(src + ox));
      for (; ox < hi; ox++) dst[(ox - lo) * sw] += src[ox];
    });
  }

  LayerConfig cfg_;
  size_t k_ = 0, p_ = 0;  // unfolded rows (in channels × kh × kw) and output pixels
  bool relu_ = false, maskedAfter_ = false;
};

class Pool2d : public Layer {
 public:
  Pool2d(const LayerConfig& c, const Dims& input, const std::string& where) : cfg_(c), max_(c.kind == LayerKind::MaxPool2d) {
    in = input;
    if (in.size() > UINT32_MAX) fail("BAD_SPEC", where, where + "'s input is too large to pool (more than 2^32 values a sample)");
    out = {in.c, (in.h - c.kh) / c.sh + 1, (in.w - c.kw) / c.sw + 1};
  }

  void forward(const float*, const float* x, float* y, size_t rows, Scratch* train) const override {
    const size_t isz = in.size(), osz = out.size();
    if (train && max_) train->argmax.resize(rows * osz);
    forRows(rows, 1, [&](size_t s0, size_t s1) {
      for (size_t s = s0; s < s1; s++) {
        const float* xs = x + s * isz;
        float* ys = y + s * osz;
        uint32_t* arg = train && max_ ? train->argmax.data() + s * osz : nullptr;
        poolSample(xs, ys, arg);
      }
    });
  }

  // One sample: the 2×2 max pooling of most models on its own path, any other window generically.
  void poolSample(const float* xs, float* ys, uint32_t* arg) const {
    const LayerConfig& c = cfg_;
    if (max_ && c.kh == 2 && c.kw == 2) return maxPool2x2(xs, ys, arg);
    const float inv = 1.0f / static_cast<float>(c.kh * c.kw);
    size_t o = 0;
    for (size_t ch = 0; ch < out.c; ch++)
      for (size_t oy = 0; oy < out.h; oy++)
        for (size_t ox = 0; ox < out.w; ox++, o++) {
          const float* win = xs + (ch * in.h + oy * c.sh) * in.w + ox * c.sw;
          if (max_) {
            size_t best = 0;  // the first maximum, as PyTorch (a NaN wins)
            for (size_t i = 0; i < c.kh; i++)
              for (size_t j = 0; j < c.kw; j++) {
                const float v = win[i * in.w + j];
                if (v > win[best] || v != v) best = i * in.w + j;
              }
            ys[o] = win[best];
            if (arg) arg[o] = static_cast<uint32_t>(win - xs + best);
          } else {
            float sum = 0;
            for (size_t i = 0; i < c.kh; i++)
              for (size_t j = 0; j < c.kw; j++) sum += win[i * in.w + j];
            ys[o] = sum * inv;
          }
        }
  }

  // 2×2 max pooling, any stride: the first maximum of (0,0), (0,1), (1,0), (1,1) in that order, a
  // NaN winning, as the general loop, with selects instead of branches (comparisons of real data
  // are unpredictable); with stride 2, four outputs at a time.
  void maxPool2x2(const float* xs, float* ys, uint32_t* arg) const {
    const size_t W = in.w, sh = cfg_.sh, sw = cfg_.sw;
    for (size_t ch = 0; ch < out.c; ch++)
      for (size_t oy = 0; oy < out.h; oy++) {
        const size_t base = (ch * in.h + oy * sh) * W;
        const float* r0 = xs + base;
        const float* r1 = r0 + W;
        float* yrow = ys + (ch * out.h + oy) * out.w;
        uint32_t* arow = arg ? arg + (ch * out.h + oy) * out.w : nullptr;
        size_t ox = 0;
        if (sw == 2)
          for (; ox + 4 <= out.w; ox += 4) {
            const size_t at = ox * 2;
            const v4sf a0 = load4(r0 + at), a1 = load4(r0 + at + 4), b0 = load4(r1 + at), b1 = load4(r1 + at + 4);
            const v4sf v0 = __builtin_shufflevector(a0, a1, 0, 2, 4, 6), v1 = __builtin_shufflevector(a0, a1, 1, 3, 5, 7);
            const v4sf v2 = __builtin_shufflevector(b0, b1, 0, 2, 4, 6), v3 = __builtin_shufflevector(b0, b1, 1, 3, 5, 7);
            v4sf best = v0;
            v4su pick = {0, 0, 0, 0};
            v4su t = (v1 > best) | (v1 != v1);
            best = t ? v1 : best;
            pick = t ? v4su{1, 1, 1, 1} : pick;
            t = (v2 > best) | (v2 != v2);
            best = t ? v2 : best;
            pick = t ? v4su{2, 2, 2, 2} : pick;
            t = (v3 > best) | (v3 != v3);
            best = t ? v3 : best;
            pick = t ? v4su{3, 3, 3, 3} : pick;
            std::memcpy(yrow + ox, &best, sizeof best);
            if (arow) {
              const uint32_t start = static_cast<uint32_t>(base + at), w = static_cast<uint32_t>(W);
              const v4su at4 = v4su{start, start + 2, start + 4, start + 6} + (pick & 1) + (pick >> 1) * w;
              std::memcpy(arow + ox, &at4, sizeof at4);
            }
          }
        for (; ox < out.w; ox++) {
          const size_t at = ox * sw;
          const float v0 = r0[at], v1 = r0[at + 1], v2 = r1[at], v3 = r1[at + 1];
          float best = v0;
          uint32_t pick = 0;
          bool t = (v1 > best) | (v1 != v1);
          best = t ? v1 : best;
          pick = t ? 1u : pick;
          t = (v2 > best) | (v2 != v2);
          best = t ? v2 : best;
          pick = t ? 2u : pick;
          t = (v3 > best) | (v3 != v3);
          best = t ? v3 : best;
          pick = t ? 3u : pick;
          yrow[ox] = best;
          if (arow) arow[ox] = static_cast<uint32_t>(base + at + (pick & 1u) + (pick >> 1) * W);
        }
      }
  }

  bool maskForReluBefore() override { return max_ && (reluMask_ = true); }

  void backward(const float*, const float*, const float* y, const float* dy, float* dx, float*, size_t rows, const Scratch& s) const override {
    if (!dx) return;
    const size_t isz = in.size(), osz = out.size();
    const float inv = 1.0f / static_cast<float>(cfg_.kh * cfg_.kw);
    forRows(rows, 1, [&](size_t s0, size_t s1) {
      for (size_t n = s0; n < s1; n++) {
        float* dxs = dx + n * isz;
        const float* dys = dy + n * osz;
        std::fill(dxs, dxs + isz, 0.0f);
        if (max_) {
          const uint32_t* arg = s.argmax.data() + n * osz;
          if (reluMask_) {  // the input's maximum is y: the ReLU before passed it iff y > 0
            const float* ys = y + n * osz;
            for (size_t o = 0; o < osz; o++) dxs[arg[o]] += ys[o] > 0 ? dys[o] : 0.0f;
          } else {
            for (size_t o = 0; o < osz; o++) dxs[arg[o]] += dys[o];
          }
        } else {
          eachWindow([&](size_t o, size_t, const auto& cells) { cells([&](size_t at) { dxs[at] += dys[o] * inv; }); });
        }
      }
    });
  }

 private:
  // visit(output index, first input index of the window, cells) where cells(fn) calls fn on each input index of the window
  template <class Visit>
  void eachWindow(Visit visit) const {
    const LayerConfig& c = cfg_;
    for (size_t ch = 0; ch < out.c; ch++)
      for (size_t oy = 0; oy < out.h; oy++)
        for (size_t ox = 0; ox < out.w; ox++) {
          const size_t base = (ch * in.h + oy * c.sh) * in.w + ox * c.sw;
          auto cells = [&](const auto& fn) {
            for (size_t i = 0; i < c.kh; i++)
              for (size_t j = 0; j < c.kw; j++) fn(base + i * in.w + j);
          };
          visit((ch * out.h + oy) * out.w + ox, base, cells);
        }
  }

  LayerConfig cfg_;
  bool max_;
  bool reluMask_ = false;
};

// Flatten, dropout and the activations: same shape out as in, value by value.
class Elementwise : public Layer {
 public:
  Elementwise(LayerKind kind, const Dims& input, double p) : kind_(kind), p_(static_cast<float>(p)) {
    in = input;
    out = kind == LayerKind::Flatten ? Dims{input.size(), 1, 1} : input;
  }

  void forward(const float*, const float* x, float* y, size_t rows, Scratch* train) const override {
    const size_t n = rows * in.size();
    if (kind_ == LayerKind::Dropout && train && p_ > 0) {
      train->mask.resize(n);
      const size_t sz = in.size();
      const float keep = 1.0f / (1.0f - p_);
      float* mask = train->mask.data();
      const uint64_t seed = train->seed;
      forRows(rows, 1, [&](size_t s0, size_t s1) {
        for (size_t s = s0; s < s1; s++) {
          Rng rng(seed ^ (static_cast<uint64_t>(s) * 0x9e3779b97f4a7c15ull));  // one stream per sample: the same whatever the threads
          for (size_t j = s * sz; j < (s + 1) * sz; j++) {
            mask[j] = rng.uniform() < p_ ? 0.0f : keep;
            y[j] = x[j] * mask[j];
          }
        }
      });
      return;
    }
    forValues(n, [&](size_t a, size_t b) {
      switch (kind_) {
        case LayerKind::Relu:
          for (size_t j = a; j < b; j++) y[j] = x[j] > 0 ? x[j] : 0.0f;
          break;
        case LayerKind::Gelu:  // the exact (erf) form, PyTorch's default
          for (size_t j = a; j < b; j++) y[j] = static_cast<float>(0.5 * x[j] * (1.0 + std::erf(x[j] * M_SQRT1_2)));
          break;
        case LayerKind::Tanh:
          for (size_t j = a; j < b; j++) y[j] = std::tanh(x[j]);
          break;
        case LayerKind::Sigmoid:
          for (size_t j = a; j < b; j++) y[j] = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x[j]))));
          break;
        default:  // flatten; dropout at evaluation
          std::memcpy(y + a, x + a, (b - a) * sizeof(float));
      }
    });
  }

  void backward(const float*, const float* x, const float* y, const float* dy, float* dx, float*, size_t rows, const Scratch& s) const override {
    if (!dx) return;
    const size_t n = rows * in.size();
    forValues(n, [&](size_t a, size_t b) {
      switch (kind_) {
        case LayerKind::Relu:
          for (size_t j = a; j < b; j++) dx[j] = y[j] > 0 ? dy[j] : 0.0f;
          break;
        case LayerKind::Gelu:
          for (size_t j = a; j < b; j++) {
            const double v = x[j];
            const double cdf = 0.5 * (1.0 + std::erf(v * M_SQRT1_2)), pdf = std::exp(-0.5 * v * v) * 0.3989422804014327;
            dx[j] = static_cast<float>(dy[j] * (cdf + v * pdf));
          }
          break;
        case LayerKind::Tanh:
          for (size_t j = a; j < b; j++) dx[j] = dy[j] * (1.0f - y[j] * y[j]);
          break;
        case LayerKind::Sigmoid:
          for (size_t j = a; j < b; j++) dx[j] = dy[j] * y[j] * (1.0f - y[j]);
          break;
        case LayerKind::Dropout:
          if (p_ > 0) {
            for (size_t j = a; j < b; j++) dx[j] = dy[j] * s.mask[j];
            break;
          }
          [[fallthrough]];
        default:
          std::memcpy(dx + a, dy + a, (b - a) * sizeof(float));
      }
    });
  }

 private:
  LayerKind kind_;
  float p_;
};

}  // namespace

std::unique_ptr<Layer> makeLayer(const LayerConfig& c, const Dims& in, const std::string& where) {
  if (in.size() == 0) fail("BAD_SPEC", where, where + " gets an empty input");
  switch (c.kind) {
    case LayerKind::Dense:
      if (c.units == 0) fail("BAD_SPEC", where, where + " needs at least one unit");
      return std::make_unique<Dense>(in, c.units, where);
    case LayerKind::Conv2d:
    case LayerKind::MaxPool2d:
    case LayerKind::AvgPool2d: {
      const bool conv = c.kind == LayerKind::Conv2d;
      if (conv && c.units == 0) fail("BAD_SPEC", where, where + " needs at least one output channel");
      if (c.kh == 0 || c.kw == 0 || c.sh == 0 || c.sw == 0) fail("BAD_SPEC", where, where + "'s kernel and stride must be positive");
      if (!conv && (c.ph || c.pw)) fail("BAD_SPEC", where, where + ": pooling takes no padding");
      if (c.kh > in.h + 2 * c.ph || c.kw > in.w + 2 * c.pw)
        fail("BAD_SPEC", where, where + "'s kernel " + std::to_string(c.kh) + "×" + std::to_string(c.kw) + " is larger than its input " + std::to_string(in.h + 2 * c.ph) + "×" + std::to_string(in.w + 2 * c.pw));
      if (conv) return std::make_unique<Conv2d>(c, in, where);
      return std::make_unique<Pool2d>(c, in, where);
    }
    case LayerKind::Dropout:
      if (!(c.p >= 0 && c.p < 1)) fail("BAD_SPEC", where, where + "'s p must be in [0, 1)");
      return std::make_unique<Elementwise>(c.kind, in, c.p);
    default:
      return std::make_unique<Elementwise>(c.kind, in, 0);
  }
}

}  // namespace qm
