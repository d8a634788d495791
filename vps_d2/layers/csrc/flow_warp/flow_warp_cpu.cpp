// CPU kernels of the flow warp (semantics in flow_warp.h).
//
// Design: the bilinear footprint of an output pixel (4 corner offsets, 4 weights and, for the
// backward, the 8 derivatives of the weights) depends on the pixel only, so it is computed once per
// output row into small structure-of-arrays buffers and then reused for every channel. The channel
// loops stream one row of a channel plane at a time through simple indexed loops that the compiler
// vectorises with gathers (the hot loops are compiled for AVX-512 / AVX2 / baseline x86-64 and
// chosen at load time). Corners outside the image get weight 0 and an in-image offset, so the
// loops have no branches (this makes out-of-image reads exactly 0 for finite inputs).
//   forward : parallel over output rows (n, y); each row reads flow once and writes C rows.
//   backward: parallel over (n, channel chunk): a chunk owns the planes of grad_x it scatters
//             into (no atomics, no locks); the flow gradient of a pixel is a sum over channels,
//             accumulated per row in registers / a row buffer, one partial per chunk, then summed.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <thread>
#include <vector>

#include "flow_warp.h"

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(VPS_D2_NO_MULTIVERSION)
#define VPS_D2_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define VPS_D2_INLINE inline __attribute__((always_inline))
#else
#define VPS_D2_CLONES
#define VPS_D2_INLINE inline
#endif

namespace vps_d2 {
namespace {

// at::parallel_for when this file is compiled with OpenMP (torch's intra-op pool); otherwise (the
// default flags of torch.utils.cpp_extension have no -fopenmp, and then at::parallel_for runs
// serially) the range is split over at::get_num_threads() short-lived std::threads.
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
  const int64_t nt =
      std::min<int64_t>(at::get_num_threads(), (n + grain - 1) / grain);
  if (nt <= 1 || at::in_parallel_region()) {
    f(begin, end);
    return;
  }
  const int64_t chunk = (n + nt - 1) / nt;
  std::vector<std::exception_ptr> errors(nt);
  std::vector<std::thread> threads;
  threads.reserve(nt - 1);
  for (int64_t t = 1; t < nt; ++t) {
    const int64_t b = begin + t * chunk, e = std::min(end, b + chunk);
    if (b >= e) {
      break;
    }
    threads.emplace_back([&f, &errors, t, b, e]() {
      try {
        f(b, e);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  try {
    f(begin, std::min(end, begin + chunk));
  } catch (...) {
    errors[0] = std::current_exception();
  }
  for (auto& th : threads) {
    th.join();
  }
  for (auto& e : errors) {
    if (e) {
      std::rethrow_exception(e);
    }
  }
#endif
}

// Footprints of one output row, structure of arrays.
template <typename T>
struct RowTaps {
  std::vector<int32_t> idx; // 4 x W corner offsets in the plane: 00 (top-left), 01, 10, 11
  std::vector<T> w; // 4 x W bilinear weights (0 for corners outside the image)
  std::vector<T> ax; // 4 x W d(weight)/d(px), masked like w
  std::vector<T> ay; // 4 x W d(weight)/d(py), masked like w
  int64_t W = 0;

  RowTaps(int64_t width, bool derivs) : idx(4 * width), w(4 * width), W(width) {
    if (derivs) {
      ax.resize(4 * width);
      ay.resize(4 * width);
    }
  }

  template <typename scalar_t>
  void compute(const scalar_t* fx, const scalar_t* fy, int64_t y, int64_t H) {
    const bool derivs = !ax.empty();
    int32_t* i0 = idx.data();
    T* w0 = w.data();
    for (int64_t x = 0; x < W; ++x) {
      const T px = static_cast<T>(x) + static_cast<T>(fx[x]);
      const T py = static_cast<T>(y) + static_cast<T>(fy[x]);
      int32_t o[4] = {0, 0, 0, 0};
      T wt[4] = {0, 0, 0, 0}, dx[4] = {0, 0, 0, 0}, dy[4] = {0, 0, 0, 0};
      // Some corner is inside the image only for px in [-1, W), py in [-1, H); this also rejects
      // NaN and huge values before the integer conversion.
      if (px >= T(-1) && px < static_cast<T>(W) && py >= T(-1) && py < static_cast<T>(H)) {
        const T x0f = std::floor(px), y0f = std::floor(py);
        const int64_t x0 = static_cast<int64_t>(x0f), y0 = static_cast<int64_t>(y0f);
        const T fxr = px - x0f, fyr = py - y0f;
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
        i0[k * W + x] = o[k];
        w0[k * W + x] = wt[k];
        if (derivs) {
          ax[k * W + x] = dx[k];
          ay[k * W + x] = dy[k];
        }
      }
    }
  }
};

// ---- hot loops (one row of one channel) ----------------------------------------------------------

template <typename T>
VPS_D2_INLINE void forward_row_impl(
    const T* __restrict__ p,
    const int32_t* __restrict__ idx,
    const T* __restrict__ w,
    T* __restrict__ out,
    int64_t W) {
  const int32_t *i0 = idx, *i1 = idx + W, *i2 = idx + 2 * W, *i3 = idx + 3 * W;
  const T *w0 = w, *w1 = w + W, *w2 = w + 2 * W, *w3 = w + 3 * W;
  for (int64_t x = 0; x < W; ++x) {
    out[x] = w0[x] * p[i0[x]] + w1[x] * p[i1[x]] + w2[x] * p[i2[x]] + w3[x] * p[i3[x]];
  }
}

// gfx[x] += g[x] * d(out)/d(px), gfy[x] += g[x] * d(out)/d(py)
template <typename T>
VPS_D2_INLINE void flow_grad_row_impl(
    const T* __restrict__ p,
    const T* __restrict__ g,
    const int32_t* __restrict__ idx,
    const T* __restrict__ ax,
    const T* __restrict__ ay,
    T* __restrict__ gfx,
    T* __restrict__ gfy,
    int64_t W) {
  const int32_t *i0 = idx, *i1 = idx + W, *i2 = idx + 2 * W, *i3 = idx + 3 * W;
  for (int64_t x = 0; x < W; ++x) {
    const T v0 = p[i0[x]], v1 = p[i1[x]], v2 = p[i2[x]], v3 = p[i3[x]];
    gfx[x] += g[x] * (ax[x] * v0 + ax[W + x] * v1 + ax[2 * W + x] * v2 + ax[3 * W + x] * v3);
    gfy[x] += g[x] * (ay[x] * v0 + ay[W + x] * v1 + ay[2 * W + x] * v2 + ay[3 * W + x] * v3);
  }
}

// grad_x plane: scatter g * weight onto the four corners (sequential: corners of neighbours overlap)
template <typename T>
VPS_D2_INLINE void input_grad_row_impl(
    T* __restrict__ gx,
    const T* __restrict__ g,
    const int32_t* __restrict__ idx,
    const T* __restrict__ w,
    int64_t W) {
  const int32_t *i0 = idx, *i1 = idx + W, *i2 = idx + 2 * W, *i3 = idx + 3 * W;
  const T *w0 = w, *w1 = w + W, *w2 = w + 2 * W, *w3 = w + 3 * W;
  for (int64_t x = 0; x < W; ++x) {
    const T gv = g[x];
    gx[i0[x]] += gv * w0[x];
    gx[i1[x]] += gv * w1[x];
    gx[i2[x]] += gv * w2[x];
    gx[i3[x]] += gv * w3[x];
  }
}

#define VPS_D2_DEFINE_ROW_KERNELS(T)                                                            \
  VPS_D2_CLONES void forward_row(                                                               \
      const T* p, const int32_t* idx, const T* w, T* out, int64_t W) {                          \
    forward_row_impl<T>(p, idx, w, out, W);                                                     \
  }                                                                                             \
  VPS_D2_CLONES void flow_grad_row(                                                             \
      const T* p, const T* g, const int32_t* idx, const T* ax, const T* ay, T* gfx, T* gfy,     \
      int64_t W) {                                                                              \
    flow_grad_row_impl<T>(p, g, idx, ax, ay, gfx, gfy, W);                                      \
  }                                                                                             \
  VPS_D2_CLONES void input_grad_row(T* gx, const T* g, const int32_t* idx, const T* w, int64_t W) { \
    input_grad_row_impl<T>(gx, g, idx, w, W);                                                   \
  }

VPS_D2_DEFINE_ROW_KERNELS(float)
VPS_D2_DEFINE_ROW_KERNELS(double)
#undef VPS_D2_DEFINE_ROW_KERNELS

// Rough number of channel-row elements below which threads cost more than they save.
constexpr int64_t kMinWorkPerThread = 1 << 16;

template <typename scalar_t>
void forward_kernel(const at::Tensor& x, const at::Tensor& flow, at::Tensor& out) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  const scalar_t* xp = x.data_ptr<scalar_t>();
  const scalar_t* fp = flow.data_ptr<scalar_t>();
  scalar_t* op = out.data_ptr<scalar_t>();
  const int64_t grain = std::max<int64_t>(1, kMinWorkPerThread / std::max<int64_t>(1, C * W));
  parallel_range(0, N * H, grain, [&](int64_t begin, int64_t end) {
    RowTaps<scalar_t> taps(W, /*derivs=*/false);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / H, y = row % H;
      const scalar_t* fx = fp + (n * 2) * HW + y * W;
      taps.compute(fx, fx + HW, y, H);
      for (int64_t c = 0; c < C; ++c) {
        const int64_t plane = (n * C + c) * HW;
        forward_row(xp + plane, taps.idx.data(), taps.w.data(), op + plane + y * W, W);
      }
    }
  });
}

template <typename scalar_t>
void backward_kernel(
    const at::Tensor& grad_out,
    const at::Tensor& x,
    const at::Tensor& flow,
    at::Tensor& grad_x, // zeros, or undefined
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

  parallel_range(0, N * chunks, 1, [&](int64_t begin, int64_t end) {
    RowTaps<scalar_t> taps(W, need_flow);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / chunks, k = task % chunks;
      const int64_t c0 = k * chunk_c, c1 = std::min(C, c0 + chunk_c);
      scalar_t* gfx = need_flow ? pp + ((k * N + n) * 2) * HW : nullptr;
      scalar_t* gfy = need_flow ? gfx + HW : nullptr;
      for (int64_t y = 0; y < H; ++y) {
        const scalar_t* fx = fp + (n * 2) * HW + y * W;
        taps.compute(fx, fx + HW, y, H);
        if (need_flow) {
          std::fill(gfx + y * W, gfx + (y + 1) * W, scalar_t(0));
          std::fill(gfy + y * W, gfy + (y + 1) * W, scalar_t(0));
        }
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t plane = (n * C + c) * HW;
          const scalar_t* g = gp + plane + y * W;
          if (need_flow) {
            flow_grad_row(
                xp + plane, g, taps.idx.data(), taps.ax.data(), taps.ay.data(), gfx + y * W,
                gfy + y * W, W);
          }
          if (need_x) {
            input_grad_row(gxp + plane, g, taps.idx.data(), taps.w.data(), W);
          }
        }
      }
    }
  });
  if (need_flow && chunks > 1) {
    at::sum_out(grad_flow, partial, {0});
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
  at::Tensor grad_x, grad_flow;
  if (need_grad_x) {
    grad_x = at::zeros(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  }
  if (need_grad_flow) {
    grad_flow =
        at::zeros(flow.sizes(), flow.options().memory_format(at::MemoryFormat::Contiguous));
  }
  if (x.numel() == 0 || (!need_grad_x && !need_grad_flow)) {
    return {grad_x, grad_flow};
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "flow_warp_backward_cpu", [&] {
    backward_kernel<scalar_t>(grad_out, x, flow, grad_x, grad_flow);
  });
  return {grad_x, grad_flow};
}

} // namespace vps_d2
