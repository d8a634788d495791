// Python bindings of vps_d2._C. Ops are registered with TORCH_LIBRARY (namespace `vps_d2`) and called
// as torch.ops.vps_d2.<op>; each op folder adds its own schema with TORCH_LIBRARY_FRAGMENT.
// Recipe for a new op: make a folder here, implement it, register it in that folder.
#include <torch/extension.h>
#if defined(WITH_CUDA)
#include <cuda.h>
#endif

namespace vps_d2 {

// True when this build compiled the CUDA sources (it says nothing about a GPU being present).
bool has_cuda() {
#if defined(WITH_CUDA)
  return true;
#else
  return false;
#endif
}

// CUDA runtime version the extension was compiled against, e.g. 13000; 0 on a CPU-only build.
int64_t get_cuda_version() {
#if defined(WITH_CUDA) && defined(CUDA_VERSION)
  return CUDA_VERSION;
#elif defined(WITH_CUDA)
  return -1;
#else
  return 0;
#endif
}

std::string get_compiler_version() {
#if defined(__clang__)
  return "clang " + std::to_string(__clang_major__) + "." + std::to_string(__clang_minor__);
#elif defined(__GNUC__)
  return "GCC " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__);
#else
  return "unknown";
#endif
}

}  // namespace vps_d2

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("has_cuda", &vps_d2::has_cuda, "whether vps_d2._C was built with its CUDA kernels");
  m.def("get_cuda_version", &vps_d2::get_cuda_version, "CUDA version the extension was built with");
  m.def("get_compiler_version", &vps_d2::get_compiler_version, "C++ compiler used for the build");
}

TORCH_LIBRARY(vps_d2, m) {
  m.def("has_cuda() -> bool", &vps_d2::has_cuda);
}
