# qrt_kernel_cases: the one-node model builder and the kernel case lists (tests/model_builder.*,
# tests/kernel_cases.*) that the kernel tests and the micro-benchmarks (bench/micro) share.
# Included from tests/ and bench/; whichever comes first defines it.
if(NOT TARGET qrt_kernel_cases)
  add_library(qrt_kernel_cases STATIC ${CMAKE_SOURCE_DIR}/tests/model_builder.cpp
                                      ${CMAKE_SOURCE_DIR}/tests/kernel_cases.cpp)
  target_include_directories(qrt_kernel_cases PUBLIC ${CMAKE_SOURCE_DIR}/tests PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(qrt_kernel_cases PUBLIC qrt onnx_proto protobuf::libprotobuf)
endif()
