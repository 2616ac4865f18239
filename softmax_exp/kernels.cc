// Fused CPU kernels for K stacked softmax-regression trials, loaded into MXNet as
// custom operators (MXNet's library API, include/mxnet/lib_api.h). softmax_exp/kernels.py
// builds and loads this file; see there for why it exists.
//
// stacked_xent:  per-trial softmax cross-entropy over the column blocks of one dense
//   layer's scores, with each trial's loss sum and hit count, in one pass; its backward
//   writes every block's gradient, scaled by the trial's learning rate, in another.
// gather_pixels: a batch's uint8 image rows as floats, in one pass.
// stacked_sgd:   one SGD step (plain or momentum) with per-row weight decay, in place.
//
// Each block's arithmetic depends on that block's columns alone and runs in the same
// order whatever the number of blocks, so a trial computes the same bits alone or
// stacked. Loops run over 8 images at a time in GCC vector types (built with
// -ffp-contract=off: the same bits with or without FMA instructions).

#include <cmath>
#include <cstdint>
#include <cstring>
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
//   plain:    w = (1 - d_r) w - rescale g
//   momentum: m = momentum m - (rescale g + d_r w); w = w + m   (m is updated in place)
// inputs: weight (R, ...), grad (like weight), decay (R,) = lr * wd of each row,
//   [momentum state (like weight)]; attrs: rescale, momentum
MXReturnValue sgd_forward(const Attrs& attrs, std::vector<MXTensor>* inputs,
                          std::vector<MXTensor>* outputs, const OpResource& res) {
  const float rescale = static_cast<float>(attr(attrs, "rescale", 1.0));
  const float momentum = static_cast<float>(attr(attrs, "momentum", 0.0));
  MXTensor& weight = (*inputs)[0];
  const int64_t rows = weight.shape[0], cols = weight.size() / rows;
  const float* w = weight.data<float>();
  const float* g = (*inputs)[1].data<float>();
  const float* decay = (*inputs)[2].data<float>();
  float* out = (*outputs)[0].data<float>();
  float* m = inputs->size() > 3 ? (*inputs)[3].data<float>() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t begin = r * cols, end = begin + cols;
    const float d = decay[r], keep = 1.0f - d;
    if (m) {
      for (int64_t c = begin; c < end; ++c) {
        m[c] = momentum * m[c] - (rescale * g[c] + d * w[c]);
        out[c] = w[c] + m[c];
      }
    } else {
      for (int64_t c = begin; c < end; ++c) out[c] = keep * w[c] - rescale * g[c];
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
  for (int type : *in) {
    if (type != mxnet::ext::kFloat32) {
      MX_ERROR_MSG << "stacked_sgd: expects float32 inputs";
      return MX_FAIL;
    }
  }
  (*out)[0] = mxnet::ext::kFloat32;
  return MX_SUCCESS;
}

MXReturnValue sgd_shape(const Attrs& attrs, std::vector<std::vector<unsigned int>>* in,
                        std::vector<std::vector<unsigned int>>* out) {
  const auto& weight = (*in)[0];
  bool ok = !weight.empty() && (*in)[1] == weight && (*in)[2].size() == 1 &&
            (*in)[2][0] == weight[0];
  if (in->size() > 3) ok = ok && (*in)[3] == weight;
  if (!ok) {
    MX_ERROR_MSG << "stacked_sgd: expects grad (and state) shaped like weight, decay (rows,)";
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

MXReturnValue initialize(int version) {
  if (version >= 10900) return MX_SUCCESS;
  MX_ERROR_MSG << "softmax-exp kernels need MXNet 1.9 or later, not " << version;
  return MX_FAIL;
}
