// CPU kernels of the flow warp (semantics in flow_warp.h).
//
// Design: the bilinear footprint of an output pixel (4 corner offsets, 4 weights and, for the
// backward, the 8 derivatives of the weights) depends on the pixel only, so it is computed once for
// a block of R output rows into structure-of-arrays buffers (about 64 KiB, cache resident) and then
// reused by every channel. Channels go through a block in groups of 4, so a pixel's footprint is
// loaded once per 4 channels (the loops are bound by loads, not arithmetic), and a channel's reads
// stay within a few rows of the block (cache friendly for smooth flows). Corners outside the image
// get weight 0 and an in-image offset, so the gathers need no branches (out-of-image reads are then
// exactly 0 for finite inputs). The hot loops are compiled for AVX-512 / AVX2 / baseline x86-64
// and chosen at load time (GCC target_clones).
//   forward : parallel over (n, row block); each block reads flow once and writes C blocks.
//   backward: parallel over (n, channel chunk): a chunk owns the planes of grad_x it scatters
//             into (no atomics, no locks), merging in registers the contributions of neighbouring
//             pixels to the same corner (see input_grad_rows_impl); the flow gradient of a pixel is
//             a sum over channels, accumulated in a per-chunk partial (one writer), then summed.
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "flow_warp.h"

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(VPS_D2_NO_MULTIVERSION)
#define VPS_D2_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define VPS_D2_INLINE inline __attribute__((always_inline))
#else
#define VPS_D2_CLONES
#define VPS_D2_INLINE inline
#endif

namespace vps_d2 {
namespace {

// Runs f(b, e) over sub-ranges of [begin, end) on torch's intra-op thread pool.
// at::parallel_for is header-only: it uses that pool only when this file is compiled with OpenMP,
// and torch.utils.cpp_extension does not add -fopenmp, so at::parallel_for would run serially.
// Without _OPENMP the range is handed to TensorIterator::for_each, which is compiled into libtorch
// and calls at::parallel_for there (same pool, same at::get_num_threads(); no threads of our own,
// which would also compete with the pool's spinning workers).
template <typename F>
void parallel_range(int64_t begin, int64_t end, int64_t grain, const F& f) {
#if defined(_OPENMP)
  at::parallel_for(begin, end, grain, f);
#else
  const int64_t n = end - begin;
  if (n <= 0) {
    return;
  }
  grain = std::max<int64_t>(grain, 1);
  if (n <= grain || at::get_num_threads() <= 1 || at::in_parallel_region()) {
    f(begin, end);
    return;
  }
  // One byte per task: a task's index is its element's offset from the start of the buffer.
  at::Tensor tasks = at::empty({n}, at::TensorOptions().dtype(at::kByte));
  const char* base = static_cast<const char*>(tasks.data_ptr());
  auto iter = at::TensorIteratorConfig()
                  .add_output(tasks)
                  .resize_outputs(false)
                  .check_all_same_dtype(false)
                  .build();
  iter.for_each(
      [&](char** data, const int64_t* strides, int64_t size0, int64_t size1) {
        for (int64_t j = 0; j < size1; ++j) {
          const int64_t first = data[0] + j * strides[1] - base;
          f(begin + first, begin + first + size0);
        }
      },
      grain);
#endif
}

// Footprints of a block of R output rows (pixel p = r * W + x), structure of arrays.
template <typename T>
struct BlockTaps {
  int64_t W, cap; // row width, pixels per corner array (R * W)
  std::vector<int32_t> idx; // 4 x cap corner offsets in the plane: 00 (top-left), 01, 10, 11
  std::vector<T> w; // 4 x cap bilinear weights (0 for corners outside the image)
  std::vector<T> ax; // 4 x cap d(weight)/d(px), masked like w (backward only)
  std::vector<T> ay; // 4 x cap d(weight)/d(py), masked like w (backward only)

  BlockTaps(int64_t width, int64_t rows, bool derivs)
      : W(width), cap(width * rows), idx(4 * cap), w(4 * cap) {
    if (derivs) {
      ax.resize(4 * cap);
      ay.resize(4 * cap);
    }
  }

  // Corner k of pixel p is at [k * cap + p].
  template <typename scalar_t>
  void compute(const scalar_t* fx, const scalar_t* fy, int64_t y_begin, int64_t y_end, int64_t H) {
    const bool derivs = !ax.empty();
    for (int64_t y = y_begin; y < y_end; ++y) {
      for (int64_t x = 0; x < W; ++x) {
        const int64_t p = (y - y_begin) * W + x;
        const T u = static_cast<T>(fx[y * W + x]), v = static_cast<T>(fy[y * W + x]);
        int32_t o[4] = {0, 0, 0, 0};
        T wt[4] = {0, 0, 0, 0}, dx[4] = {0, 0, 0, 0}, dy[4] = {0, 0, 0, 0};
        // The sample is at (x + u, y + v). Its cell and fraction come from the flow alone
        // (x0 = x + floor(u), fraction u - floor(u), both exact), not from x + u, whose rounding
        // would cost the fraction up to ulp(W) (3e-5 px at W = 512 in float32). The range test
        // rejects NaN and values too large to convert before any integer conversion.
        const bool finite_range = u >= -static_cast<T>(W + 1) && u <= static_cast<T>(W + 1) &&
            v >= -static_cast<T>(H + 1) && v <= static_cast<T>(H + 1);
        const T uf = finite_range ? std::floor(u) : T(0), vf = finite_range ? std::floor(v) : T(0);
        const int64_t x0 = x + static_cast<int64_t>(uf), y0 = y + static_cast<int64_t>(vf);
        // Some corner is inside the image only for x0 in [-1, W - 1] and y0 in [-1, H - 1].
        if (finite_range && x0 >= -1 && x0 < W && y0 >= -1 && y0 < H) {
          const T fxr = u - uf, fyr = v - vf;
          const bool l = x0 >= 0, r = x0 + 1 < W, t = y0 >= 0, b = y0 + 1 < H;
          const int64_t xl = std::max<int64_t>(x0, 0), xr = std::min<int64_t>(x0 + 1, W - 1);
          const int64_t yt = std::max<int64_t>(y0, 0), yb = std::min<int64_t>(y0 + 1, H - 1);
          o[0] = static_cast<int32_t>(yt * W + xl);
          o[1] = static_cast<int32_t>(yt * W + xr);
          o[2] = static_cast<int32_t>(yb * W + xl);
          o[3] = static_cast<int32_t>(yb * W + xr);
          const bool m[4] = {l && t, r && t, l && b, r && b};
          const T full[4] = {
              (1 - fxr) * (1 - fyr), fxr * (1 - fyr), (1 - fxr) * fyr, fxr * fyr};
          const T ddx[4] = {-(1 - fyr), 1 - fyr, -fyr, fyr};
          const T ddy[4] = {-(1 - fxr), -fxr, 1 - fxr, fxr};
          for (int k = 0; k < 4; ++k) {
            wt[k] = m[k] ? full[k] : T(0);
            dx[k] = m[k] ? ddx[k] : T(0);
            dy[k] = m[k] ? ddy[k] : T(0);
          }
        }
        for (int k = 0; k < 4; ++k) {
          idx[k * cap + p] = o[k];
          w[k * cap + p] = wt[k];
          if (derivs) {
            ax[k * cap + p] = dx[k];
            ay[k * cap + p] = dy[k];
          }
        }
      }
    }
  }
};

// ---- hot loops ---------------------------------------------------------------------------------
// One block of len pixels for a group of G channels (planes p[0..G)); corner k of pixel i is at
// [k * cs + i] in the footprint arrays. The footprint of a pixel is loaded once per group, so the
// loads per output fall from 12 (forward) / 17 (flow gradient) to about 6 / 8 for G = 4: these
// loops are bound by load throughput, not arithmetic.

template <typename T, int G>
VPS_D2_INLINE void forward_rows_impl(
    const T* const* p,
    const int32_t* __restrict__ idx,
    const T* __restrict__ w,
    T* const* out,
    int64_t len,
    int64_t cs) {
  for (int64_t i = 0; i < len; ++i) {
    const int32_t i0 = idx[i], i1 = idx[cs + i], i2 = idx[2 * cs + i], i3 = idx[3 * cs + i];
    const T w0 = w[i], w1 = w[cs + i], w2 = w[2 * cs + i], w3 = w[3 * cs + i];
    for (int g = 0; g < G; ++g) {
      const T* q = p[g];
      out[g][i] = w0 * q[i0] + w1 * q[i1] + w2 * q[i2] + w3 * q[i3];
    }
  }
}

// gfx[i] += sum_g go[g][i] * d(out_g)/d(px), likewise gfy with py.
template <typename T, int G>
VPS_D2_INLINE void flow_grad_rows_impl(
    const T* const* p,
    const T* const* go,
    const int32_t* __restrict__ idx,
    const T* __restrict__ ax,
    const T* __restrict__ ay,
    T* __restrict__ gfx,
    T* __restrict__ gfy,
    int64_t len,
    int64_t cs) {
  for (int64_t i = 0; i < len; ++i) {
    const int32_t i0 = idx[i], i1 = idx[cs + i], i2 = idx[2 * cs + i], i3 = idx[3 * cs + i];
    const T x0 = ax[i], x1 = ax[cs + i], x2 = ax[2 * cs + i], x3 = ax[3 * cs + i];
    const T y0 = ay[i], y1 = ay[cs + i], y2 = ay[2 * cs + i], y3 = ay[3 * cs + i];
    T sx = 0, sy = 0;
    for (int g = 0; g < G; ++g) {
      const T* q = p[g];
      const T v0 = q[i0], v1 = q[i1], v2 = q[i2], v3 = q[i3], gv = go[g][i];
      sx += gv * (x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3);
      sy += gv * (y0 * v0 + y1 * v1 + y2 * v2 + y3 * v3);
    }
    gfx[i] += sx;
    gfy[i] += sy;
  }
}

// grad_x planes: scatter go * weight onto the four corners. Along a row the right corners of pixel
// i are usually the left corners of pixel i + 1; adding both to memory one after the other would
// make every iteration wait for the previous store (a store-to-load forwarding chain), so the
// right-hand contributions are carried in registers into the next pixel when the addresses match
// and flushed to memory only when they do not (the decision is the same for every channel).
template <typename T, int G>
VPS_D2_INLINE void input_grad_rows_impl(
    T* const* gx,
    const T* const* go,
    const int32_t* __restrict__ idx,
    const T* __restrict__ w,
    int64_t len,
    int64_t cs) {
  int32_t top = -1, bottom = -1; // addresses of the carried right corners (-1: nothing carried)
  T carry_top[G], carry_bottom[G];
  for (int g = 0; g < G; ++g) {
    carry_top[g] = carry_bottom[g] = 0;
  }
  for (int64_t i = 0; i < len; ++i) {
    const int32_t i0 = idx[i], i1 = idx[cs + i], i2 = idx[2 * cs + i], i3 = idx[3 * cs + i];
    const T w0 = w[i], w1 = w[cs + i], w2 = w[2 * cs + i], w3 = w[3 * cs + i];
    const bool merge = i0 == top && i2 == bottom;
    for (int g = 0; g < G; ++g) {
      const T gv = go[g][i];
      T v0 = gv * w0, v2 = gv * w2;
      if (merge) {
        v0 += carry_top[g];
        v2 += carry_bottom[g];
      } else if (top >= 0) {
        gx[g][top] += carry_top[g];
        gx[g][bottom] += carry_bottom[g];
      }
      gx[g][i0] += v0;
      gx[g][i2] += v2;
      carry_top[g] = gv * w1;
      carry_bottom[g] = gv * w3;
    }
    top = i1;
    bottom = i3;
  }
  if (top >= 0) {
    for (int g = 0; g < G; ++g) {
      gx[g][top] += carry_top[g];
      gx[g][bottom] += carry_bottom[g];
    }
  }
}

constexpr int kGroup = 4; // channels per pass over a block's footprints

#define VPS_D2_DEFINE_ROW_KERNELS(T, G, SUFFIX)                                                  \
  VPS_D2_CLONES void forward_rows##SUFFIX(                                                       \
      const T* const* p, const int32_t* idx, const T* w, T* const* out, int64_t len,             \
      int64_t cs) {                                                                              \
    forward_rows_impl<T, G>(p, idx, w, out, len, cs);                                            \
  }                                                                                              \
  VPS_D2_CLONES void flow_grad_rows##SUFFIX(                                                     \
      const T* const* p, const T* const* go, const int32_t* idx, const T* ax, const T* ay,       \
      T* gfx, T* gfy, int64_t len, int64_t cs) {                                                 \
    flow_grad_rows_impl<T, G>(p, go, idx, ax, ay, gfx, gfy, len, cs);                            \
  }                                                                                              \
  VPS_D2_CLONES void input_grad_rows##SUFFIX(                                                    \
      T* const* gx, const T* const* go, const int32_t* idx, const T* w, int64_t len,             \
      int64_t cs) {                                                                              \
    input_grad_rows_impl<T, G>(gx, go, idx, w, len, cs);                                         \
  }

VPS_D2_DEFINE_ROW_KERNELS(float, kGroup, _group)
VPS_D2_DEFINE_ROW_KERNELS(double, kGroup, _group)
VPS_D2_DEFINE_ROW_KERNELS(float, 1, _single)
VPS_D2_DEFINE_ROW_KERNELS(double, 1, _single)
#undef VPS_D2_DEFINE_ROW_KERNELS

// Rough number of channel-pixel elements below which a thread costs more than it saves.
constexpr int64_t kMinWorkPerThread = 1 << 16;

// Rows per block: the block's footprints (32 B per pixel forward, 64 B backward, float32) stay in
// L1/L2 while every channel visits the block, and a channel's reads stay within a few rows of it.
int64_t rows_per_block(int64_t H, int64_t W, int64_t bytes_per_pixel) {
  const int64_t rows = (64 << 10) / std::max<int64_t>(1, W * bytes_per_pixel);
  return std::max<int64_t>(1, std::min<int64_t>(H, rows));
}

template <typename scalar_t>
void forward_kernel(const at::Tensor& x, const at::Tensor& flow, at::Tensor& out) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  const scalar_t* xp = x.data_ptr<scalar_t>();
  const scalar_t* fp = flow.data_ptr<scalar_t>();
  scalar_t* op = out.data_ptr<scalar_t>();
  const int64_t R = rows_per_block(H, W, 8 * sizeof(scalar_t));
  const int64_t blocks = (H + R - 1) / R;
  const int64_t grain = std::max<int64_t>(1, kMinWorkPerThread / std::max<int64_t>(1, C * W * R));
  parallel_range(0, N * blocks, grain, [&](int64_t begin, int64_t end) {
    BlockTaps<scalar_t> taps(W, R, /*derivs=*/false);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / blocks, y0 = (task % blocks) * R, y1 = std::min(H, y0 + R);
      const scalar_t* fx = fp + (n * 2) * HW;
      taps.compute(fx, fx + HW, y0, y1, H);
      const int64_t len = (y1 - y0) * W;
      for (int64_t c = 0; c < C;) {
        const int G = C - c >= kGroup ? kGroup : 1;
        const scalar_t* in[kGroup];
        scalar_t* dst[kGroup];
        for (int g = 0; g < G; ++g) {
          const int64_t plane = (n * C + c + g) * HW;
          in[g] = xp + plane;
          dst[g] = op + plane + y0 * W;
        }
        if (G == kGroup) {
          forward_rows_group(in, taps.idx.data(), taps.w.data(), dst, len, taps.cap);
        } else {
          forward_rows_single(in, taps.idx.data(), taps.w.data(), dst, len, taps.cap);
        }
        c += G;
      }
    }
  });
}

template <typename scalar_t>
void backward_kernel(
    const at::Tensor& grad_out,
    const at::Tensor& x,
    const at::Tensor& flow,
    at::Tensor& grad_x, // any content (zeroed here), or undefined
    at::Tensor& grad_flow) { // any content, or undefined
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  const bool need_x = grad_x.defined(), need_flow = grad_flow.defined();
  // Channel chunks per image: enough tasks to keep every thread busy when N is small.
  const int64_t threads = std::max<int64_t>(
      1, std::min<int64_t>(at::get_num_threads(), N * C * HW / kMinWorkPerThread));
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(C, (threads + N - 1) / N));
  const int64_t chunk_c = (C + chunks - 1) / chunks;
  // One flow-gradient partial per chunk; with a single chunk it is grad_flow itself.
  at::Tensor partial;
  if (need_flow) {
    partial = chunks == 1 ? grad_flow : at::empty({chunks, N, 2, H, W}, grad_flow.options());
  }
  const scalar_t* xp = x.data_ptr<scalar_t>();
  const scalar_t* gp = grad_out.data_ptr<scalar_t>();
  const scalar_t* fp = flow.data_ptr<scalar_t>();
  scalar_t* gxp = need_x ? grad_x.data_ptr<scalar_t>() : nullptr;
  scalar_t* pp = need_flow ? partial.data_ptr<scalar_t>() : nullptr;
  const int64_t R = rows_per_block(H, W, (need_flow ? 16 : 8) * sizeof(scalar_t));

  parallel_range(0, N * chunks, 1, [&](int64_t begin, int64_t end) {
    BlockTaps<scalar_t> taps(W, R, need_flow);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / chunks, k = task % chunks;
      const int64_t c0 = std::min(C, k * chunk_c), c1 = std::min(C, c0 + chunk_c);
      scalar_t* gfx = need_flow ? pp + ((k * N + n) * 2) * HW : nullptr;
      scalar_t* gfy = need_flow ? gfx + HW : nullptr;
      // Zeroed by the task that owns them: no separate fill pass, pages touched where used.
      if (need_flow) {
        std::fill(gfx, gfx + 2 * HW, scalar_t(0));
      }
      if (need_x) {
        std::fill(gxp + (n * C + c0) * HW, gxp + (n * C + c1) * HW, scalar_t(0));
      }
      const scalar_t* fx = fp + (n * 2) * HW;
      for (int64_t y0 = 0; y0 < H; y0 += R) {
        const int64_t y1 = std::min(H, y0 + R), len = (y1 - y0) * W;
        taps.compute(fx, fx + HW, y0, y1, H);
        for (int64_t c = c0; c < c1;) {
          const int G = c1 - c >= kGroup ? kGroup : 1;
          const scalar_t* in[kGroup];
          const scalar_t* go[kGroup];
          scalar_t* gin[kGroup];
          for (int g = 0; g < G; ++g) {
            const int64_t plane = (n * C + c + g) * HW;
            in[g] = xp + plane;
            go[g] = gp + plane + y0 * W;
            gin[g] = need_x ? gxp + plane : nullptr;
          }
          if (need_flow) {
            if (G == kGroup) {
              flow_grad_rows_group(
                  in, go, taps.idx.data(), taps.ax.data(), taps.ay.data(), gfx + y0 * W,
                  gfy + y0 * W, len, taps.cap);
            } else {
              flow_grad_rows_single(
                  in, go, taps.idx.data(), taps.ax.data(), taps.ay.data(), gfx + y0 * W,
                  gfy + y0 * W, len, taps.cap);
            }
          }
          if (need_x) {
            if (G == kGroup) {
              input_grad_rows_group(gin, go, taps.idx.data(), taps.w.data(), len, taps.cap);
            } else {
              input_grad_rows_single(gin, go, taps.idx.data(), taps.w.data(), len, taps.cap);
            }
          }
          c += G;
        }
      }
    }
  });
  if (need_flow && chunks > 1) {
    // Small (chunks x N x 2 x H x W) and summed serially: a parallel reduction here would cost
    // more in thread synchronisation than it saves.
    scalar_t* dst = grad_flow.data_ptr<scalar_t>();
    const int64_t numel = N * 2 * HW;
    std::copy(pp, pp + numel, dst);
    for (int64_t k = 1; k < chunks; ++k) {
      const scalar_t* src = pp + k * numel;
      for (int64_t i = 0; i < numel; ++i) {
        dst[i] += src[i];
      }
    }
  }
}

} // namespace

at::Tensor flow_warp_forward_cpu(const at::Tensor& x_in, const at::Tensor& flow_in) {
  flow_warp_check_inputs(x_in, flow_in, at::Tensor(), "flow_warp_forward (CPU)");
  TORCH_CHECK(x_in.device().is_cpu(), "flow_warp_forward (CPU): tensors must be on the CPU");
  const at::Tensor x = x_in.contiguous(), flow = flow_in.contiguous();
  at::Tensor out = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  if (out.numel() == 0) {
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "flow_warp_forward_cpu", [&] {
    forward_kernel<scalar_t>(x, flow, out);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> flow_warp_backward_cpu(
    const at::Tensor& grad_out_in,
    const at::Tensor& x_in,
    const at::Tensor& flow_in,
    bool need_grad_x,
    bool need_grad_flow) {
  TORCH_CHECK(grad_out_in.defined(), "flow_warp_backward (CPU): grad_out is undefined");
  flow_warp_check_inputs(x_in, flow_in, grad_out_in, "flow_warp_backward (CPU)");
  TORCH_CHECK(x_in.device().is_cpu(), "flow_warp_backward (CPU): tensors must be on the CPU");
  const at::Tensor x = x_in.contiguous(), flow = flow_in.contiguous();
  const at::Tensor grad_out = grad_out_in.contiguous();
  const auto contiguous = at::MemoryFormat::Contiguous;
  at::Tensor grad_x, grad_flow;
  if (x.numel() == 0) {
    if (need_grad_x) {
      grad_x = at::zeros(x.sizes(), x.options().memory_format(contiguous));
    }
    if (need_grad_flow) {
      grad_flow = at::zeros(flow.sizes(), flow.options().memory_format(contiguous));
    }
    return {grad_x, grad_flow};
  }
  if (need_grad_x) {
    grad_x = at::empty(x.sizes(), x.options().memory_format(contiguous)); // zeroed by the kernel
  }
  if (need_grad_flow) {
    grad_flow = at::empty(flow.sizes(), flow.options().memory_format(contiguous)); // written
  }
  if (!need_grad_x && !need_grad_flow) {
    return {grad_x, grad_flow};
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "flow_warp_backward_cpu", [&] {
    backward_kernel<scalar_t>(grad_out, x, flow, grad_x, grad_flow);
  });
  return {grad_x, grad_flow};
}

} // namespace vps_d2
