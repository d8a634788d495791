// CUDA kernels of the flow warp (semantics in flow_warp.h).
//
// Designed for the fuse head's shapes, (N, 256, H/4, W/4): the op is memory bound, so the kernels
// aim at reading x / grad_out once, writing out / grad_x once, and keeping every access coalesced.
//
// Work decomposition (both kernels). A block covers a tile of 32 consecutive columns x kRows rows
// of one image and ALL channels: threadIdx.x is the column (a warp = 32 neighbouring pixels of one
// row, so loads of flow / grad_out and stores of out / grad_flow are 128-byte coalesced, and the
// bilinear corner reads of neighbouring lanes hit the same cache lines for smooth flows);
// threadIdx.y is one of `groups` (<= 8) channel groups, and a thread walks channels
// c = threadIdx.y, threadIdx.y + groups, ... So every thread handles kRows pixels x C / groups
// channels: the flow of its pixels is read once, and the bilinear footprint (corner offsets,
// weights, in-image bits) is computed once per pixel and kept in registers for all its channels
// (grid_sample recomputes nothing per channel either, but it runs one thread per pixel over all
// channels, serialising 256 dependent iterations per thread; here the kRows independent pixels
// per channel give 4 x 4 independent loads in flight per thread).
//
// Backward. grad_flow[n, :, y, x] is a sum over channels: each thread accumulates its channels in
// registers, the `groups` partial sums of a pixel are added in shared memory, and one thread
// stores the result (no atomics on grad_flow, and the result does not depend on scheduling).
// grad_x is a scatter: output pixel p adds g * w_k to its four corners k. Done naively that is 4
// atomics per element with 2- to 4-way address conflicts between neighbouring lanes and rows
// (pixel x's right corners are pixel x+1's left corners, row y's bottom corners are row y+1's top
// corners for a smooth flow). Contributions that land on the same address are therefore combined
// in registers before any atomic is issued:
//   * horizontally, a lane receives its left neighbour's right-corner contributions with a warp
//     shuffle and adds them to its own left corners when the addresses coincide (the left
//     neighbour then skips those two atomics);
//   * vertically, the merged bottom-left contribution of row k is carried in a register to row k+1
//     of the same thread and added to its top-left corner when the addresses coincide.
// The merge decisions depend only on the flow, so they are made once per pixel, not per channel.
// For a smooth flow this leaves about one atomicAdd (a fire-and-forget RED in L2) per element of
// grad_x instead of four, with no two lanes of a warp hitting the same address; at flow
// discontinuities and tile borders the unmerged contributions are simply flushed with their own
// atomics, so the result is exact for any flow.
//
// (ATen/cuda/CUDAContext.h is not included: it pulls cuSPARSE/cuBLAS headers, which a bare CUDA
// toolkit may lack; the stream comes from c10 directly.)
//
// Memory traffic per element (float32): forward 4 B read + 4 B write (+ flow / (C/groups));
// backward 4 B grad_out + 4 B x (only when the flow needs a gradient) + ~4 B atomic + 4 B memset.
#include <ATen/ATen.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include <climits>

#include "flow_warp.h"

namespace vps_d2 {
namespace {

constexpr int kWarp = 32; // columns per tile: one warp
constexpr int kRows = 4; // rows per tile (per thread)
constexpr int kMaxGroups = 8; // channel groups per block (blockDim.y)
constexpr unsigned kFullMask = 0xffffffffu;
// Backward: at least 4 resident blocks (1024 threads) per SM, i.e. at most 64 registers per thread
// (without the bound ptxas uses ~120 for float32 and only 2 blocks fit); float64 asks for 2.
constexpr int kBackwardMinBlocks = 4;

// Bilinear footprint of one output pixel.
template <typename acc_t>
struct Tap {
  int off; // plane offset of the top-left corner, y0 * W + x0 (used only for in-image corners)
  int x0, y0; // top-left corner (x0 or y0 may be -1)
  acc_t wx, wy; // fractional position inside the cell
  int ok; // bit k: corner k (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) in the image;
          // 0 when the pixel is outside the image or its sample has no corner inside it
};

template <typename scalar_t, typename acc_t>
__device__ __forceinline__ Tap<acc_t> make_tap(
    const scalar_t* __restrict__ flow_n,
    int x,
    int y,
    int H,
    int W,
    int64_t HW) {
  Tap<acc_t> t;
  t.off = 0;
  t.x0 = INT_MIN / 2; // sentinel: never equal to a real corner, so inactive pixels never merge
  t.y0 = INT_MIN / 2;
  t.wx = 0;
  t.wy = 0;
  t.ok = 0;
  if (x < W && y < H) {
    const int64_t p = static_cast<int64_t>(y) * W + x;
    const acc_t u = static_cast<acc_t>(__ldg(flow_n + p));
    const acc_t v = static_cast<acc_t>(__ldg(flow_n + HW + p));
    // The sample is at (x + u, y + v). Its cell and fraction come from the flow alone
    // (x0 = x + floor(u), fraction u - floor(u), both exact), not from x + u, whose rounding
    // would cost the fraction up to ulp(W) (3e-5 px at W = 512 in float32). The range test
    // rejects NaN and values too large to convert before any integer conversion.
    if (u >= -static_cast<acc_t>(W + 1) && u <= static_cast<acc_t>(W + 1) &&
        v >= -static_cast<acc_t>(H + 1) && v <= static_cast<acc_t>(H + 1)) {
      const acc_t uf = floor(u), vf = floor(v);
      const int x0 = x + static_cast<int>(uf), y0 = y + static_cast<int>(vf);
      // Some corner is inside the image only for x0 in [-1, W - 1] and y0 in [-1, H - 1] (and
      // then at least one is).
      if (x0 >= -1 && x0 < W && y0 >= -1 && y0 < H) {
        t.x0 = x0;
        t.y0 = y0;
        t.wx = u - uf;
        t.wy = v - vf;
        t.off = y0 * W + x0;
        const bool l = x0 >= 0, r = x0 + 1 < W, top = y0 >= 0, b = y0 + 1 < H;
        t.ok = (l && top ? 1 : 0) | (r && top ? 2 : 0) | (l && b ? 4 : 0) | (r && b ? 8 : 0);
      }
    }
  }
  return t;
}

template <typename scalar_t, typename acc_t>
__device__ __forceinline__ void load_corners(
    const scalar_t* __restrict__ plane,
    const Tap<acc_t>& t,
    int W,
    acc_t& v00,
    acc_t& v01,
    acc_t& v10,
    acc_t& v11) {
  v00 = (t.ok & 1) ? static_cast<acc_t>(__ldg(plane + t.off)) : acc_t(0);
  v01 = (t.ok & 2) ? static_cast<acc_t>(__ldg(plane + t.off + 1)) : acc_t(0);
  v10 = (t.ok & 4) ? static_cast<acc_t>(__ldg(plane + t.off + W)) : acc_t(0);
  v11 = (t.ok & 8) ? static_cast<acc_t>(__ldg(plane + t.off + W + 1)) : acc_t(0);
}

template <typename scalar_t>
__global__ void __launch_bounds__(kWarp* kMaxGroups) flow_warp_forward_kernel(
    const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ flow,
    scalar_t* __restrict__ out,
    int C,
    int H,
    int W) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t HW = static_cast<int64_t>(H) * W;
  const int col = blockIdx.x * kWarp + threadIdx.x;
  const int row0 = blockIdx.y * kRows;
  const int64_t n = blockIdx.z;
  const scalar_t* flow_n = flow + n * 2 * HW;

  Tap<acc_t> tap[kRows];
#pragma unroll
  for (int k = 0; k < kRows; ++k) {
    tap[k] = make_tap<scalar_t, acc_t>(flow_n, col, row0 + k, H, W, HW);
  }
  const bool in_cols = col < W;
  for (int c = threadIdx.y; c < C; c += blockDim.y) {
    const int64_t plane = (n * C + c) * HW;
    const scalar_t* xp = x + plane;
    scalar_t* op = out + plane;
#pragma unroll
    for (int k = 0; k < kRows; ++k) {
      const int y = row0 + k;
      if (in_cols && y < H) {
        const Tap<acc_t>& t = tap[k];
        acc_t v00, v01, v10, v11;
        load_corners(xp, t, W, v00, v01, v10, v11);
        // A zero flow gives wx = wy = 0 and returns v00 exactly.
        const acc_t v = (1 - t.wy) * ((1 - t.wx) * v00 + t.wx * v01) +
            t.wy * ((1 - t.wx) * v10 + t.wx * v11);
        op[static_cast<int64_t>(y) * W + col] = static_cast<scalar_t>(v);
      }
    }
  }
}

// Zero contributions (a weight of exactly 0: integer flows, the identity) are not sent at all.
template <typename scalar_t>
__device__ __forceinline__ void atomic_add(scalar_t* address, at::opmath_type<scalar_t> value) {
  if (value != 0) {
    gpuAtomicAddNoReturn(address, static_cast<scalar_t>(value));
  }
}

// grad_x (zeroed) and grad_flow are optional (nullptr when not needed). All threads of a block run
// the same loops (no early exit): the warp shuffles and __syncthreads need every lane.
template <typename scalar_t>
__global__ void __launch_bounds__(
    kWarp* kMaxGroups,
    sizeof(scalar_t) == 4 ? kBackwardMinBlocks : 2) flow_warp_backward_kernel(
    const scalar_t* __restrict__ grad_out,
    const scalar_t* __restrict__ x,
    const scalar_t* __restrict__ flow,
    scalar_t* __restrict__ grad_x,
    scalar_t* __restrict__ grad_flow,
    int C,
    int H,
    int W) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ acc_t partial[2][kRows][kMaxGroups][kWarp];

  const int64_t HW = static_cast<int64_t>(H) * W;
  const int lane = threadIdx.x;
  const int col = blockIdx.x * kWarp + lane;
  const int row0 = blockIdx.y * kRows;
  const int64_t n = blockIdx.z;
  const scalar_t* flow_n = flow + n * 2 * HW;
  const bool need_x = grad_x != nullptr;
  const bool need_flow = grad_flow != nullptr;

  Tap<acc_t> tap[kRows];
  bool from_left[kRows]; // my top/bottom-left corners = left lane's top/bottom-right corners
  bool to_right[kRows]; // the right lane takes my right-corner contributions
  bool from_above[kRows]; // my top-left corner = the bottom-left corner of my previous row
#pragma unroll
  for (int k = 0; k < kRows; ++k) {
    tap[k] = make_tap<scalar_t, acc_t>(flow_n, col, row0 + k, H, W, HW);
    const Tap<acc_t>& t = tap[k];
    const int left_x0 = __shfl_up_sync(kFullMask, t.x0, 1);
    const int left_y0 = __shfl_up_sync(kFullMask, t.y0, 1);
    const int left_ok = __shfl_up_sync(kFullMask, t.ok, 1);
    from_left[k] =
        lane > 0 && t.ok != 0 && left_ok != 0 && left_x0 + 1 == t.x0 && left_y0 == t.y0;
    const bool right_takes = __shfl_down_sync(kFullMask, from_left[k], 1);
    to_right[k] = lane < kWarp - 1 && right_takes;
    from_above[k] = k > 0 && t.ok != 0 && tap[k > 0 ? k - 1 : 0].ok != 0 &&
        tap[k > 0 ? k - 1 : 0].x0 == t.x0 && tap[k > 0 ? k - 1 : 0].y0 + 1 == t.y0;
  }

  acc_t gfx[kRows], gfy[kRows];
#pragma unroll
  for (int k = 0; k < kRows; ++k) {
    gfx[k] = 0;
    gfy[k] = 0;
  }

  for (int c = threadIdx.y; c < C; c += blockDim.y) {
    const int64_t plane = (n * C + c) * HW;
    const scalar_t* xp = x + plane;
    const scalar_t* gp = grad_out + plane;
    scalar_t* gxp = need_x ? grad_x + plane : nullptr;
    acc_t carry = 0; // merged bottom-left contribution of the previous row, not yet written
#pragma unroll
    for (int k = 0; k < kRows; ++k) {
      const Tap<acc_t>& t = tap[k];
      // t.ok != 0 implies that the pixel is inside the image.
      const acc_t g = t.ok != 0
          ? static_cast<acc_t>(__ldg(gp + static_cast<int64_t>(row0 + k) * W + col))
          : acc_t(0);
      if (need_flow && t.ok != 0) {
        acc_t v00, v01, v10, v11;
        load_corners(xp, t, W, v00, v01, v10, v11);
        gfx[k] += g * ((1 - t.wy) * (v01 - v00) + t.wy * (v11 - v10));
        gfy[k] += g * ((1 - t.wx) * (v10 - v00) + t.wx * (v11 - v01));
      }
      if (need_x) { // uniform over the block: the shuffles below see every lane
        const acc_t gw = g * t.wx, gv = g - gw; // g * wx, g * (1 - wx)
        acc_t a00 = gv * (1 - t.wy), a01 = gw * (1 - t.wy);
        acc_t a10 = gv * t.wy, a11 = gw * t.wy;
        const acc_t left01 = __shfl_up_sync(kFullMask, a01, 1);
        const acc_t left11 = __shfl_up_sync(kFullMask, a11, 1);
        if (from_left[k]) {
          a00 += left01;
          a10 += left11;
        }
        if (!to_right[k]) {
          if (t.ok & 2) {
            atomic_add(gxp + t.off + 1, a01);
          }
          if (t.ok & 8) {
            atomic_add(gxp + t.off + W + 1, a11);
          }
        }
        if (k > 0) {
          const Tap<acc_t>& above = tap[k > 0 ? k - 1 : 0];
          if (from_above[k]) {
            a00 += carry;
          } else if (above.ok & 4) {
            atomic_add(gxp + above.off + W, carry);
          }
        }
        if (t.ok & 1) {
          atomic_add(gxp + t.off, a00);
        }
        carry = a10;
      }
    }
    if (need_x && (tap[kRows - 1].ok & 4)) {
      atomic_add(gxp + tap[kRows - 1].off + W, carry);
    }
  }

  if (need_flow) { // uniform over the block
#pragma unroll
    for (int k = 0; k < kRows; ++k) {
      partial[0][k][threadIdx.y][lane] = gfx[k];
      partial[1][k][threadIdx.y][lane] = gfy[k];
    }
    __syncthreads();
    for (int i = threadIdx.y; i < 2 * kRows; i += blockDim.y) {
      const int comp = i / kRows, k = i % kRows, y = row0 + k;
      acc_t s = 0;
      for (int gidx = 0; gidx < static_cast<int>(blockDim.y); ++gidx) {
        s += partial[comp][k][gidx][lane];
      }
      if (col < W && y < H) {
        grad_flow[(n * 2 + comp) * HW + static_cast<int64_t>(y) * W + col] =
            static_cast<scalar_t>(s);
      }
    }
  }
}

// Launch geometry shared by both kernels; images are launched in slices of at most 65535
// (gridDim.z).
struct Launch {
  dim3 block, grid;
  int64_t images_per_launch;
};

Launch make_launch(int64_t N, int64_t C, int64_t H, int64_t W) {
  TORCH_CHECK_VALUE(
      (H + kRows - 1) / kRows <= 65535,
      "flow_warp (CUDA): H = ",
      H,
      " is too large (at most ",
      65535 * kRows,
      ")");
  Launch l;
  const int groups = static_cast<int>(std::min<int64_t>(kMaxGroups, std::max<int64_t>(C, 1)));
  l.block = dim3(kWarp, groups, 1);
  l.images_per_launch = std::min<int64_t>(N, 65535);
  l.grid = dim3(
      static_cast<unsigned>((W + kWarp - 1) / kWarp),
      static_cast<unsigned>((H + kRows - 1) / kRows),
      static_cast<unsigned>(l.images_per_launch));
  return l;
}

} // namespace

at::Tensor flow_warp_forward_cuda(const at::Tensor& x_in, const at::Tensor& flow_in) {
  flow_warp_check_inputs(x_in, flow_in, at::Tensor(), "flow_warp_forward (CUDA)");
  TORCH_CHECK(x_in.is_cuda(), "flow_warp_forward (CUDA): tensors must be on a CUDA device");
  c10::cuda::CUDAGuard device_guard(x_in.device());
  const at::Tensor x = x_in.contiguous(), flow = flow_in.contiguous();
  at::Tensor out = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  if (out.numel() == 0) {
    return out;
  }
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  const Launch l = make_launch(N, C, H, W);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "flow_warp_forward_cuda", [&] {
    for (int64_t n0 = 0; n0 < N; n0 += l.images_per_launch) {
      dim3 grid = l.grid;
      grid.z = static_cast<unsigned>(std::min<int64_t>(l.images_per_launch, N - n0));
      flow_warp_forward_kernel<scalar_t><<<grid, l.block, 0, stream>>>(
          x.data_ptr<scalar_t>() + n0 * C * HW,
          flow.data_ptr<scalar_t>() + n0 * 2 * HW,
          out.data_ptr<scalar_t>() + n0 * C * HW,
          static_cast<int>(C),
          static_cast<int>(H),
          static_cast<int>(W));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> flow_warp_backward_cuda(
    const at::Tensor& grad_out_in,
    const at::Tensor& x_in,
    const at::Tensor& flow_in,
    bool need_grad_x,
    bool need_grad_flow) {
  TORCH_CHECK(grad_out_in.defined(), "flow_warp_backward (CUDA): grad_out is undefined");
  flow_warp_check_inputs(x_in, flow_in, grad_out_in, "flow_warp_backward (CUDA)");
  TORCH_CHECK(x_in.is_cuda(), "flow_warp_backward (CUDA): tensors must be on a CUDA device");
  c10::cuda::CUDAGuard device_guard(x_in.device());
  const at::Tensor x = x_in.contiguous(), flow = flow_in.contiguous();
  const at::Tensor grad_out = grad_out_in.contiguous();
  at::Tensor grad_x, grad_flow;
  if (need_grad_x) {
    grad_x = at::zeros(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  }
  if (need_grad_flow) {
    // Every in-image pixel is written by the kernel; zeros only matter when C == 0.
    grad_flow =
        at::zeros(flow.sizes(), flow.options().memory_format(at::MemoryFormat::Contiguous));
  }
  if (x.numel() == 0 || (!need_grad_x && !need_grad_flow)) {
    return {grad_x, grad_flow};
  }
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), HW = H * W;
  const Launch l = make_launch(N, C, H, W);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "flow_warp_backward_cuda", [&] {
    for (int64_t n0 = 0; n0 < N; n0 += l.images_per_launch) {
      dim3 grid = l.grid;
      grid.z = static_cast<unsigned>(std::min<int64_t>(l.images_per_launch, N - n0));
      flow_warp_backward_kernel<scalar_t><<<grid, l.block, 0, stream>>>(
          grad_out.data_ptr<scalar_t>() + n0 * C * HW,
          x.data_ptr<scalar_t>() + n0 * C * HW,
          flow.data_ptr<scalar_t>() + n0 * 2 * HW,
          need_grad_x ? grad_x.data_ptr<scalar_t>() + n0 * C * HW : nullptr,
          need_grad_flow ? grad_flow.data_ptr<scalar_t>() + n0 * 2 * HW : nullptr,
          static_cast<int>(C),
          static_cast<int>(H),
          static_cast<int>(W));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  return {grad_x, grad_flow};
}

} // namespace vps_d2
