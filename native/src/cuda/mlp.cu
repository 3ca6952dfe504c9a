// Training and evaluation of the dense network on the GPU. The whole data set is uploaded once
// per call and stays resident; each batch is a short run of kernels queued on one stream with no
// host round trip (the host waits once per epoch), so small batches are not launch-bound:
// gather → per layer a tiled GEMM with bias+ReLU → softmax/cross-entropy → per layer (from the
// top) the gradient to the layer below, then the weight gradient fused with its SGD update.
// Shuffling uses the CPU's generator, so a seed gives the same batches on both devices.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>
#include <numeric>
#include <vector>

#include "core/gpu.h"
#include "core/mlp.h"
#include "core/rng.h"
#include "cuda/common.cuh"

namespace qm {
namespace gpu {
namespace {

constexpr int kTile = 32, kThreads = 16;  // 32×32 output tile, 16×16 threads with 2×2 outputs each

enum class Epilogue { Store, BiasAct, MaskRelu, Sgd, AtomicAdd };

struct Gemm {
  int m, n, k;
  const float* a;  // A(i, kk) = a[i*sai + kk*sak]
  long sai, sak;
  const float* b;  // B(kk, j) = b[kk*sbk + j*sbj]
  long sbk, sbj;
  float* c;  // C(i, j) = c[i*ldc + j]
  long ldc;
  Epilogue epilogue;
  const float* bias;
  bool relu;
  const float* mask;  // MaskRelu: zero C where mask <= 0 (same layout as C)
  float* velocity;    // Sgd: momentum buffer (same layout as C), or null
  float lr, mu;
  int kPerSplit;      // AtomicAdd: the K range of blockIdx.z (split-K for small output grids)
};

__global__ void gemmKernel(const __grid_constant__ Gemm g) {
  __shared__ float as[kTile][kTile + 1];
  __shared__ float bs[kTile][kTile + 1];
  int tx = threadIdx.x, ty = threadIdx.y, tid = ty * kThreads + tx;
  int i0 = blockIdx.y * kTile, j0 = blockIdx.x * kTile;
  float acc[2][2] = {{0, 0}, {0, 0}};
  const int kBegin = g.epilogue == Epilogue::AtomicAdd ? blockIdx.z * g.kPerSplit : 0;
  const int kEnd = g.epilogue == Epilogue::AtomicAdd ? min(g.k, kBegin + g.kPerSplit) : g.k;
  for (int k0 = kBegin; k0 < kEnd; k0 += kTile) {
#pragma unroll
    for (int q = 0; q < 4; q++) {
      int e = tid + q * kThreads * kThreads;
      // A tile: consecutive threads walk kk when A is row-major, i when it is transposed (coalesced either way).
      int r = g.sak == 1 ? e / kTile : e % kTile, kk = g.sak == 1 ? e % kTile : e / kTile;
      int gi = i0 + r, gk = k0 + kk;
      as[r][kk] = (gi < g.m && gk < kEnd) ? g.a[gi * g.sai + gk * g.sak] : 0.0f;
      int bk = g.sbj == 1 ? e / kTile : e % kTile, bj = g.sbj == 1 ? e % kTile : e / kTile;
      int gbk = k0 + bk, gj = j0 + bj;
      bs[bk][bj] = (gbk < kEnd && gj < g.n) ? g.b[gbk * g.sbk + gj * g.sbj] : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < kTile; kk++) {
      float a0 = as[ty][kk], a1 = as[ty + kThreads][kk];
      float b0 = bs[kk][tx], b1 = bs[kk][tx + kThreads];
      acc[0][0] = fmaf(a0, b0, acc[0][0]);
      acc[0][1] = fmaf(a0, b1, acc[0][1]);
      acc[1][0] = fmaf(a1, b0, acc[1][0]);
      acc[1][1] = fmaf(a1, b1, acc[1][1]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 2; r++)
#pragma unroll
    for (int s = 0; s < 2; s++) {
      int i = i0 + ty + r * kThreads, j = j0 + tx + s * kThreads;
      if (i >= g.m || j >= g.n) continue;
      long at = i * g.ldc + j;
      float v = acc[r][s];
      switch (g.epilogue) {
        case Epilogue::Store: g.c[at] = v; break;
        case Epilogue::BiasAct: v += g.bias[j]; g.c[at] = g.relu ? fmaxf(v, 0.0f) : v; break;
        case Epilogue::MaskRelu: g.c[at] = g.mask[at] > 0.0f ? v : 0.0f; break;
        case Epilogue::AtomicAdd: atomicAdd(g.c + at, v); break;
        case Epilogue::Sgd:
          if (g.velocity) v = g.velocity[at] = g.mu * g.velocity[at] + v;
          g.c[at] -= g.lr * v;
          break;
      }
    }
}

__global__ void biasActKernel(float* __restrict__ c, const float* __restrict__ bias, bool relu, int m, int n) {
  int at = blockIdx.x * blockDim.x + threadIdx.x;
  if (at >= m * n) return;
  float v = c[at] + bias[at % n];
  c[at] = relu ? fmaxf(v, 0.0f) : v;
}

int multiprocessors() {
  static const int count = [] {
    int n = 0;
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess) n = 1;
    return n;
  }();
  return count;
}

void gemm(const Gemm& g, cudaStream_t s) {
  dim3 grid((g.n + kTile - 1) / kTile, (g.m + kTile - 1) / kTile), block(kThreads, kThreads);
  int tiles = static_cast<int>(grid.x * grid.y), kTiles = (g.k + kTile - 1) / kTile;
  if (g.epilogue == Epilogue::BiasAct && tiles * 4 <= multiprocessors() && kTiles >= 4) {
    // Too few output tiles to fill the GPU (a batch of 64 through a wide layer): split K across
    // blocks that add into a zeroed C, then apply bias and activation.
    int splits = std::min(kTiles, std::max(2, 2 * multiprocessors() / tiles));
    Gemm part = g;
    part.epilogue = Epilogue::AtomicAdd;
    part.kPerSplit = ((kTiles + splits - 1) / splits) * kTile;
    grid.z = (g.k + part.kPerSplit - 1) / part.kPerSplit;
    QM_CUDA(cudaMemsetAsync(g.c, 0, sizeof(float) * g.m * g.ldc, s));
    gemmKernel<<<grid, block, 0, s>>>(part);
    QM_LAUNCHED();
    biasActKernel<<<blocksFor(size_t(g.m) * g.n, 256), 256, 0, s>>>(g.c, g.bias, g.relu, g.m, g.n);
    QM_LAUNCHED();
    return;
  }
  gemmKernel<<<grid, block, 0, s>>>(g);
  QM_LAUNCHED();
}

// The batch starts at b0, or, in a replayed graph, at (*counter) * rows; the counter is advanced
// by the batch's last kernel.
__global__ void gatherKernel(const float* __restrict__ x, const uint8_t* __restrict__ y, const uint32_t* __restrict__ perm, size_t b0, const int* counter,
                             int rows, int features, float* __restrict__ xb, uint8_t* __restrict__ yb) {
  int r = blockIdx.x;
  if (counter) b0 = static_cast<size_t>(*counter) * rows;
  size_t src = static_cast<size_t>(perm[b0 + r]);
  for (int f = threadIdx.x; f < features; f += blockDim.x) xb[static_cast<size_t>(r) * features + f] = x[src * features + f];
  if (threadIdx.x == 0) yb[r] = y[src];
}

struct EpochStats {
  double loss;
  unsigned long long correct;
};

// One warp a row: softmax, cross-entropy, argmax; in training also dZ = (p - onehot) / rows.
__global__ void softmaxKernel(const float* __restrict__ z, const uint8_t* __restrict__ y, int rows, int classes, float* __restrict__ dz, EpochStats* stats) {
  int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* zr = z + static_cast<size_t>(row) * classes;
  float m = -INFINITY;
  int best = 0;
  for (int j = lane; j < classes; j += 32)
    if (zr[j] > m) m = zr[j], best = j;
  for (int off = 16; off; off >>= 1) {
    float om = __shfl_down_sync(0xffffffff, m, off);
    int ob = __shfl_down_sync(0xffffffff, best, off);
    if (om > m || (om == m && ob < best)) m = om, best = ob;
  }
  m = __shfl_sync(0xffffffff, m, 0);
  best = __shfl_sync(0xffffffff, best, 0);
  double sum = 0;
  for (int j = lane; j < classes; j += 32) sum += exp(static_cast<double>(zr[j]) - m);
  for (int off = 16; off; off >>= 1) sum += __shfl_down_sync(0xffffffff, sum, off);
  sum = __shfl_sync(0xffffffff, sum, 0);
  int label = y[row];
  if (dz) {
    float inv = 1.0f / rows;
    for (int j = lane; j < classes; j += 32) {
      float p = static_cast<float>(exp(static_cast<double>(zr[j]) - m) / sum);
      dz[static_cast<size_t>(row) * classes + j] = (p - (j == label ? 1.0f : 0.0f)) * inv;
    }
  }
  if (lane == 0) {
    atomicAdd(&stats->loss, log(sum) - (static_cast<double>(zr[label]) - m));
    if (best == label) atomicAdd(&stats->correct, 1ull);
  }
}

// Bias gradient (column sums of dZ) and its SGD step; one thread a column.
__global__ void biasKernel(const float* __restrict__ dz, int rows, int n, float* __restrict__ bias, float* __restrict__ velocity, float lr, float mu, int* counter) {
  int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (counter && j == 0) ++*counter;  // the batch's last kernel: the next replay takes the next batch
  if (j >= n) return;
  float s = 0;
  for (int r = 0; r < rows; r++) s += dz[static_cast<size_t>(r) * n + j];
  if (velocity) s = velocity[j] = mu * velocity[j] + s;
  bias[j] -= lr * s;
}

/** The network's parameters on the device, in the CPU's [in][out] layout. */
struct DeviceNet {
  std::vector<LayerDims> dims;
  std::vector<DeviceBuffer<float>> w, b;

  DeviceNet(const Mlp& net, cudaStream_t s) : dims(net.layers()) {
    for (size_t l = 0; l < dims.size(); l++) {
      const LayerDims& d = dims[l];
      std::vector<float> wo(d.in * d.out), wt(d.in * d.out), bias(d.out);
      net.getLayer(l, wo.data(), bias.data());
      for (size_t o = 0; o < d.out; o++)
        for (size_t i = 0; i < d.in; i++) wt[i * d.out + o] = wo[o * d.in + i];
      w.emplace_back(d.in * d.out);
      b.emplace_back(d.out);
      QM_CUDA(cudaMemcpyAsync(w[l].get(), wt.data(), wt.size() * sizeof(float), cudaMemcpyHostToDevice, s));
      QM_CUDA(cudaMemcpyAsync(b[l].get(), bias.data(), bias.size() * sizeof(float), cudaMemcpyHostToDevice, s));
      QM_CUDA(cudaStreamSynchronize(s));  // the host vectors go out of scope
    }
  }

  void download(Mlp& net, cudaStream_t s) const {
    for (size_t l = 0; l < dims.size(); l++) {
      const LayerDims& d = dims[l];
      std::vector<float> wt(d.in * d.out), wo(d.in * d.out), bias(d.out);
      QM_CUDA(cudaMemcpyAsync(wt.data(), w[l].get(), wt.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
      QM_CUDA(cudaMemcpyAsync(bias.data(), b[l].get(), bias.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
      QM_CUDA(cudaStreamSynchronize(s));
      for (size_t o = 0; o < d.out; o++)
        for (size_t i = 0; i < d.in; i++) wo[o * d.in + i] = wt[i * d.out + o];
      net.setLayer(l, wo.data(), bias.data());
    }
  }

  // Forward over `rows` contiguous samples of x; acts[l] receives layer l's output.
  void forward(const float* x, int rows, std::vector<DeviceBuffer<float>>& acts, cudaStream_t s) const {
    const float* in = x;
    for (size_t l = 0; l < dims.size(); l++) {
      const LayerDims& d = dims[l];
      Gemm g{rows, static_cast<int>(d.out), static_cast<int>(d.in), in, static_cast<long>(d.in), 1, w[l].get(), static_cast<long>(d.out), 1,
             acts[l].get(), static_cast<long>(d.out), Epilogue::BiasAct, b[l].get(), d.relu};
      gemm(g, s);
      in = acts[l].get();
    }
  }
};

// The kernels index with int: every size they see must fit one (a batch's rows × widths too).
void checkData(const Mlp& net, const DataView& data, size_t rows) {
  if (data.features != net.inputs()) fail("SHAPE_MISMATCH", "data.features", "data.features does not match the model's inputs");
  if (data.count == 0) fail("EMPTY_INPUT", "data", "data holds no samples");
  const size_t most = static_cast<size_t>(std::numeric_limits<int>::max());
  for (const LayerDims& d : net.layers())
    if (d.in > most || d.out > most || checkedMul(rows, std::max(d.in, d.out), "BAD_ARGUMENT", "data", "a batch's activations") > most ||
        checkedMul(d.in, d.out, "BAD_SPEC", "layers", "a layer's weights") > most)
      fail("BAD_ARGUMENT", "device", "the network or batch is too large for the CUDA kernels (sizes must stay below 2^31): use the CPU");
  for (size_t i = 0; i < data.count; i++)
    if (data.y[i] >= net.classes()) fail("BAD_ARGUMENT", "data.y", "data.y[" + std::to_string(i) + "] is not a class of the model");
}

}  // namespace

Stats train(Mlp& net, const DataView& data, const TrainConfig& cfg, const ProgressFn& progress) {
  requireDevice();
  if (cfg.batch == 0) fail("BAD_ARGUMENT", "batchSize", "batchSize must be positive");
  // samples are shuffled as 32-bit indices
  if (data.count > 0xffffffffu) fail("BAD_ARGUMENT", "data.count", "training takes at most 2^32 - 1 samples a call");
  checkData(net, data, std::min(cfg.batch, data.count));
  Stream s;
  DeviceNet dn(net, s);
  const size_t L = dn.dims.size(), B = std::min(cfg.batch, data.count), F = data.features, C = net.classes();
  const bool momentum = cfg.momentum != 0;
  DeviceBuffer<float> x(data.count * F), xb(B * F);
  DeviceBuffer<uint8_t> y(data.count), yb(B);
  DeviceBuffer<uint32_t> permDev(data.count);
  DeviceBuffer<EpochStats> stats(1);
  QM_CUDA(cudaMemcpyAsync(x.get(), data.x, data.count * F * sizeof(float), cudaMemcpyHostToDevice, s));
  QM_CUDA(cudaMemcpyAsync(y.get(), data.y, data.count, cudaMemcpyHostToDevice, s));
  std::vector<DeviceBuffer<float>> act, dz, vw, vb;
  for (const LayerDims& d : dn.dims) {
    act.emplace_back(B * d.out);
    dz.emplace_back(B * d.out);
    vw.emplace_back(momentum ? d.in * d.out : 0);
    vb.emplace_back(momentum ? d.out : 0);
    if (momentum) {
      QM_CUDA(cudaMemsetAsync(vw.back().get(), 0, d.in * d.out * sizeof(float), s));
      QM_CUDA(cudaMemsetAsync(vb.back().get(), 0, d.out * sizeof(float), s));
    }
  }
  std::vector<uint32_t> perm(data.count);
  std::iota(perm.begin(), perm.end(), 0u);
  Rng rng(cfg.seed);
  const size_t batches = (data.count + B - 1) / B;
  const float lr = static_cast<float>(cfg.lr), mu = static_cast<float>(cfg.momentum);
  EpochStats total{0, 0};
  size_t seen = 0;

  // One batch's kernels: gather, forward, loss, then per layer from the top the gradient to the
  // layer below (before this layer's weights change) and the fused weight-gradient + SGD step.
  auto runBatch = [&](size_t b0, int rows, int* counter) {
    gatherKernel<<<rows, 256, 0, s>>>(x.get(), y.get(), permDev.get(), b0, counter, rows, static_cast<int>(F), xb.get(), yb.get());
    QM_LAUNCHED();
    dn.forward(xb.get(), rows, act, s);
    softmaxKernel<<<blocksFor(rows, 4), 128, 0, s>>>(act[L - 1].get(), yb.get(), rows, static_cast<int>(C), dz[L - 1].get(), stats.get());
    QM_LAUNCHED();
    for (size_t l = L; l-- > 0;) {
      const LayerDims& d = dn.dims[l];
      const int in = static_cast<int>(d.in), out = static_cast<int>(d.out);
      if (l > 0) {
        Gemm g{rows, in, out, dz[l].get(), out, 1, dn.w[l].get(), 1, out, dz[l - 1].get(), in,
               dn.dims[l - 1].relu ? Epilogue::MaskRelu : Epilogue::Store, nullptr, false, act[l - 1].get()};
        gemm(g, s);
      }
      const float* ain = l == 0 ? xb.get() : act[l - 1].get();
      Gemm gw{in, out, rows, ain, 1, in, dz[l].get(), out, 1, dn.w[l].get(), out, Epilogue::Sgd, nullptr, false, nullptr,
              momentum ? vw[l].get() : nullptr, lr, mu};
      gemm(gw, s);
      biasKernel<<<blocksFor(d.out, 128), 128, 0, s>>>(dz[l].get(), rows, out, dn.b[l].get(), momentum ? vb[l].get() : nullptr, lr, mu, l == 0 ? counter : nullptr);
      QM_LAUNCHED();
    }
  };

  // Full batches replay one captured graph (one launch a batch instead of a dozen); the last,
  // partial batch is launched directly. QUACKMESH_CUDA_GRAPH=0 turns the graph off.
  const size_t full = data.count / B;
  const char* graphEnv = std::getenv("QUACKMESH_CUDA_GRAPH");
  const bool useGraph = full >= 4 && !(graphEnv && std::string(graphEnv) == "0");
  DeviceBuffer<int> counter(1);
  cudaGraphExec_t exec = nullptr;
  struct GraphGuard {
    cudaGraphExec_t* e;
    ~GraphGuard() {
      if (*e) cudaGraphExecDestroy(*e);
    }
  } guard{&exec};
  if (useGraph) {
    multiprocessors();  // queried before capture: no device queries while capturing
    cudaGraph_t graph;
    QM_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    try {
      runBatch(0, static_cast<int>(B), counter.get());
    } catch (...) {
      cudaStreamEndCapture(s, &graph);
      throw;
    }
    QM_CUDA(cudaStreamEndCapture(s, &graph));
    cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    QM_CUDA(err);
  }

  for (int epoch = 0; epoch < cfg.epochs; epoch++) {
    for (size_t i = data.count - 1; i > 0; i--) std::swap(perm[i], perm[rng.below(i + 1)]);
    QM_CUDA(cudaMemcpyAsync(permDev.get(), perm.data(), perm.size() * sizeof(uint32_t), cudaMemcpyHostToDevice, s));
    QM_CUDA(cudaMemsetAsync(stats.get(), 0, sizeof(EpochStats), s));
    QM_CUDA(cudaMemsetAsync(counter.get(), 0, sizeof(int), s));
    size_t bi = 0;
    if (useGraph)
      for (; bi < full; bi++) QM_CUDA(cudaGraphLaunch(exec, s));
    for (; bi < batches; bi++) runBatch(bi * B, static_cast<int>(std::min(B, data.count - bi * B)), nullptr);
    EpochStats es;
    QM_CUDA(cudaMemcpyAsync(&es, stats.get(), sizeof es, cudaMemcpyDeviceToHost, s));
    s.sync();
    total.loss += es.loss;
    total.correct += es.correct;
    seen += data.count;
    if (progress) progress(epoch, batches - 1, batches, es.loss / static_cast<double>(data.count));
  }
  dn.download(net, s);
  Stats out;
  out.samples = seen;
  out.loss = total.loss / static_cast<double>(seen);
  out.accuracy = static_cast<double>(total.correct) / static_cast<double>(seen);
  return out;
}

Stats evaluate(const Mlp& net, const DataView& data) {
  requireDevice();
  checkData(net, data, std::min<size_t>(data.count, 8192));
  Stream s;
  DeviceNet dn(net, s);
  const size_t chunk = std::min<size_t>(data.count, 8192), F = data.features, C = net.classes();
  DeviceBuffer<float> x(chunk * F);
  DeviceBuffer<uint8_t> y(chunk);
  DeviceBuffer<EpochStats> stats(1);
  std::vector<DeviceBuffer<float>> act;
  for (const LayerDims& d : dn.dims) act.emplace_back(chunk * d.out);
  QM_CUDA(cudaMemsetAsync(stats.get(), 0, sizeof(EpochStats), s));
  for (size_t b = 0; b < data.count; b += chunk) {
    int rows = static_cast<int>(std::min(chunk, data.count - b));
    QM_CUDA(cudaMemcpyAsync(x.get(), data.x + b * F, rows * F * sizeof(float), cudaMemcpyHostToDevice, s));
    QM_CUDA(cudaMemcpyAsync(y.get(), data.y + b, rows, cudaMemcpyHostToDevice, s));
    dn.forward(x.get(), rows, act, s);
    softmaxKernel<<<blocksFor(rows, 4), 128, 0, s>>>(act.back().get(), y.get(), rows, static_cast<int>(C), nullptr, stats.get());
    QM_LAUNCHED();
  }
  EpochStats es;
  QM_CUDA(cudaMemcpyAsync(&es, stats.get(), sizeof es, cudaMemcpyDeviceToHost, s));
  s.sync();
  Stats out;
  out.samples = data.count;
  out.loss = es.loss / static_cast<double>(data.count);
  out.accuracy = static_cast<double>(es.correct) / static_cast<double>(data.count);
  return out;
}

}  // namespace gpu
}  // namespace qm
