// Schema, input checks and dispatch-key registration of the flow warp ops:
//   torch.ops.vps_d2.flow_warp_forward(x, flow) -> out
//   torch.ops.vps_d2.flow_warp_backward(grad_out, x, flow, need_grad_x, need_grad_flow)
//       -> (grad_x, grad_flow)   (an output that is not needed is returned undefined: None)
// The CPU kernel is always registered; the CUDA kernel only in builds with WITH_CUDA.
#include <torch/library.h>

#include <climits>
#include <sstream>

#include "flow_warp.h"

namespace vps_d2 {

namespace {
std::string shape_str(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}
} // namespace

void flow_warp_check_inputs(
    const at::Tensor& x,
    const at::Tensor& flow,
    const at::Tensor& grad_out,
    const char* where) {
  TORCH_CHECK_VALUE(
      x.dim() == 4,
      where,
      ": x must be a 4-D tensor (N, C, H, W), got shape ",
      shape_str(x));
  TORCH_CHECK_VALUE(
      flow.dim() == 4 && flow.size(1) == 2,
      where,
      ": flow must be a 4-D tensor (N, 2, H, W) with channels (dx, dy), got shape ",
      shape_str(flow));
  TORCH_CHECK_VALUE(
      flow.size(0) == x.size(0) && flow.size(2) == x.size(2) && flow.size(3) == x.size(3),
      where,
      ": flow (N, 2, H, W) must match x (N, C, H, W) in N, H and W; got x ",
      shape_str(x),
      " and flow ",
      shape_str(flow));
  TORCH_CHECK_TYPE(
      x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
      where,
      ": the kernel supports float32 and float64, got x of dtype ",
      x.scalar_type(),
      " (half precision is computed in float32 by vps_d2.layers.flow_warp)");
  TORCH_CHECK_TYPE(
      flow.scalar_type() == x.scalar_type(),
      where,
      ": x and flow must have the same dtype, got ",
      x.scalar_type(),
      " and ",
      flow.scalar_type());
  TORCH_CHECK(
      x.device() == flow.device(),
      where,
      ": x and flow must be on the same device, got ",
      x.device(),
      " and ",
      flow.device());
  TORCH_CHECK_VALUE(
      x.size(2) * x.size(3) <= INT_MAX,
      where,
      ": H * W must fit in 32 bits, got ",
      shape_str(x));
  if (grad_out.defined()) {
    TORCH_CHECK_VALUE(
        grad_out.sizes() == x.sizes(),
        where,
        ": grad_out must have the shape of x ",
        shape_str(x),
        ", got ",
        shape_str(grad_out));
    TORCH_CHECK_TYPE(
        grad_out.scalar_type() == x.scalar_type(),
        where,
        ": grad_out must have the dtype of x (",
        x.scalar_type(),
        "), got ",
        grad_out.scalar_type());
    TORCH_CHECK(
        grad_out.device() == x.device(),
        where,
        ": grad_out must be on the device of x (",
        x.device(),
        "), got ",
        grad_out.device());
  }
}

} // namespace vps_d2

TORCH_LIBRARY_FRAGMENT(vps_d2, m) {
  m.def("flow_warp_forward(Tensor x, Tensor flow) -> Tensor");
  m.def(
      "flow_warp_backward(Tensor grad_out, Tensor x, Tensor flow, bool need_grad_x=True, "
      "bool need_grad_flow=True) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(vps_d2, CPU, m) {
  m.impl("flow_warp_forward", &vps_d2::flow_warp_forward_cpu);
  m.impl("flow_warp_backward", &vps_d2::flow_warp_backward_cpu);
}

#if defined(WITH_CUDA)
TORCH_LIBRARY_IMPL(vps_d2, CUDA, m) {
  m.impl("flow_warp_forward", &vps_d2::flow_warp_forward_cuda);
  m.impl("flow_warp_backward", &vps_d2::flow_warp_backward_cuda);
}
#endif
