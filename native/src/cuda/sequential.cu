// The Sequential engine on the GPU: the CPU's Sequential::train and evaluate, kernel by kernel.
// One simple kernel per operation (correct before fast): a 16×16 tiled GEMM (batched over
// samples for conv2d, whose input is unfolded by im2col), gathers instead of atomics wherever
// values meet (col2im, pooling's backward, the conv weight gradient summed over samples in
// order), so a run is reproducible. The batches come from the CPU's generator and the dropout
// masks from the same per-sample xoshiro streams as the CPU, so both devices train on the same
// values and differ only by float32 rounding. Parameters and gradients are flat vectors on the
// device in the CPU's (PyTorch's) layout. Prediction runs the forward pass here and the
// softmax on the host, with the CPU's function.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "core/gpu.h"
#include "core/rng.h"
#include "core/sequential.h"
#include "cuda/common.cuh"

namespace qm {
namespace gpu {
namespace {

using i64 = long long;
constexpr int kT = 16;              // GEMM tile: 16×16 outputs, one a thread
constexpr i64 kMaxGridY = 65535;     // CUDA's limit on gridDim.y and gridDim.z
constexpr size_t kEvalBlock = 256;  // samples a block in evaluation, as the CPU

// C_z(i, j) = Σ_k A_z(i, k) B_z(k, j), with A_z(i, k) = a[z·za + i·sai + k·sak],
// B_z(k, j) = b[z·zb + k·sbk + j·sbj], C_z(i, j) = c[z·zc + i·ldc + j].
struct Gemm {
  int m, n, k;
  const float* a;
  i64 sai, sak, za;
  const float* b;
  i64 sbk, sbj, zb;
  float* c;
  i64 ldc, zc;
};

__global__ void gemmKernel(const __grid_constant__ Gemm g, i64 i0, i64 z0) {
  __shared__ float as[kT][kT + 1];
  __shared__ float bs[kT][kT + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const i64 i = i0 + static_cast<i64>(blockIdx.y) * kT + ty, j = static_cast<i64>(blockIdx.x) * kT + tx, z = z0 + blockIdx.z;
  const float* a = g.a + z * g.za;
  const float* b = g.b + z * g.zb;
  float acc = 0;
  for (int k0 = 0; k0 < g.k; k0 += kT) {
    const int ka = k0 + tx, kb = k0 + ty;
    as[ty][tx] = (i < g.m && ka < g.k) ? a[i * g.sai + ka * g.sak] : 0.0f;
    bs[ty][tx] = (kb < g.k && j < g.n) ? b[kb * g.sbk + j * g.sbj] : 0.0f;
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kT; kk++) acc = fmaf(as[ty][kk], bs[kk][tx], acc);
    __syncthreads();
  }
  if (i < g.m && j < g.n) g.c[z * g.zc + i * g.ldc + j] = acc;
}

/** Runs `batch` GEMMs (z = 0..batch-1), in launches that respect the grid's limits. */
void gemm(const Gemm& g, i64 batch, cudaStream_t s) {
  const i64 rowsPerLaunch = kMaxGridY * kT;
  for (i64 z0 = 0; z0 < batch; z0 += kMaxGridY)
    for (i64 i0 = 0; i0 < g.m; i0 += rowsPerLaunch) {
      const i64 rows = std::min<i64>(rowsPerLaunch, g.m - i0);
      dim3 grid(static_cast<unsigned>((g.n + kT - 1) / kT), static_cast<unsigned>((rows + kT - 1) / kT), static_cast<unsigned>(std::min<i64>(kMaxGridY, batch - z0)));
      gemmKernel<<<grid, dim3(kT, kT), 0, s>>>(g, i0, z0);
      QM_LAUNCHED();
    }
}

// Elementwise launches: one thread a value, a grid-stride loop past the grid's size.
unsigned gridFor(i64 n) { return static_cast<unsigned>(std::max<i64>(1, std::min<i64>((n + 255) / 256, 1 << 20))); }
#define QM_EACH(idx, n) for (i64 idx = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; idx < (n); idx += static_cast<i64>(gridDim.x) * blockDim.x)

__global__ void gatherKernel(const float* __restrict__ x, const uint8_t* __restrict__ y, const float* __restrict__ t, const uint32_t* __restrict__ perm, i64 b0, i64 rows,
                             i64 features, i64 outputs, float* __restrict__ xb, uint8_t* __restrict__ yb, float* __restrict__ tb) {
  QM_EACH(idx, rows * features) {
    const i64 r = idx / features, f = idx % features;
    xb[idx] = x[static_cast<i64>(perm[b0 + r]) * features + f];
  }
  QM_EACH(r, rows) {
    const i64 src = perm[b0 + r];
    if (y) yb[r] = y[src];
    if (t)
      for (i64 c = 0; c < outputs; c++) tb[r * outputs + c] = t[src * outputs + c];
  }
}

// y[v] += bias[(v / inner) % channels]: dense (inner 1) and conv2d (inner = output pixels).
__global__ void addBiasKernel(float* __restrict__ y, const float* __restrict__ bias, i64 n, i64 inner, i64 channels) {
  QM_EACH(v, n) y[v] += bias[(v / inner) % channels];
}

// gb[o] = Σ_s Σ_p dy[s][o][p]: one block a channel, each thread a fixed strided share, then a
// fixed tree, so the sum is reproducible (a thread a channel took a millisecond a batch for a
// 32-channel conv over 28×28 pixels).
constexpr int kBiasThreads = 256;
__global__ void biasGradKernel(const float* __restrict__ dy, i64 rows, i64 channels, i64 inner, float* __restrict__ gb) {
  __shared__ float part[kBiasThreads];
  const i64 o = blockIdx.x, total = rows * inner;
  float sum = 0;
  for (i64 e = threadIdx.x; e < total; e += kBiasThreads) sum += dy[((e / inner) * channels + o) * inner + e % inner];
  part[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kBiasThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) gb[o] = part[0];
}

void biasGrad(const float* dy, i64 rows, i64 channels, i64 inner, float* gb, cudaStream_t s) {
  for (i64 o0 = 0; o0 < channels; o0 += 0x7fffffff) {
    const i64 count = std::min<i64>(0x7fffffff, channels - o0);
    biasGradKernel<<<static_cast<unsigned>(count), kBiasThreads, 0, s>>>(dy + o0 * inner, rows, channels, inner, gb + o0);
    QM_LAUNCHED();
  }
}

// out[v] = Σ_s parts[s][v], in sample order.
__global__ void sumPartsKernel(const float* __restrict__ parts, i64 rows, i64 n, float* __restrict__ out) {
  QM_EACH(v, n) {
    float sum = 0;
    for (i64 s = 0; s < rows; s++) sum += parts[s * n + v];
    out[v] = sum;
  }
}

struct ConvShape {
  i64 c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw;
  __host__ __device__ i64 k() const { return c * kh * kw; }
  __host__ __device__ i64 p() const { return oh * ow; }
};

// col[s][(c·kh + i)·kw + j][oy·OW + ox] = x[s][c][oy·sh + i − ph][ox·sw + j − pw], 0 outside.
__global__ void im2colKernel(const float* __restrict__ x, ConvShape cs, i64 rows, float* __restrict__ col) {
  const i64 K = cs.k(), P = cs.p();
  QM_EACH(idx, rows * K * P) {
    const i64 p = idx % P, kidx = (idx / P) % K, s = idx / (P * K);
    const i64 ch = kidx / (cs.kh * cs.kw), i = (kidx / cs.kw) % cs.kh, j = kidx % cs.kw;
    const i64 iy = (p / cs.ow) * cs.sh + i - cs.ph, ix = (p % cs.ow) * cs.sw + j - cs.pw;
    col[idx] = (iy >= 0 && iy < cs.h && ix >= 0 && ix < cs.w) ? x[((s * cs.c + ch) * cs.h + iy) * cs.w + ix] : 0.0f;
  }
}

// dx[s][c][iy][ix] = Σ over the (kernel cell, output pixel) pairs that read it of dcol.
__global__ void col2imKernel(const float* __restrict__ dcol, ConvShape cs, i64 rows, float* __restrict__ dx) {
  const i64 K = cs.k(), P = cs.p();
  QM_EACH(idx, rows * cs.c * cs.h * cs.w) {
    const i64 ix = idx % cs.w, iy = (idx / cs.w) % cs.h, ch = (idx / (cs.w * cs.h)) % cs.c, s = idx / (cs.w * cs.h * cs.c);
    float sum = 0;
    for (i64 i = 0; i < cs.kh; i++) {
      const i64 ty = iy + cs.ph - i;
      if (ty < 0 || ty % cs.sh || ty / cs.sh >= cs.oh) continue;
      for (i64 j = 0; j < cs.kw; j++) {
        const i64 tx = ix + cs.pw - j;
        if (tx < 0 || tx % cs.sw || tx / cs.sw >= cs.ow) continue;
        sum += dcol[(s * K + (ch * cs.kh + i) * cs.kw + j) * P + (ty / cs.sh) * cs.ow + tx / cs.sw];
      }
    }
    dx[idx] = sum;
  }
}

// Pooling over [rows][c][h][w]: the first maximum (a NaN wins) or the mean, summed in window order.
__global__ void poolForwardKernel(const float* __restrict__ x, ConvShape ps, bool isMax, float inv, i64 rows, float* __restrict__ y, uint32_t* __restrict__ argmax) {
  const i64 isz = ps.c * ps.h * ps.w, osz = ps.c * ps.oh * ps.ow;
  QM_EACH(idx, rows * osz) {
    const i64 s = idx / osz, o = idx % osz, ox = o % ps.ow, oy = (o / ps.ow) % ps.oh, ch = o / (ps.ow * ps.oh);
    const float* xs = x + s * isz;
    const i64 base = (ch * ps.h + oy * ps.sh) * ps.w + ox * ps.sw;
    if (isMax) {
      i64 best = base;
      for (i64 i = 0; i < ps.kh; i++)
        for (i64 j = 0; j < ps.kw; j++) {
          const float v = xs[base + i * ps.w + j];
          if (v > xs[best] || v != v) best = base + i * ps.w + j;
        }
      y[idx] = xs[best];
      if (argmax) argmax[idx] = static_cast<uint32_t>(best);
    } else {
      float sum = 0;
      for (i64 i = 0; i < ps.kh; i++)
        for (i64 j = 0; j < ps.kw; j++) sum += xs[base + i * ps.w + j];
      y[idx] = sum * inv;
    }
  }
}

// dx gathers, in output order, dy of the windows that hold it (max: where it was the maximum).
__global__ void poolBackwardKernel(const float* __restrict__ dy, const uint32_t* __restrict__ argmax, ConvShape ps, bool isMax, float inv, i64 rows, float* __restrict__ dx) {
  const i64 isz = ps.c * ps.h * ps.w, osz = ps.c * ps.oh * ps.ow;
  QM_EACH(idx, rows * isz) {
    const i64 s = idx / isz, at = idx % isz, ix = at % ps.w, iy = (at / ps.w) % ps.h, ch = at / (ps.w * ps.h);
    // windows oy with oy·sh ≤ iy < oy·sh + kh
    const i64 oy0 = iy < ps.kh ? 0 : (iy - ps.kh) / ps.sh + 1, oy1 = min(ps.oh - 1, iy / ps.sh);
    const i64 ox0 = ix < ps.kw ? 0 : (ix - ps.kw) / ps.sw + 1, ox1 = min(ps.ow - 1, ix / ps.sw);
    float sum = 0;
    for (i64 oy = oy0; oy <= oy1; oy++)
      for (i64 ox = ox0; ox <= ox1; ox++) {
        const i64 o = s * osz + (ch * ps.oh + oy) * ps.ow + ox;
        if (!isMax) sum += dy[o] * inv;
        else if (argmax[o] == static_cast<uint32_t>(at)) sum += dy[o];
      }
    dx[idx] = sum;
  }
}

__global__ void activationForwardKernel(LayerKind kind, const float* __restrict__ x, float* __restrict__ y, i64 n) {
  QM_EACH(j, n) {
    const float v = x[j];
    switch (kind) {
      case LayerKind::Relu: y[j] = v > 0 ? v : 0.0f; break;
      case LayerKind::Gelu: y[j] = static_cast<float>(0.5 * v * (1.0 + erf(v * 0.70710678118654752440))); break;
      case LayerKind::Tanh: y[j] = static_cast<float>(tanh(static_cast<double>(v))); break;
      case LayerKind::Sigmoid: y[j] = static_cast<float>(1.0 / (1.0 + exp(-static_cast<double>(v)))); break;
      default: y[j] = v;  // flatten; dropout at evaluation or with p = 0
    }
  }
}

__global__ void activationBackwardKernel(LayerKind kind, const float* __restrict__ x, const float* __restrict__ y, const float* __restrict__ dy, const float* __restrict__ mask,
                                         float* __restrict__ dx, i64 n) {
  QM_EACH(j, n) {
    switch (kind) {
      case LayerKind::Relu: dx[j] = y[j] > 0 ? dy[j] : 0.0f; break;
      case LayerKind::Gelu: {
        const double v = x[j];
        const double cdf = 0.5 * (1.0 + erf(v * 0.70710678118654752440)), pdf = exp(-0.5 * v * v) * 0.3989422804014327;
        dx[j] = static_cast<float>(dy[j] * (cdf + v * pdf));
        break;
      }
      case LayerKind::Tanh: dx[j] = dy[j] * (1.0f - y[j] * y[j]); break;
      case LayerKind::Sigmoid: dx[j] = dy[j] * y[j] * (1.0f - y[j]); break;
      default: dx[j] = mask ? dy[j] * mask[j] : dy[j];
    }
  }
}

// The CPU's Rng (core/rng.h), xoshiro256** seeded through splitmix64, on the device.
struct DeviceRng {
  uint64_t s[4];
  __device__ explicit DeviceRng(uint64_t seed) {
    for (auto& v : s) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      v = z ^ (z >> 31);
    }
  }
  __device__ static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  __device__ uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  __device__ double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
};

// One thread a sample: its stream is the CPU's (seed ^ s·φ), so the masks are identical.
__global__ void dropoutKernel(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ mask, i64 rows, i64 size, uint64_t seed, float p, float keep) {
  QM_EACH(s, rows) {
    DeviceRng rng(seed ^ (static_cast<uint64_t>(s) * 0x9e3779b97f4a7c15ull));
    for (i64 j = s * size; j < (s + 1) * size; j++) {
      mask[j] = rng.uniform() < static_cast<double>(p) ? 0.0f : keep;
      y[j] = x[j] * mask[j];
    }
  }
}

struct LossStats {
  double loss;
  unsigned long long correct;
};

// One thread a row, as the CPU's softmaxRow: loss, argmax, and dz = (p − onehot) / rows.
__global__ void crossEntropyKernel(const float* __restrict__ z, const uint8_t* __restrict__ y, i64 rows, i64 classes, float invRows, float* __restrict__ dz, LossStats* stats) {
  QM_EACH(r, rows) {
    const float* zr = z + r * classes;
    i64 best = 0;
    for (i64 j = 1; j < classes; j++)
      if (zr[j] > zr[best]) best = j;
    const float m = zr[best];
    double sum = 0;
    for (i64 j = 0; j < classes; j++) sum += exp(static_cast<double>(zr[j]) - m);
    const int label = y[r];
    atomicAdd(&stats->loss, log(sum) - (static_cast<double>(zr[label]) - m));
    if (best == label) atomicAdd(&stats->correct, 1ull);
    if (!dz) continue;
    const double inv = 1.0 / sum;
    for (i64 j = 0; j < classes; j++) {
      float p = static_cast<float>(exp(static_cast<double>(zr[j]) - m) * inv);
      if (j == label) p -= 1.0f;
      dz[r * classes + j] = p * invRows;
    }
  }
}

// PyTorch's MSELoss (the mean over every value), one thread a row.
__global__ void mseKernel(const float* __restrict__ out, const float* __restrict__ t, i64 rows, i64 outputs, float scale, float* __restrict__ dz, LossStats* stats) {
  QM_EACH(r, rows) {
    double sum = 0;
    for (i64 j = r * outputs; j < (r + 1) * outputs; j++) {
      const float d = out[j] - t[j];
      sum += static_cast<double>(d) * d / static_cast<double>(outputs);
      if (dz) dz[j] = d * scale;
    }
    atomicAdd(&stats->loss, sum);
  }
}

__global__ void proximalKernel(float* __restrict__ g, const float* __restrict__ w, const float* __restrict__ w0, float mu, i64 n) {
  QM_EACH(j, n) g[j] += mu * (w[j] - w0[j]);
}

// torch.optim's single-tensor updates, as core/optimizer.cc (divisions and roots rounded exactly).
__global__ void sgdKernel(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ buf, float lr, float wd, float mu, bool nesterov, i64 n) {
  QM_EACH(j, n) {
    float d = wd != 0 ? g[j] + wd * w[j] : g[j];
    if (buf) {
      buf[j] = buf[j] * mu + d;
      d = nesterov ? d + mu * buf[j] : buf[j];
    }
    w[j] = w[j] - lr * d;
  }
}

__global__ void adamKernel(float* __restrict__ w, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v, float lr, float wd, bool decoupled, float b1, float b2,
                           float eps, float stepSize, float bc2Sqrt, i64 n) {
  QM_EACH(j, n) {
    float d = g[j];
    if (decoupled) w[j] = w[j] * (1.0f - lr * wd);
    else if (wd != 0) d = d + wd * w[j];
    m[j] = m[j] * b1 + (1.0f - b1) * d;
    v[j] = v[j] * b2 + (1.0f - b2) * d * d;
    const float denom = __fdiv_rn(__fsqrt_rn(v[j]), bc2Sqrt) + eps;
    w[j] = w[j] - stepSize * __fdiv_rn(m[j], denom);
  }
}

/** The optimizer's state on the device; the settings were checked by the CPU's Optimizer. */
class DeviceOptimizer {
 public:
  DeviceOptimizer(const OptimizerConfig& cfg, size_t n, cudaStream_t s) : cfg_(cfg), n_(n) {
    const bool moments = cfg.kind != OptimizerKind::Sgd, momentum = cfg.kind == OptimizerKind::Sgd && cfg.momentum > 0;
    m_ = DeviceBuffer<float>(moments || momentum ? n : 0);
    v_ = DeviceBuffer<float>(moments ? n : 0);
    if (m_.size()) QM_CUDA(cudaMemsetAsync(m_.get(), 0, n * sizeof(float), s));
    if (v_.size()) QM_CUDA(cudaMemsetAsync(v_.get(), 0, n * sizeof(float), s));
  }

  void step(float* w, const float* g, cudaStream_t s) {
    t_++;
    const float lr = static_cast<float>(cfg_.lr), wd = static_cast<float>(cfg_.weightDecay);
    const i64 n = static_cast<i64>(n_);
    if (cfg_.kind == OptimizerKind::Sgd) {
      sgdKernel<<<gridFor(n), 256, 0, s>>>(w, g, m_.size() ? m_.get() : nullptr, lr, wd, static_cast<float>(cfg_.momentum), cfg_.nesterov, n);
    } else {
      const double bc1 = 1 - std::pow(cfg_.beta1, static_cast<double>(t_)), bc2 = 1 - std::pow(cfg_.beta2, static_cast<double>(t_));
      adamKernel<<<gridFor(n), 256, 0, s>>>(w, g, m_.get(), v_.get(), lr, wd, cfg_.kind == OptimizerKind::AdamW, static_cast<float>(cfg_.beta1), static_cast<float>(cfg_.beta2),
                                            static_cast<float>(cfg_.eps), static_cast<float>(cfg_.lr / bc1), static_cast<float>(std::sqrt(bc2)), n);
    }
    QM_LAUNCHED();
  }

 private:
  OptimizerConfig cfg_;
  size_t n_;
  uint64_t t_ = 0;
  DeviceBuffer<float> m_, v_;
};

template <class T>
void upload(T* dst, const T* src, size_t n, cudaStream_t s) {
  if (n) QM_CUDA(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyHostToDevice, s));
}

/** A model's parameters on the device and its activations for batches of up to `rows` samples. */
class DeviceModel {
 public:
  DeviceModel(const Sequential& net, size_t rows, bool training, cudaStream_t s) : net_(net), L_(net.layerCount()) {
    const size_t P = net.params().size();
    params_ = DeviceBuffer<float>(P);
    upload(params_.get(), net.params().data(), P, s);
    if (training) grad_ = DeviceBuffer<float>(P);
    size_t partial = 0;
    for (size_t l = 0; l < L_; l++) {
      const Layer& layer = net.layer(l);
      const LayerConfig& c = net.layerConfig(l);
      const size_t n = checkedMul(rows, layer.out.size(), "BAD_ARGUMENT", "batchSize", "a batch's activations");
      act_.emplace_back(n);
      dact_.emplace_back(training ? n : 0);
      const bool conv = c.kind == LayerKind::Conv2d;
      const size_t K = layer.in.c * c.kh * c.kw, pixels = layer.out.h * layer.out.w;
      col_.emplace_back(conv ? checkedMul(rows, checkedMul(K, pixels, "BAD_SPEC", "layers", "an unfolded input"), "BAD_ARGUMENT", "batchSize", "a batch's unfolded input") : 0);
      if (conv && training) partial = std::max(partial, checkedMul(rows, layer.weightSize, "BAD_ARGUMENT", "batchSize", "a batch's per-sample weight gradients"));
      argmax_.emplace_back(training && c.kind == LayerKind::MaxPool2d ? n : 0);
      mask_.emplace_back(training && c.kind == LayerKind::Dropout && c.p > 0 ? n : 0);
    }
    partial_ = DeviceBuffer<float>(partial);
  }

  float* params() const { return params_.get(); }
  float* grad() const { return grad_.get(); }
  float* out() const { return act_[L_ - 1].get(); }
  float* dout() const { return dact_[L_ - 1].get(); }

  void download(Sequential& net, cudaStream_t s) const {
    std::vector<float> p(net.params().size());
    if (!p.empty()) QM_CUDA(cudaMemcpyAsync(p.data(), params_.get(), p.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
    QM_CUDA(cudaStreamSynchronize(s));
    net.setParams(p);
  }

  /** Every layer over `rows` samples of x; seeds (training only) are the batch's per-layer dropout seeds. */
  void forward(const float* x, i64 rows, const std::vector<uint64_t>* seeds, cudaStream_t s) {
    const float* in = x;
    for (size_t l = 0; l < L_; l++) {
      const Layer& layer = net_.layer(l);
      const LayerConfig& c = net_.layerConfig(l);
      const float* w = params_.get() + net_.paramOffset(l);
      float* y = act_[l].get();
      const i64 n = rows * static_cast<i64>(layer.out.size());
      switch (c.kind) {
        case LayerKind::Dense: {
          const int I = static_cast<int>(layer.in.size()), O = static_cast<int>(layer.out.c);
          gemm(Gemm{static_cast<int>(rows), O, I, in, I, 1, 0, w, 1, I, 0, y, O, 0}, 1, s);
          addBiasKernel<<<gridFor(n), 256, 0, s>>>(y, w + layer.weightSize, n, 1, O);
          break;
        }
        case LayerKind::Conv2d: {
          const ConvShape cs = shape(l);
          const i64 K = cs.k(), P = cs.p();
          im2colKernel<<<gridFor(rows * K * P), 256, 0, s>>>(in, cs, rows, col_[l].get());
          QM_LAUNCHED();
          gemm(Gemm{static_cast<int>(cs.oc), static_cast<int>(P), static_cast<int>(K), w, K, 1, 0, col_[l].get(), P, 1, K * P, y, P, cs.oc * P}, rows, s);
          addBiasKernel<<<gridFor(n), 256, 0, s>>>(y, w + layer.weightSize, n, P, cs.oc);
          break;
        }
        case LayerKind::MaxPool2d:
        case LayerKind::AvgPool2d:
          poolForwardKernel<<<gridFor(n), 256, 0, s>>>(in, shape(l), c.kind == LayerKind::MaxPool2d, 1.0f / static_cast<float>(c.kh * c.kw), rows, y,
                                                      seeds && argmax_[l].size() ? argmax_[l].get() : nullptr);
          break;
        case LayerKind::Dropout:
          if (seeds && mask_[l].size()) {
            const float p = static_cast<float>(c.p);
            dropoutKernel<<<gridFor(rows), 256, 0, s>>>(in, y, mask_[l].get(), rows, static_cast<i64>(layer.in.size()), (*seeds)[l], p, 1.0f / (1.0f - p));
            break;
          }
          [[fallthrough]];
        default:
          activationForwardKernel<<<gridFor(n), 256, 0, s>>>(c.kind, in, y, n);
      }
      QM_LAUNCHED();
      in = y;
    }
  }

  /** From dout() back to the first layer: the parameter gradient into grad(). x is the batch's input. */
  void backward(const float* x, i64 rows, cudaStream_t s) {
    for (size_t l = L_; l-- > 0;) {
      const Layer& layer = net_.layer(l);
      const LayerConfig& c = net_.layerConfig(l);
      const float* in = l == 0 ? x : act_[l - 1].get();
      const float* y = act_[l].get();
      const float* dy = dact_[l].get();
      float* dx = l == 0 ? nullptr : dact_[l - 1].get();
      const float* w = params_.get() + net_.paramOffset(l);
      float* g = grad_.get() + net_.paramOffset(l);
      const i64 n = rows * static_cast<i64>(layer.in.size());
      switch (c.kind) {
        case LayerKind::Dense: {
          const int I = static_cast<int>(layer.in.size()), O = static_cast<int>(layer.out.c);
          gemm(Gemm{O, I, static_cast<int>(rows), dy, 1, O, 0, in, I, 1, 0, g, I, 0}, 1, s);  // dW[o][i] = Σ_r dy[r][o] x[r][i]
          biasGrad(dy, rows, O, 1, g + layer.weightSize, s);
          if (dx) gemm(Gemm{static_cast<int>(rows), I, O, dy, O, 1, 0, w, I, 1, 0, dx, I, 0}, 1, s);  // dx = dy W
          break;
        }
        case LayerKind::Conv2d: {
          const ConvShape cs = shape(l);
          const i64 K = cs.k(), P = cs.p(), O = cs.oc;
          // per sample dW_s[o][k] = Σ_p dy_s[o][p] col_s[k][p], then summed over samples in order
          gemm(Gemm{static_cast<int>(O), static_cast<int>(K), static_cast<int>(P), dy, P, 1, O * P, col_[l].get(), 1, P, K * P, partial_.get(), K, O * K}, rows, s);
          sumPartsKernel<<<gridFor(O * K), 256, 0, s>>>(partial_.get(), rows, O * K, g);
          QM_LAUNCHED();
          biasGrad(dy, rows, O, P, g + layer.weightSize, s);
          if (dx) {
            // dcol_s[k][p] = Σ_o W[o][k] dy_s[o][p] (into the unfolded input, no longer needed), folded back
            gemm(Gemm{static_cast<int>(K), static_cast<int>(P), static_cast<int>(O), w, 1, K, 0, dy, P, 1, O * P, col_[l].get(), P, K * P}, rows, s);
            col2imKernel<<<gridFor(n), 256, 0, s>>>(col_[l].get(), cs, rows, dx);
          }
          break;
        }
        case LayerKind::MaxPool2d:
        case LayerKind::AvgPool2d:
          if (dx) poolBackwardKernel<<<gridFor(n), 256, 0, s>>>(dy, argmax_[l].get(), shape(l), c.kind == LayerKind::MaxPool2d, 1.0f / static_cast<float>(c.kh * c.kw), rows, dx);
          break;
        default:
          if (dx) activationBackwardKernel<<<gridFor(n), 256, 0, s>>>(c.kind, in, y, dy, mask_[l].size() ? mask_[l].get() : nullptr, dx, n);
      }
      QM_LAUNCHED();
    }
  }

 private:
  ConvShape shape(size_t l) const {
    const Layer& layer = net_.layer(l);
    const LayerConfig& c = net_.layerConfig(l);
    auto v = [](size_t x) { return static_cast<i64>(x); };
    return ConvShape{v(layer.in.c), v(layer.in.h), v(layer.in.w), v(layer.out.c), v(layer.out.h), v(layer.out.w), v(c.kh), v(c.kw), v(c.sh), v(c.sw), v(c.ph), v(c.pw)};
  }

  const Sequential& net_;
  size_t L_;
  DeviceBuffer<float> params_, grad_, partial_;
  std::vector<DeviceBuffer<float>> act_, dact_, col_, mask_;
  std::vector<DeviceBuffer<uint32_t>> argmax_;
};

// GEMM sizes are ints: refuse what does not fit before any work.
void checkSizes(const Sequential& net, size_t rows) {
  const size_t most = 0x7fffffff;
  if (rows > most) fail("BAD_ARGUMENT", "batchSize", "the batch is too large for the CUDA kernels: use the CPU");
  for (size_t l = 0; l < net.layerCount(); l++) {
    const Layer& layer = net.layer(l);
    const LayerConfig& c = net.layerConfig(l);
    if (layer.in.size() > most || layer.out.size() > most || layer.in.c * c.kh * c.kw > most)
      fail("BAD_ARGUMENT", "device", "layers[" + std::to_string(l) + "] is too large for the CUDA kernels (sizes must stay below 2^31): use the CPU");
  }
}

void lossOf(const Sequential& net, const float* out, const uint8_t* y, const float* t, i64 rows, float* dz, LossStats* stats, cudaStream_t s) {
  const i64 C = static_cast<i64>(net.classes());
  if (net.loss() == Loss::MeanSquaredError)
    mseKernel<<<gridFor(rows), 256, 0, s>>>(out, t, rows, C, 2.0f / static_cast<float>(rows * C), dz, stats);
  else
    crossEntropyKernel<<<gridFor(rows), 256, 0, s>>>(out, y, rows, C, 1.0f / static_cast<float>(rows), dz, stats);
  QM_LAUNCHED();
}

}  // namespace

Stats train(Sequential& net, const DataView& data, const SequentialTrainConfig& cfg, const ProgressFn& progress) {
  net.checkData(data);
  if (cfg.batch == 0) fail("BAD_ARGUMENT", "batchSize", "batchSize must be positive");
  if (data.count > 0xffffffffu) fail("BAD_ARGUMENT", "data.count", "training takes at most 2^32 - 1 samples a call");
  Optimizer(cfg.optimizer, 0);  // the settings, checked as the CPU does before any work
  if (!(std::isfinite(cfg.proximalMu) && cfg.proximalMu >= 0)) fail("BAD_ARGUMENT", "proximalMu", "proximalMu must be a finite number >= 0");
  const size_t L = net.layerCount(), B = std::min(cfg.batch, data.count), F = net.inputs(), C = net.classes();
  checkSizes(net, B);
  requireDevice();
  Stream s;
  const bool regression = net.loss() == Loss::MeanSquaredError;
  DeviceModel dm(net, B, true, s);
  DeviceOptimizer opt(cfg.optimizer, net.params().size(), s);
  const float mu = static_cast<float>(cfg.proximalMu);
  DeviceBuffer<float> start(mu > 0 ? net.params().size() : 0);
  if (start.size()) QM_CUDA(cudaMemcpyAsync(start.get(), dm.params(), start.size() * sizeof(float), cudaMemcpyDeviceToDevice, s));
  DeviceBuffer<float> x(checkedMul(data.count, F, "BAD_ARGUMENT", "data", "the data set")), xb(B * F);
  DeviceBuffer<uint8_t> y(regression ? 0 : data.count), yb(regression ? 0 : B);
  DeviceBuffer<float> t(regression ? data.count * C : 0), tb(regression ? B * C : 0);
  DeviceBuffer<uint32_t> permDev(data.count);
  DeviceBuffer<LossStats> stats(1);
  upload(x.get(), data.x, data.count * F, s);
  if (regression) upload(t.get(), data.t, data.count * C, s);
  else upload(y.get(), data.y, data.count, s);

  std::vector<uint32_t> perm(data.count);
  std::iota(perm.begin(), perm.end(), 0u);
  Rng rng(cfg.seed);
  std::vector<uint64_t> seeds(L);
  const size_t batches = (data.count + B - 1) / B;
  LossStats total{0, 0};
  size_t seen = 0;
  for (int epoch = 0; epoch < cfg.epochs; epoch++) {
    for (size_t i = data.count - 1; i > 0; i--) std::swap(perm[i], perm[rng.below(i + 1)]);
    upload(permDev.get(), perm.data(), perm.size(), s);
    QM_CUDA(cudaMemsetAsync(stats.get(), 0, sizeof(LossStats), s));
    for (size_t bi = 0; bi < batches; bi++) {
      const i64 b0 = static_cast<i64>(bi * B), rows = static_cast<i64>(std::min(B, data.count - bi * B));
      gatherKernel<<<gridFor(rows * static_cast<i64>(F)), 256, 0, s>>>(x.get(), y.get(), t.get(), permDev.get(), b0, rows, static_cast<i64>(F), static_cast<i64>(C), xb.get(),
                                                                       yb.get(), tb.get());
      QM_LAUNCHED();
      for (size_t l = 0; l < L; l++) seeds[l] = rng.next();
      dm.forward(xb.get(), rows, &seeds, s);
      lossOf(net, dm.out(), yb.get(), tb.get(), rows, dm.dout(), stats.get(), s);
      dm.backward(xb.get(), rows, s);
      const i64 P = static_cast<i64>(net.params().size());
      if (mu > 0) {
        proximalKernel<<<gridFor(P), 256, 0, s>>>(dm.grad(), dm.params(), start.get(), mu, P);
        QM_LAUNCHED();
      }
      opt.step(dm.params(), dm.grad(), s);
    }
    LossStats es;
    QM_CUDA(cudaMemcpyAsync(&es, stats.get(), sizeof es, cudaMemcpyDeviceToHost, s));
    s.sync();
    total.loss += es.loss;
    total.correct += es.correct;
    seen += data.count;
    if (progress) progress(epoch, batches - 1, batches, es.loss / static_cast<double>(data.count));
  }
  dm.download(net, s);
  Stats out;
  out.samples = seen;
  out.loss = seen ? total.loss / static_cast<double>(seen) : 0;
  out.accuracy = seen ? static_cast<double>(total.correct) / static_cast<double>(seen) : 0;
  return out;
}

Stats evaluate(const Sequential& net, const DataView& data) {
  net.checkData(data);
  const size_t block = std::min(kEvalBlock, data.count), F = net.inputs(), C = net.classes();
  checkSizes(net, block);
  requireDevice();
  Stream s;
  const bool regression = net.loss() == Loss::MeanSquaredError;
  DeviceModel dm(net, block, false, s);
  DeviceBuffer<float> x(block * F), t(regression ? block * C : 0);
  DeviceBuffer<uint8_t> y(regression ? 0 : block);
  DeviceBuffer<LossStats> stats(1);
  QM_CUDA(cudaMemsetAsync(stats.get(), 0, sizeof(LossStats), s));
  for (size_t r0 = 0; r0 < data.count; r0 += block) {
    const size_t rows = std::min(block, data.count - r0);
    upload(x.get(), data.x + r0 * F, rows * F, s);
    if (regression) upload(t.get(), data.t + r0 * C, rows * C, s);
    else upload(y.get(), data.y + r0, rows, s);
    dm.forward(x.get(), static_cast<i64>(rows), nullptr, s);
    lossOf(net, dm.out(), y.get(), t.get(), static_cast<i64>(rows), nullptr, stats.get(), s);
    s.sync();  // the next block overwrites x
  }
  LossStats es;
  QM_CUDA(cudaMemcpyAsync(&es, stats.get(), sizeof es, cudaMemcpyDeviceToHost, s));
  s.sync();
  Stats out;
  out.samples = data.count;
  out.loss = es.loss / static_cast<double>(data.count);
  out.accuracy = static_cast<double>(es.correct) / static_cast<double>(data.count);
  return out;
}

void predict(const Sequential& net, const float* x, size_t count, float* probs) {
  if (count == 0) return;
  const size_t block = std::min(kEvalBlock, count), F = net.inputs(), C = net.classes();
  checkSizes(net, block);
  requireDevice();
  Stream s;
  DeviceModel dm(net, block, false, s);
  DeviceBuffer<float> xd(block * F);
  for (size_t r0 = 0; r0 < count; r0 += block) {
    const size_t rows = std::min(block, count - r0);
    upload(xd.get(), x + r0 * F, rows * F, s);
    dm.forward(xd.get(), static_cast<i64>(rows), nullptr, s);
    float* out = probs + r0 * C;
    QM_CUDA(cudaMemcpyAsync(out, dm.out(), rows * C * sizeof(float), cudaMemcpyDeviceToHost, s));
    s.sync();
    if (net.loss() == Loss::CrossEntropy)
      for (size_t r = 0; r < rows; r++) {
        size_t best;
        softmaxRow(out + r * C, C, 0, &best);
      }
  }
}

}  // namespace gpu
}  // namespace qm
