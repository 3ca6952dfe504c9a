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

// About one share of n per thread, a multiple of `align` (the GEMM's 6-row register block).
size_t share(size_t n, size_t align) {
  size_t per = std::max<size_t>(align, ceilDiv(n, static_cast<size_t>(threadCount())));
  return ceilDiv(per, align) * align;
}

void forRows(size_t rows, size_t align, const std::function<void(size_t, size_t)>& fn) { parallelRange(rows, share(rows, align), fn); }

// Elementwise work: chunks large enough that the pool's hand-off is small beside them.
void forValues(size_t n, const std::function<void(size_t, size_t)>& fn) { parallelRange(n, std::max<size_t>(1 << 14, share(n, 64)), fn); }

class Dense : public Layer {
 public:
  Dense(const Dims& input, size_t units, const std::string& where) {
    in = input;
    out = {units, 1, 1};
    fanIn = in.size();
    weightSize = checkedMul(units, fanIn, "BAD_SPEC", where, where + "'s weights");
    biasSize = units;
    wt_.assign(weightSize, 0.0f);
  }

  void forward(const float* params, const float* x, float* y, size_t rows, Scratch*) const override {
    const size_t I = in.size(), O = out.c;
    const float* b = params + weightSize;
    forRows(rows, 6, [&](size_t r0, size_t r1) {
      kernels().gemm(GemmArgs{r1 - r0, O, I, x + r0 * I, I, 1, wt_.data(), O, y + r0 * O, O, false});
      for (size_t r = r0; r < r1; r++)
        for (size_t j = 0; j < O; j++) y[r * O + j] += b[j];
    });
  }

  void backward(const float* params, const float* x, const float*, const float* dy, float* dx, float* grad, size_t rows, const Scratch&) const override {
    const size_t I = in.size(), O = out.c;
    // dW[o][i] = Σ_r dy[r][o] x[r][i], split by output rows.
    forRows(O, 6, [&](size_t o0, size_t o1) { kernels().gemm(GemmArgs{o1 - o0, I, rows, dy + o0, 1, O, x, I, grad + o0 * I, I, false}); });
    float* gb = grad + weightSize;
    std::fill(gb, gb + O, 0.0f);
    for (size_t r = 0; r < rows; r++)
      for (size_t j = 0; j < O; j++) gb[j] += dy[r * O + j];
    if (dx) forRows(rows, 6, [&](size_t r0, size_t r1) { kernels().gemm(GemmArgs{r1 - r0, I, O, dy + r0 * O, O, 1, params, I, dx + r0 * I, I, false}); });
  }

  void paramsChanged(const float* params) override {
    const size_t I = in.size(), O = out.c;
    for (size_t o = 0; o < O; o++)
      for (size_t i = 0; i < I; i++) wt_[i * O + o] = params[o * I + i];
  }

 private:
  std::vector<float> wt_;  // [in][out]: the layout the GEMM streams best for the forward pass
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
    checkedMul(k_, p_, "BAD_SPEC", where, where + "'s unfolded input");
  }

  void forward(const float* params, const float* x, float* y, size_t rows, Scratch*) const override {
    const size_t O = out.c, isz = in.size(), osz = out.size();
    const float* b = params + weightSize;
    forRows(rows, 1, [&](size_t s0, size_t s1) {
      std::vector<float> col(k_ * p_);
      for (size_t s = s0; s < s1; s++) {
        im2col(x + s * isz, col.data());
        float* ys = y + s * osz;
        kernels().gemm(GemmArgs{O, p_, k_, params, k_, 1, col.data(), p_, ys, p_, false});
        for (size_t o = 0; o < O; o++)
          for (size_t p = 0; p < p_; p++) ys[o * p_ + p] += b[o];
      }
    });
  }

  void backward(const float* params, const float* x, const float*, const float* dy, float* dx, float* grad, size_t rows, const Scratch&) const override {
    const size_t O = out.c, isz = in.size(), osz = out.size();
    const size_t per = share(rows, 1), tasks = ceilDiv(rows, per);
    // Each task sums its samples' gradients in its own buffers; they are added in task order.
    std::vector<std::vector<float>> gwT(tasks), gb(tasks);
    parallelFor(tasks, [&](size_t t) {
      const size_t s0 = t * per, s1 = std::min(rows, s0 + per);
      std::vector<float> col(k_ * p_), dyT(p_ * O), dcol(dx ? k_ * p_ : 0);
      gwT[t].assign(k_ * O, 0.0f);
      gb[t].assign(O, 0.0f);
      for (size_t s = s0; s < s1; s++) {
        const float* dys = dy + s * osz;
        im2col(x + s * isz, col.data());
        for (size_t o = 0; o < O; o++) {
          float sum = 0;
          for (size_t p = 0; p < p_; p++) sum += dys[o * p_ + p];
          gb[t][o] += sum;
        }
        for (size_t p = 0; p < p_; p++)
          for (size_t o = 0; o < O; o++) dyT[p * O + o] = dys[o * p_ + p];
        // dWᵀ[k][o] += Σ_p col[k][p] dy[o][p]
        kernels().gemm(GemmArgs{k_, O, p_, col.data(), p_, 1, dyT.data(), O, gwT[t].data(), O, true});
        if (dx) {
          // dcol[k][p] = Σ_o W[o][k] dy[o][p], then folded back onto the input
          kernels().gemm(GemmArgs{k_, p_, O, params, 1, k_, dys, p_, dcol.data(), p_, false});
          float* dxs = dx + s * isz;
          std::fill(dxs, dxs + isz, 0.0f);
          col2imAdd(dcol.data(), dxs);
        }
      }
    });
    for (size_t o = 0; o < O; o++) {
      for (size_t k = 0; k < k_; k++) {
        float sum = 0;
        for (size_t t = 0; t < tasks; t++) sum += gwT[t][k * O + o];
        grad[o * k_ + k] = sum;
      }
      float sb = 0;
      for (size_t t = 0; t < tasks; t++) sb += gb[t][o];
      grad[weightSize + o] = sb;
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
  void im2col(const float* x, float* col) const {
    const size_t sw = cfg_.sw, ow = out.w;
    unfold([&](size_t at, size_t from, size_t lo, size_t hi, ptrdiff_t shift) {
      float* dst = col + at;
      if (from == SIZE_MAX) return static_cast<void>(std::fill(dst, dst + ow, 0.0f));
      std::fill(dst, dst + lo, 0.0f);
      std::fill(dst + hi, dst + ow, 0.0f);
      if (lo == hi) return;
      const float* src = x + static_cast<size_t>(static_cast<ptrdiff_t>(from + lo * sw) + shift);  // the input at ox = lo
      if (sw == 1) std::memcpy(dst + lo, src, (hi - lo) * sizeof(float));
      else
        for (size_t ox = lo; ox < hi; ox++) dst[ox] = src[(ox - lo) * sw];
    });
  }
  void col2imAdd(const float* col, float* dx) const {
    const size_t sw = cfg_.sw;
    unfold([&](size_t at, size_t to, size_t lo, size_t hi, ptrdiff_t shift) {
      if (to == SIZE_MAX || lo == hi) return;
      float* dst = dx + static_cast<size_t>(static_cast<ptrdiff_t>(to + lo * sw) + shift);  // the input at ox = lo
      const float* src = col + at;
      for (size_t ox = lo; ox < hi; ox++) dst[(ox - lo) * sw] += src[ox];
    });
  }

  LayerConfig cfg_;
  size_t k_ = 0, p_ = 0;  // unfolded rows (in channels × kh × kw) and output pixels
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
    const float inv = 1.0f / static_cast<float>(cfg_.kh * cfg_.kw);
    forRows(rows, 1, [&](size_t s0, size_t s1) {
      for (size_t s = s0; s < s1; s++) {
        const float* xs = x + s * isz;
        float* ys = y + s * osz;
        uint32_t* arg = train && max_ ? train->argmax.data() + s * osz : nullptr;
        const LayerConfig& c = cfg_;
        size_t o = 0;
        for (size_t ch = 0; ch < out.c; ch++)
          for (size_t oy = 0; oy < out.h; oy++)
            for (size_t ox = 0; ox < out.w; ox++, o++) {
              const float* win = xs + (ch * in.h + oy * c.sh) * in.w + ox * c.sw;
              if (max_ && c.kh == 2 && c.kw == 2) {  // the common case, unrolled
                const size_t cand[4] = {0, 1, in.w, in.w + 1};
                size_t best = 0;
                for (size_t q = 1; q < 4; q++)
                  if (win[cand[q]] > win[best] || win[cand[q]] != win[cand[q]]) best = cand[q];
                ys[o] = win[best];
                if (arg) arg[o] = static_cast<uint32_t>(win - xs + best);
              } else if (max_) {
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
    });
  }

  void backward(const float*, const float*, const float*, const float* dy, float* dx, float*, size_t rows, const Scratch& s) const override {
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
          for (size_t o = 0; o < osz; o++) dxs[arg[o]] += dys[o];
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
