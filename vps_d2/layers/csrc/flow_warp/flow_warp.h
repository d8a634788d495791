// Flow warp: bilinear backward warping of a feature map by a dense flow in pixels.
//
// Semantics (shared by every implementation, see vps_d2/layers/flow_warp.py):
//   x    (N, C, H, W), flow (N, 2, H, W) in pixels, flow[:, 0] = dx, flow[:, 1] = dy;
//   out[n, c, y, x] = bilinear sample of x[n, c] at (x + dx, y + dy), where each of the four
//   corners that lies outside the image reads 0 (grid_sample, padding_mode="zeros",
//   align_corners=True); a zero flow is exactly the identity.
// Gradients follow grid_sample's convention: corner = floor(coordinate), so at an integer
// coordinate the derivative with respect to the flow is the one-sided (right/down) difference.
#pragma once
#include <ATen/ATen.h>

#include <tuple>

namespace vps_d2 {

// Validates x / flow (and grad_out when defined): dims, shapes, dtypes (float32/float64), devices.
// `where` names the caller in messages.
void flow_warp_check_inputs(
    const at::Tensor& x,
    const at::Tensor& flow,
    const at::Tensor& grad_out,
    const char* where);

at::Tensor flow_warp_forward_cpu(const at::Tensor& x, const at::Tensor& flow);
std::tuple<at::Tensor, at::Tensor> flow_warp_backward_cpu(
    const at::Tensor& grad_out,
    const at::Tensor& x,
    const at::Tensor& flow,
    bool need_grad_x,
    bool need_grad_flow);

#if defined(WITH_CUDA)
at::Tensor flow_warp_forward_cuda(const at::Tensor& x, const at::Tensor& flow);
std::tuple<at::Tensor, at::Tensor> flow_warp_backward_cuda(
    const at::Tensor& grad_out,
    const at::Tensor& x,
    const at::Tensor& flow,
    bool need_grad_x,
    bool need_grad_flow);
#endif

} // namespace vps_d2
