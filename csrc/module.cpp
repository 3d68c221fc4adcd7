// The fastspike library: declares the operator namespace and makes the shared
// object importable as the Python module `fastspike._C`. Each operator's schema
// lives in csrc/ops/<op>.cpp, its kernels in csrc/ops/cpu/<op>.cpp and
// csrc/ops/cuda/<op>.cu.
#include <Python.h>
#include <torch/library.h>

TORCH_LIBRARY(fastspike, m) {
  // Schemas are added by the TORCH_LIBRARY_FRAGMENT blocks in csrc/ops/*.cpp.
}

extern "C" {
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C",
                                          "fastspike compiled operators (torch.ops.fastspike)",
                                          -1, nullptr};
  PyObject* m = PyModule_Create(&module_def);
  if (m == nullptr) return nullptr;
#ifndef FASTSPIKE_TORCH_VERSION
#define FASTSPIKE_TORCH_VERSION "unknown"
#endif
#ifdef FASTSPIKE_WITH_CUDA
  const int with_cuda = 1;
#else
  const int with_cuda = 0;
#endif
  // The torch the library was compiled against, checked at import time.
  if (PyModule_AddStringConstant(m, "torch_version", FASTSPIKE_TORCH_VERSION) < 0 ||
      PyModule_AddIntConstant(m, "with_cuda", with_cuda) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
}
