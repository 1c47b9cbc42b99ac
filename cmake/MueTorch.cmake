# Which libtorch muE's trainer library builds against, and which Python the tests,
# benchmarks and examples run (README "Which torch", docs/design.md "Which libtorch").
#
#   MUE_TORCH=venv    (default) the torch of the pinned Python environment that
#                     scripts/install-deps makes in .venv (requirements.txt): PyTorch 2.x with
#                     CUDA compiled in. Its TorchConfig.cmake is found through
#                     torch.utils.cmake_prefix_path of that environment's Python.
#   MUE_TORCH=system  Debian's libtorch-dev (1.13, CPU only) with /usr/bin/python3 and
#                     python3-torch (scripts/install-deps --debian-torch): kept for
#                     bench/step_time, which measures muE on both.
#
# Sets MUE_PYTHON (the Python with the same torch; tests get it as $MUE_PYTHON),
# MUE_TORCH_LIBRARIES (what a target that includes torch links) and MUE_TORCH_CUDA (1 when
# the libtorch has CUDA compiled in).
set(MUE_TORCH "venv" CACHE STRING "libtorch to build against: venv (the pinned environment) or system (Debian's)")
set_property(CACHE MUE_TORCH PROPERTY STRINGS venv system)

if(MUE_TORCH STREQUAL "venv")
  set(_mue_default_python "${CMAKE_SOURCE_DIR}/.venv/bin/python")
elseif(MUE_TORCH STREQUAL "system")
  set(_mue_default_python "/usr/bin/python3")
else()
  message(FATAL_ERROR "MUE_TORCH must be 'venv' or 'system', not '${MUE_TORCH}'")
endif()
set(MUE_PYTHON "${_mue_default_python}" CACHE FILEPATH "Python whose torch the build uses (tests and benchmarks run it)")

if(NOT EXISTS "${MUE_PYTHON}")
  if(MUE_TORCH STREQUAL "venv")
    message(FATAL_ERROR "muE: no Python environment at ${MUE_PYTHON}: run scripts/install-deps "
                        "(it makes .venv from requirements.txt), or configure with -DMUE_TORCH=system "
                        "for Debian's libtorch")
  else()
    message(FATAL_ERROR "muE: ${MUE_PYTHON} not found (scripts/install-deps --debian-torch)")
  endif()
endif()

if(MUE_TORCH STREQUAL "venv")
  execute_process(
    COMMAND "${MUE_PYTHON}" -c "import torch, os; print(os.path.dirname(torch.__file__)); print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _mue_torch_out ERROR_VARIABLE _mue_torch_err RESULT_VARIABLE _mue_torch_rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _mue_torch_rc EQUAL 0)
    message(FATAL_ERROR "muE: ${MUE_PYTHON} cannot import torch (run scripts/install-deps):\n${_mue_torch_err}")
  endif()
  string(REPLACE "\n" ";" _mue_torch_out "${_mue_torch_out}")
  list(GET _mue_torch_out 0 MUE_TORCH_PREFIX)
  list(GET _mue_torch_out 1 _mue_torch_cmake)
  # The prefix itself too: TorchConfig finds libc10.so and libtorch.so with find_library, whose
  # system directories come before its PATHS hint, so with Debian's libtorch-dev also installed
  # it would mix Debian's libc10 into this build. CMAKE_PREFIX_PATH is searched first.
  list(PREPEND CMAKE_PREFIX_PATH "${_mue_torch_cmake}" "${MUE_TORCH_PREFIX}")
  set(_libdir "${MUE_TORCH_PREFIX}/lib")
  if(EXISTS "${_libdir}/libtorch_cuda.so")
    set(MUE_TORCH_CUDA 1)
  else()
    set(MUE_TORCH_CUDA 0)
  endif()
  # A CUDA wheel's TorchConfig needs the CUDA toolkit (nvcc, headers, libcudart) and stops
  # with a message about Caffe2 when it is missing: say what to do instead.
  if(MUE_TORCH_CUDA)
    find_package(CUDAToolkit QUIET)
    if(NOT CUDAToolkit_FOUND)
      message(FATAL_ERROR
        "muE: the torch of ${MUE_PYTHON} has CUDA compiled in, and building against it needs the "
        "CUDA toolkit (nvcc, headers, libcudart; no GPU): none was found on PATH or in "
        "/usr/local/cuda (set CUDAToolkit_ROOT to another place). Install NVIDIA's CUDA 13 "
        "toolkit, or build against Debian's CPU-only libtorch 1.13 instead: "
        "scripts/install-deps --debian-torch && cmake --preset debian-torch")
    endif()
  endif()
  find_package(Torch REQUIRED CONFIG PATHS "${_mue_torch_cmake}" NO_DEFAULT_PATH)
  foreach(_var TORCH_LIBRARY c10_LIBRARY)
    string(FIND "${${_var}}" "${MUE_TORCH_PREFIX}/" _at)
    if(NOT _at EQUAL 0)
      message(FATAL_ERROR "muE: ${_var} is ${${_var}}, outside ${MUE_TORCH_PREFIX}: a mixed "
                          "libtorch. Delete the build folder and configure again.")
    endif()
  endforeach()
  # Link torch's own libraries only. Torch's imported targets also link the CUDA toolkit's
  # libcudart and libnvrtc from /usr/local/cuda directly into every executable: those would
  # load first and shadow the (newer) CUDA runtime the wheel's libtorch_cuda.so was built with
  # and finds through its RPATH (site-packages/nvidia/...), and make ld resolve its NCCL against
  # the toolkit's older one. We call no CUDA API ourselves.
  add_library(mue_libtorch INTERFACE)
  target_include_directories(mue_libtorch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  foreach(_t torch_cpu torch_cuda)
    if(TARGET ${_t})
      get_target_property(_defs ${_t} INTERFACE_COMPILE_DEFINITIONS)
      if(_defs)
        target_compile_definitions(mue_libtorch INTERFACE ${_defs})
      endif()
    endif()
  endforeach()
  separate_arguments(_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(mue_libtorch INTERFACE ${_flags}) # -D_GLIBCXX_USE_CXX11_ABI=1
  # torch 2.15's headers need C++20 (its TorchConfig asks for it); only targets that include
  # torch get it, the rest of muE stays C++17.
  target_compile_features(mue_libtorch INTERFACE cxx_std_20)
  if(MUE_TORCH_CUDA)
    # Nothing of ours calls into libtorch_cuda.so, but loading it is what registers CUDA with
    # torch: without --no-as-needed the linker would drop it and torch::cuda would see no GPU.
    target_link_libraries(mue_libtorch INTERFACE
      "-Wl,--no-as-needed" "${_libdir}/libtorch_cuda.so" "${_libdir}/libc10_cuda.so" "-Wl,--as-needed")
  endif()
  target_link_libraries(mue_libtorch INTERFACE
    "${_libdir}/libtorch.so" "${_libdir}/libtorch_cpu.so" "${_libdir}/libc10.so")
  target_link_options(mue_libtorch INTERFACE "LINKER:-rpath,${_libdir}")
  set(MUE_TORCH_LIBRARIES mue_libtorch)
else()
  find_package(Torch REQUIRED)
  set(MUE_TORCH_LIBRARIES ${TORCH_LIBRARIES})
  if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA)
    set(MUE_TORCH_CUDA 1)
  else()
    set(MUE_TORCH_CUDA 0)
  endif()
endif()
