// Fused CPU kernels for K stacked softmax-regression trials, loaded into MXNet as
// custom operators (MXNet's library API, include/mxnet/lib_api.h). softmax_exp/kernels.py
// builds and loads this file; see there for why it exists.
//
// stacked_xent:  per-trial softmax cross-entropy over the column blocks of one dense
//   layer's scores, with each trial's loss sum and hit count, in one pass; its backward
//   writes every block's gradient, scaled by the trial's learning rate, in another.
// gather_pixels: a batch's uint8 image rows as floats, in one pass.
// stacked_dense: the stacked layer's matrix products (scores, and the weight gradient).
// stacked_sgd:   one SGD step (plain or momentum) with per-column weight decay, in place.
//
// Each block's arithmetic depends on that block's columns alone and runs in the same
// order whatever the number of blocks, so a trial computes the same bits alone or
// stacked. Loops run over 8 images at a time in GCC vector types (built with
// -ffp-contract=off: no multiply-add is fused behind our back; stacked_dense fuses
// its own where the CPU has FMA, the same for every lane).

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <immintrin.h>
#include <string>

#include "mxnet/lib_api.h"

using mxnet::ext::MXReturnValue;
using mxnet::ext::MXTensor;
using mxnet::ext::OpResource;
using mxnet::ext::MX_FAIL;
using mxnet::ext::MX_SUCCESS;
using Attrs = std::unordered_map<std::string, std::string>;

namespace {

constexpr int kClasses = 10;
constexpr int kMaxBlocks = 256;
constexpr int kLanes = 8;

typedef float vf __attribute__((vector_size(4 * kLanes)));
typedef int32_t vi __attribute__((vector_size(4 * kLanes)));

double attr(const Attrs& attrs, const char* name, double fallback) {
  auto it = attrs.find(name);
  return it == attrs.end() ? fallback : std::stod(it->second);
}

int blocks_of(const Attrs& attrs) { return static_cast<int>(attr(attrs, "blocks", 1)); }

// exp(x) for x <= 0: Cephes' expf polynomial, clamped where exp(x) underflows.
inline vf exp_nonpositive(vf x) {
  const vf low = vf{} - 87.0f;
  x = x < low ? low : x;
  const vf magic = vf{} + 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const vf n = (x * 1.44269504088896341f + magic) - magic;
  const vf r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  vf p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const vf y = p * r * r + r + 1.0f;
  const vi power = (__builtin_convertvector(n, vi) + 127) << 23;
  return y * reinterpret_cast<const vf&>(power);
}

// Eight images' scores for every block, transposed: z[c] holds the 8 images' score c.
struct Tile {
  union {
    vf z[kClasses * kMaxBlocks];
    float lanes[kClasses * kMaxBlocks][kLanes];
  };
  int rows;
  int label[kLanes];
};

// What both passes of stacked_xent read: its attributes, and scores (B, W), labels (B,)
// and rates (K,) from `inputs`, starting at `at` (the backward's come after the
// gradients of the outputs).
struct XentArgs {
  int blocks, used;
  float scale;
  const float* scores;
  int64_t batch, width;
  const uint8_t* labels;
  const float* lr;
};

XentArgs xent_args(const Attrs& attrs, std::vector<MXTensor>* inputs, size_t at) {
  XentArgs args;
  args.blocks = blocks_of(attrs);
  args.used = args.blocks * kClasses;
  args.scale = static_cast<float>(attr(attrs, "scale", 1.0));
  MXTensor& scores = (*inputs)[at];
  args.scores = scores.data<float>();
  args.batch = scores.shape[0];
  args.width = scores.shape[1];
  args.labels = (*inputs)[at + 1].data<uint8_t>();
  args.lr = (*inputs)[at + 2].data<float>();
  return args;
}

// The tile of images first .. first + 7 (fewer at the end of the batch).
void load_tile(const XentArgs& args, int64_t first, Tile* tile) {
  const int64_t left = args.batch - first;
  tile->rows = static_cast<int>(left < kLanes ? left : kLanes);
  if (tile->rows < kLanes) std::memset(tile->lanes, 0, sizeof(float) * kLanes * args.used);
  for (int i = 0; i < tile->rows; ++i) {
    const float* row = args.scores + (first + i) * args.width;
    for (int c = 0; c < args.used; ++c) tile->lanes[c][i] = row[c] * args.scale;
    tile->label[i] = args.labels[first + i];
  }
  for (int i = tile->rows; i < kLanes; ++i) tile->label[i] = 0;
}

// One block of a tile: shifted exponentials, their sum, the max and the argmax.
struct Softmax {
  vf e[kClasses];
  vf sum, top;
  vi arg;
};

void softmax_block(const vf* s, Softmax* out) {
  vf top = s[0];
  vi arg = vi{} + 0;
  for (int c = 1; c < kClasses; ++c) {
    const vi greater = s[c] > top;  // strict: the first maximum wins, as in argmax
    top = greater ? s[c] : top;
    arg = greater ? vi{} + c : arg;
  }
  vf sum = vf{} + 0.0f;
  for (int c = 0; c < kClasses; ++c) {
    out->e[c] = exp_nonpositive(s[c] - top);
    sum += out->e[c];
  }
  out->sum = sum;
  out->top = top;
  out->arg = arg;
}

void zero_fill(MXTensor* t) {
  if (t->data_ptr == nullptr) return;
  const int64_t bytes = t->dtype == mxnet::ext::kUint8 ? 1 : 4;
  std::memset(t->data_ptr, 0, t->size() * bytes);
}

// Type inference of an op that takes float32 only and makes one float32 output.
MXReturnValue float32_only(const char* op, const std::vector<int>& in, std::vector<int>* out) {
  for (int type : in) {
    if (type != mxnet::ext::kFloat32) {
      MX_ERROR_MSG << op << ": expects float32 inputs";
      return MX_FAIL;
    }
  }
  (*out)[0] = mxnet::ext::kFloat32;
  return MX_SUCCESS;
}

}  // namespace

// inputs: scores (B, W) float32, labels (B,) uint8, lr (K,) float32
// outputs: objective (1,) = sum_k lr_k * loss_k; metrics (2K,) = K loss sums, K hit
//   counts; with predictions=1 also guesses (B, K) float32, each block's argmax.
// attrs: blocks = K, scale (scores are multiplied by it first), predictions
MXReturnValue xent_forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                           std::vector<MXTensor>* outputs, const OpResource& res) {
  const XentArgs args = xent_args(attrs, inputs, 0);
  const int blocks = args.blocks;
  float* guesses = outputs->size() > 2 ? (*outputs)[2].data<float>() : nullptr;
  double loss[kMaxBlocks] = {0}, hits[kMaxBlocks] = {0};
  static thread_local Tile tile;
  Softmax block;
  for (int64_t first = 0; first < args.batch; first += kLanes) {
    load_tile(args, first, &tile);
    for (int k = 0; k < blocks; ++k) {
      const vf* s = tile.z + k * kClasses;
      softmax_block(s, &block);
      for (int i = 0; i < tile.rows; ++i) {  // image order: the same sums for any K
        const int label = tile.label[i];
        loss[k] += static_cast<double>(block.top[i]) + std::log(block.sum[i]) -
                   s[label][i];
        hits[k] += block.arg[i] == label;
        if (guesses) guesses[(first + i) * blocks + k] = static_cast<float>(block.arg[i]);
      }
    }
  }
  float* metrics = (*outputs)[1].data<float>();
  double objective = 0;
  for (int k = 0; k < blocks; ++k) {
    metrics[k] = static_cast<float>(loss[k]);
    metrics[blocks + k] = static_cast<float>(hits[k]);
    objective += static_cast<double>(metrics[k]) * args.lr[k];
  }
  (*outputs)[0].data<float>()[0] = static_cast<float>(objective);
  return MX_SUCCESS;
}

// inputs: d objective, d metrics, scores, labels, lr, objective, metrics
// outputs: d scores (padding columns 0), d labels and d lr (0: neither is trained)
// d scores = d objective * lr_k * scale * (softmax - one-hot label), block by block.
MXReturnValue xent_backward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                            std::vector<MXTensor>* outputs, const OpResource& res) {
  const XentArgs args = xent_args(attrs, inputs, 2);
  const int64_t width = args.width;
  const float head = (*inputs)[0].data<float>()[0];
  float* grad = (*outputs)[0].data<float>();
  static thread_local Tile tile;
  Softmax block;
  vf d[kClasses];
  for (int64_t first = 0; first < args.batch; first += kLanes) {
    load_tile(args, first, &tile);
    for (int k = 0; k < args.blocks; ++k) {
      softmax_block(tile.z + k * kClasses, &block);
      const float step = head * args.lr[k] * args.scale;
      const vf factor = step / block.sum;
      for (int c = 0; c < kClasses; ++c) d[c] = block.e[c] * factor;
      for (int i = 0; i < tile.rows; ++i) {
        float* row = grad + (first + i) * width + k * kClasses;
        for (int c = 0; c < kClasses; ++c) row[c] = d[c][i];
        row[tile.label[i]] -= step;
      }
    }
    for (int i = 0; i < tile.rows; ++i) {
      float* row = grad + (first + i) * width;
      for (int64_t c = args.used; c < width; ++c) row[c] = 0.0f;
    }
  }
  zero_fill(&(*outputs)[1]);
  zero_fill(&(*outputs)[2]);
  return MX_SUCCESS;
}

MXReturnValue xent_parse(const Attrs& attrs, int* num_in, int* num_out) {
  const int blocks = blocks_of(attrs);
  if (blocks < 1 || blocks > kMaxBlocks) {
    MX_ERROR_MSG << "stacked_xent: blocks is " << blocks << ", must be 1.." << kMaxBlocks;
    return MX_FAIL;
  }
  *num_in = 3;
  *num_out = attr(attrs, "predictions", 0) != 0 ? 3 : 2;
  return MX_SUCCESS;
}

MXReturnValue xent_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  if ((*in)[0] != mxnet::ext::kFloat32 || (*in)[1] != mxnet::ext::kUint8 ||
      (*in)[2] != mxnet::ext::kFloat32) {
    MX_ERROR_MSG << "stacked_xent: expects float32 scores, uint8 labels, float32 rates";
    return MX_FAIL;
  }
  for (int& type : *out) type = mxnet::ext::kFloat32;
  return MX_SUCCESS;
}

MXReturnValue xent_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in,
                         std::vector<std::vector<unsigned int>>* out) {
  const unsigned blocks = blocks_of(attrs);
  const auto& scores = (*in)[0];
  if (scores.size() != 2 || scores[1] < blocks * kClasses || (*in)[1].size() != 1 ||
      (*in)[1][0] != scores[0] || (*in)[2].size() != 1 || (*in)[2][0] != blocks) {
    MX_ERROR_MSG << "stacked_xent: expects scores (B, >= 10 K), labels (B,), rates (K,)";
    return MX_FAIL;
  }
  (*out)[0] = {1};
  (*out)[1] = {2 * blocks};
  if (out->size() > 2) (*out)[2] = {scores[0], blocks};
  return MX_SUCCESS;
}

REGISTER_OP(stacked_xent)
.setForward(xent_forward, "cpu")
.setBackward(xent_backward, "cpu")
.setParseAttrs(xent_parse)
.setInferType(xent_type)
.setInferShape(xent_shape);

// inputs: images (N, D) uint8, index (B,) int32; output: (B, D) float32, the indexed
// images' pixels as floats (a batch gathered and converted in one pass).
MXReturnValue gather_forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                             std::vector<MXTensor>* outputs, const OpResource& res) {
  MXTensor& images = (*inputs)[0];
  MXTensor& index = (*inputs)[1];
  const int64_t count = images.shape[0], size = images.size() / count;
  const uint8_t* pixels = images.data<uint8_t>();
  const int32_t* rows = index.data<int32_t>();
  const int64_t batch = index.shape[0];
  float* out = (*outputs)[0].data<float>();
  for (int64_t b = 0; b < batch; ++b) {
    if (rows[b] < 0 || rows[b] >= count) {
      MX_ERROR_MSG << "gather_pixels: index " << rows[b] << " outside 0.." << count - 1;
      return MX_FAIL;
    }
  }
  // Rows are scattered over the whole image array: fetch a few rows ahead (a third of
  // the time per batch here, against waiting for each row's first cache line).
  constexpr int64_t kAhead = 4, kLine = 64;
  for (int64_t b = 0; b < batch; ++b) {
    if (b + kAhead < batch) {
      const uint8_t* next = pixels + rows[b + kAhead] * size;
      for (int64_t offset = 0; offset < size; offset += kLine) __builtin_prefetch(next + offset);
    }
    const uint8_t* in = pixels + rows[b] * size;
    float* to = out + b * size;
    for (int64_t d = 0; d < size; ++d) to[d] = static_cast<float>(in[d]);
  }
  return MX_SUCCESS;
}

// Images and indexes are never trained. MXNet needs a gradient registered for every
// op in a recorded graph, and calls it only when a gradient flows to its inputs.
MXReturnValue gather_backward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                              std::vector<MXTensor>* outputs, const OpResource& res) {
  MX_ERROR_MSG << "gather_pixels: images and indexes have no gradient";
  return MX_FAIL;
}

MXReturnValue gather_parse(const Attrs& attrs, int* num_in, int* num_out) {
  *num_in = 2;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue gather_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  if ((*in)[0] != mxnet::ext::kUint8 || (*in)[1] != mxnet::ext::kInt32) {
    MX_ERROR_MSG << "gather_pixels: expects uint8 images and int32 indexes";
    return MX_FAIL;
  }
  (*out)[0] = mxnet::ext::kFloat32;
  return MX_SUCCESS;
}

MXReturnValue gather_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in,
                           std::vector<std::vector<unsigned int>>* out) {
  const auto& images = (*in)[0];
  if (images.size() < 2 || (*in)[1].size() != 1) {
    MX_ERROR_MSG << "gather_pixels: expects images (N, ...) and indexes (B,)";
    return MX_FAIL;
  }
  unsigned size = 1;
  for (size_t i = 1; i < images.size(); ++i) size *= images[i];
  (*out)[0] = {(*in)[1][0], size};
  return MX_SUCCESS;
}

REGISTER_OP(gather_pixels)
.setForward(gather_forward, "cpu")
.setBackward(gather_backward, "cpu")
.setParseAttrs(gather_parse)
.setInferType(gather_type)
.setInferShape(gather_shape);

// One SGD step, written to the output (call it with out=weight):
//   plain:    w = (1 - d_c) w - rescale g
//   momentum: m = momentum m - (rescale g + d_c w); w = w + m   (m is updated in place)
// inputs: weight (..., C), grad (like weight), decay (C,) = lr * wd of each column (the
//   native layer stores a trial's classes as columns), [momentum state (like weight)];
// attrs: rescale, momentum
MXReturnValue sgd_forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  const float rescale = static_cast<float>(attr(attrs, "rescale", 1.0));
  const float momentum = static_cast<float>(attr(attrs, "momentum", 0.0));
  MXTensor& weight = (*inputs)[0];
  const int64_t cols = weight.shape.back(), rows = weight.size() / cols;
  const float* w = weight.data<float>();
  const float* g = (*inputs)[1].data<float>();
  const float* decay = (*inputs)[2].data<float>();
  float* out = (*outputs)[0].data<float>();
  float* m = inputs->size() > 3 ? (*inputs)[3].data<float>() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t at = r * cols;
    if (m) {
      for (int64_t c = 0; c < cols; ++c) {
        m[at + c] = momentum * m[at + c] - (rescale * g[at + c] + decay[c] * w[at + c]);
        out[at + c] = w[at + c] + m[at + c];
      }
    } else {
      for (int64_t c = 0; c < cols; ++c)
        out[at + c] = (1.0f - decay[c]) * w[at + c] - rescale * g[at + c];
    }
  }
  return MX_SUCCESS;
}

MXReturnValue sgd_parse(const Attrs& attrs, int* num_in, int* num_out) {
  *num_in = attr(attrs, "momentum", 0.0) != 0.0 ? 4 : 3;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue sgd_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  return float32_only("stacked_sgd", *in, out);
}

MXReturnValue sgd_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in,
                        std::vector<std::vector<unsigned int>>* out) {
  const auto& weight = (*in)[0];
  bool ok = !weight.empty() && (*in)[1] == weight && (*in)[2].size() == 1 &&
            (*in)[2][0] == weight.back();
  if (in->size() > 3) ok = ok && (*in)[3] == weight;
  if (!ok) {
    MX_ERROR_MSG << "stacked_sgd: expects grad (and state) shaped like weight, decay (columns,)";
    return MX_FAIL;
  }
  (*out)[0] = weight;
  return MX_SUCCESS;
}

MXReturnValue sgd_mutate(const Attrs& attrs, std::vector<int>* input_indices) {
  if (attr(attrs, "momentum", 0.0) != 0.0) input_indices->push_back(3);
  return MX_SUCCESS;
}

REGISTER_OP(stacked_sgd)
.setForward(sgd_forward, "cpu")
.setParseAttrs(sgd_parse)
.setInferType(sgd_type)
.setInferShape(sgd_shape)
.setMutateInputs(sgd_mutate);

// stacked_dense: scores = x W + bias_scale * bias, for the weights of every trial at
// once, stored transposed: W is (D, C), column j being class j of trial j / 10. Every
// score is one chain of multiply-adds over the D inputs in order 0 .. D-1, then the bias;
// the weight gradient's every element one chain over the batch's images in order.
// Lanes of a vector are different scores (never parts of one sum), so neither the
// vector width, the tiling, the number of threads nor the number of trials changes any
// number: a trial computes the same bits alone or stacked, on any instruction set.
#if defined(__AVX512F__)
constexpr int kWide = 16;  // floats a vector
constexpr int kTileVectors = 4, kTileRows = 6;  // 24 of 32 vector registers
#else
constexpr int kWide = 8;
constexpr int kTileVectors = 2, kTileRows = 6;  // 12 of 16 vector registers
#endif
typedef float vw __attribute__((vector_size(4 * kWide)));
typedef float vw_unaligned __attribute__((vector_size(4 * kWide), aligned(4)));

inline vw load_w(const float* p) { return *reinterpret_cast<const vw_unaligned*>(p); }

inline void store_w(float* p, vw v) { *reinterpret_cast<vw_unaligned*>(p) = v; }

inline vw splat(float value) {  // (GCC builds `vw{} + value` lane by lane)
#if defined(__AVX512F__)
  return reinterpret_cast<vw>(_mm512_set1_ps(value));
#elif defined(__AVX__)
  return reinterpret_cast<vw>(_mm256_set1_ps(value));
#else
  const __m128 half = _mm_set1_ps(value);
  vw v;
  std::memcpy(&v, &half, sizeof half);
  std::memcpy(reinterpret_cast<char*>(&v) + sizeof half, &half, sizeof half);
  return v;
#endif
}

// c + a * b, rounded once where the CPU has fused multiply-add (twice the products a
// cycle on CPUs whose adders are their multipliers), else twice. Either way the same
// operation for every lane, every tile and any number of trials.
inline vw madd(vw a, vw b, vw c) {
#if defined(__AVX512F__)
  return reinterpret_cast<vw>(_mm512_fmadd_ps(reinterpret_cast<__m512>(a),
                                              reinterpret_cast<__m512>(b),
                                              reinterpret_cast<__m512>(c)));
#elif defined(__FMA__)
  return reinterpret_cast<vw>(_mm256_fmadd_ps(reinterpret_cast<__m256>(a),
                                              reinterpret_cast<__m256>(b),
                                              reinterpret_cast<__m256>(c)));
#else
  return c + a * b;
#endif
}

// out[r, c] = sum_p a[r * a_row + p * a_step] * b[p, c], p = 0 .. depth-1 in order, for
// `rows` (<= kTileRows) rows and `vectors` (<= kTileVectors) column vectors from c0; b is
// (depth, width) row-major, out (rows, width). The forward (a = x, b = W) and the weight
// gradient (a = x transposed, b = d scores) are both this.
template <int Rows, int Vectors>
void tile(const float* a, int64_t a_row, int64_t a_step, const float* b, int64_t width,
          int64_t depth, int64_t c0, float* out) {
  vw acc[Rows][Vectors];
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < Vectors; ++v) acc[r][v] = splat(0.0f);
  for (int64_t p = 0; p < depth; ++p) {
    const float* b_row = b + p * width + c0;
    vw bv[Vectors];
    for (int v = 0; v < Vectors; ++v) bv[v] = load_w(b_row + v * kWide);
    for (int r = 0; r < Rows; ++r) {
      const vw av = splat(a[r * a_row + p * a_step]);
      for (int v = 0; v < Vectors; ++v) acc[r][v] = madd(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < Vectors; ++v) store_w(out + r * width + c0 + v * kWide, acc[r][v]);
}

typedef void (*TileFn)(const float*, int64_t, int64_t, const float*, int64_t, int64_t,
                       int64_t, float*);

template <int Rows>
TileFn tile_of(int vectors) {
  if (vectors <= 1) return tile<Rows, 1>;
  if (vectors == 2 || kTileVectors == 2) return tile<Rows, 2>;
  if (vectors == 3) return tile<Rows, 3>;
  return tile<Rows, kTileVectors>;
}

TileFn tile_fn(int rows, int vectors) {
  switch (rows) {
    case 1: return tile_of<1>(vectors);
    case 2: return tile_of<2>(vectors);
    case 3: return tile_of<3>(vectors);
    case 4: return tile_of<4>(vectors);
    case 5: return tile_of<5>(vectors);
    default: return tile_of<kTileRows>(vectors);
  }
}

// The product above over all `rows` x `width` outputs (width a multiple of kWide),
// tiles shared among threads: which thread computes a tile changes none of its bits.
void product(const float* a, int64_t a_row, int64_t a_step, const float* b, int64_t width,
             int64_t depth, int64_t rows, float* out) {
  const int64_t vectors = width / kWide;
  const int64_t row_tiles = (rows + kTileRows - 1) / kTileRows;
  const int64_t col_tiles = (vectors + kTileVectors - 1) / kTileVectors;
#pragma omp parallel for schedule(static) if (row_tiles * col_tiles > 1 && rows * width * depth > 65536)
  for (int64_t t = 0; t < row_tiles * col_tiles; ++t) {
    const int64_t r0 = (t / col_tiles) * kTileRows, v0 = (t % col_tiles) * kTileVectors;
    const int r = static_cast<int>(std::min<int64_t>(kTileRows, rows - r0));
    const int v = static_cast<int>(std::min<int64_t>(kTileVectors, vectors - v0));
    tile_fn(r, v)(a + r0 * a_row, a_row, a_step, b, width, depth, v0 * kWide, out + r0 * width);
  }
}

// inputs: x (B, D), weight (D, C), bias (C,), all float32, C a multiple of 16
// output: scores (B, C) = x weight + bias_scale * bias
MXReturnValue dense_forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                            std::vector<MXTensor>* outputs, const OpResource& res) {
  const float bias_scale = static_cast<float>(attr(attrs, "bias_scale", 1.0));
  MXTensor& x = (*inputs)[0];
  MXTensor& weight = (*inputs)[1];
  const int64_t batch = x.shape[0], depth = x.shape[1], width = weight.shape[1];
  const float* bias = (*inputs)[2].data<float>();
  float* out = (*outputs)[0].data<float>();
  product(x.data<float>(), depth, 1, weight.data<float>(), width, depth, batch, out);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < width; ++c) out[b * width + c] += bias_scale * bias[c];
  return MX_SUCCESS;
}

// inputs: d scores, x, weight, bias, scores; outputs: d x (0: images are not trained),
// d weight (D, C) = x^T d scores, d bias = bias_scale * the column sums of d scores.
MXReturnValue dense_backward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                             std::vector<MXTensor>* outputs, const OpResource& res) {
  const float bias_scale = static_cast<float>(attr(attrs, "bias_scale", 1.0));
  const float* head = (*inputs)[0].data<float>();
  MXTensor& x = (*inputs)[1];
  const int64_t batch = x.shape[0], depth = x.shape[1], width = (*inputs)[2].shape[1];
  product(x.data<float>(), 1, depth, head, width, batch, depth, (*outputs)[1].data<float>());
  float* d_bias = (*outputs)[2].data<float>();
  for (int64_t c = 0; c < width; ++c) d_bias[c] = 0.0f;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < width; ++c) d_bias[c] += head[b * width + c];
  for (int64_t c = 0; c < width; ++c) d_bias[c] *= bias_scale;
  zero_fill(&(*outputs)[0]);
  return MX_SUCCESS;
}

MXReturnValue dense_parse(const Attrs& attrs, int* num_in, int* num_out) {
  *num_in = 3;
  *num_out = 1;
  return MX_SUCCESS;
}

MXReturnValue dense_type(const Attrs& attrs, std::vector<int>* in, std::vector<int>* out) {
  return float32_only("stacked_dense", *in, out);
}

MXReturnValue dense_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in,
                          std::vector<std::vector<unsigned int>>* out) {
  const auto& x = (*in)[0];
  const auto& weight = (*in)[1];
  if (x.size() != 2 || weight.size() != 2 || weight[0] != x[1] || weight[1] % 16 != 0 ||
      (*in)[2].size() != 1 || (*in)[2][0] != weight[1]) {
    MX_ERROR_MSG << "stacked_dense: expects x (B, D), weight (D, C), bias (C,), C a multiple"
                    " of 16";
    return MX_FAIL;
  }
  (*out)[0] = {x[0], weight[1]};
  return MX_SUCCESS;
}

REGISTER_OP(stacked_dense)
.setForward(dense_forward, "cpu")
.setBackward(dense_backward, "cpu")
.setParseAttrs(dense_parse)
.setInferType(dense_type)
.setInferShape(dense_shape);

MXReturnValue initialize(int version) {
  if (version >= 10900) return MX_SUCCESS;
  MX_ERROR_MSG << "softmax-exp kernels need MXNet 1.9 or later, not " << version;
  return MX_FAIL;
}
