# The CUDA backend (src/backends/cuda): compiled only when the CUDA toolkit (nvcc, cudart),
# cuDNN 9 and cuBLASLt are found, by default under /usr/local/cuda. Without them (CI, Debian's
# own packages carry no CUDA 13) qrt builds and tests everything else; the sources of the
# backend are taken out of the `qrt` target here. Included from the top-level CMakeLists.txt
# after the `qrt` target exists.
#
#   -DQRT_WITH_CUDA=OFF            never build it
#   -DCMAKE_CUDA_ARCHITECTURES=... other targets (default: sm_80 and sm_90 code, compute_90 PTX)
option(QRT_WITH_CUDA "Build the CUDA backend when the toolkit, cuDNN and cuBLASLt are found" ON)

set(QRT_HAVE_CUDA OFF)
if(QRT_WITH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    find_package(CUDAToolkit QUIET)
  endif()
  if(CUDAToolkit_FOUND)
    find_path(QRT_CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include)
    find_library(QRT_CUDNN_LIBRARY cudnn HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64)
  endif()
  if(CUDAToolkit_FOUND AND TARGET CUDA::cublasLt AND QRT_CUDNN_INCLUDE_DIR AND QRT_CUDNN_LIBRARY)
    set(QRT_HAVE_CUDA ON)
  else()
    message(STATUS "qrt: CUDA backend not built (need nvcc, cuDNN 9 and cuBLASLt; looked under /usr/local/cuda)")
  endif()
endif()

get_target_property(_qrt_sources qrt SOURCES)
list(FILTER _qrt_sources EXCLUDE REGEX "/src/backends/cuda/")
set_target_properties(qrt PROPERTIES SOURCES "${_qrt_sources}")

if(QRT_HAVE_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80-real 90-real 90-virtual)
  endif()
  set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no CUDA 20 flags for nvcc; the .cu files need 17 only
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  # The warning flags set on `qrt` are the host compiler's: keep them away from nvcc.
  get_target_property(_qrt_opts qrt COMPILE_OPTIONS)
  set(_qrt_cxx_opts "")
  foreach(_o IN LISTS _qrt_opts)
    list(APPEND _qrt_cxx_opts "$<$<COMPILE_LANGUAGE:CXX>:${_o}>")
  endforeach()
  set_target_properties(qrt PROPERTIES COMPILE_OPTIONS "${_qrt_cxx_opts}")
  message(STATUS "qrt: CUDA backend on (CUDA ${CUDAToolkit_VERSION}, cuDNN ${QRT_CUDNN_LIBRARY}, "
                 "architectures ${CMAKE_CUDA_ARCHITECTURES})")
  file(GLOB QRT_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backends/cuda/*.cpp
       ${CMAKE_SOURCE_DIR}/src/backends/cuda/*.cu)
  target_sources(qrt PRIVATE ${QRT_CUDA_SOURCES})
  # Kernels on Hopper's arch-specific instructions (wgmma): compiled for sm_90a alone, in their own
  # object library (an sm_90a cubin beside qrt's sm_90 one would leave the choice to the loader);
  # the host code launches them on compute capability 9.0 only.
  file(GLOB QRT_CUDA_SM90A_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backends/cuda/sm90a/*.cu)
  add_library(qrt_sm90a OBJECT ${QRT_CUDA_SM90A_SOURCES})
  set_target_properties(qrt_sm90a PROPERTIES CUDA_ARCHITECTURES OFF CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON
                                             POSITION_INDEPENDENT_CODE ON)
  target_compile_options(qrt_sm90a PRIVATE --generate-code=arch=compute_90a,code=sm_90a --expt-relaxed-constexpr
                                           -Xcompiler=-Wall)
  target_include_directories(qrt_sm90a PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/include
                                               ${CUDAToolkit_INCLUDE_DIRS})
  target_sources(qrt PRIVATE $<TARGET_OBJECTS:qrt_sm90a>)
  # QRT_HAVE_CUDA is public so tools and tests can reach the backend's CUDA-free helpers
  # (backends/cuda/device_memory.h); no CUDA header reaches include/qrt.
  target_compile_definitions(qrt PUBLIC QRT_HAVE_CUDA=1)
  target_include_directories(qrt PRIVATE ${CUDAToolkit_INCLUDE_DIRS} ${QRT_CUDNN_INCLUDE_DIR})
  # The static runtime keeps libcudart out of the binaries' dependencies; cuDNN and cuBLASLt
  # are the machine's (their versions are recorded in every CUDA engine).
  target_link_libraries(qrt PRIVATE CUDA::cudart_static CUDA::cublasLt ${QRT_CUDNN_LIBRARY})
  # `qrt` exists before CUDA is enabled, so its CUDA properties are set here, not inherited.
  set_target_properties(qrt PROPERTIES CUDA_SEPARABLE_COMPILATION OFF CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
                                       CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON)
  target_compile_options(qrt PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall>)
  # The GPU benchmark driver (bench/gpu): CUDA events around enqueues on one stream.
  if(QRT_BUILD_BENCH)
    add_executable(qrt_gpu_bench ${CMAKE_SOURCE_DIR}/bench/gpu/gpu_bench.cpp)
    target_include_directories(qrt_gpu_bench PRIVATE ${CMAKE_SOURCE_DIR}/src ${CUDAToolkit_INCLUDE_DIRS})
    target_link_libraries(qrt_gpu_bench PRIVATE qrt CUDA::cudart_static)
  endif()
endif()
