# -DHORIZON_FUZZ=ON: one libFuzzer binary per fuzz target, and nothing else.
# The parsers are compiled from source with -fsanitize=fuzzer-no-link,address,
# undefined; only the sources they need are built (no LLVM JIT, no CUDA, no
# BLAS), so Debian's clang (14) works although the engine links LLVM 19.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "HORIZON_FUZZ needs clang: cmake -DCMAKE_CXX_COMPILER=clang++ -DHORIZON_FUZZ=ON (scripts/fuzz.sh)")
endif()
file(GLOB HORIZON_FUZZ_PARSER_SOURCES CONFIGURE_DEPENDS
  support/*.cpp ir/*.cpp frontend/*.cpp data/*.cpp data/jinja/*.cpp runtime/host_store.cpp runtime/thread_pool.cpp
  runtime/lr_schedule.cpp cli/checkpoint.cpp cli/checkpoint_manifest.cpp cli/checkpoint_state.cpp
  cli/model_dir_writer.cpp cli/weight_loader.cpp)
set(HORIZON_FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)
add_library(horizon_fuzz_parsers STATIC ${HORIZON_FUZZ_PARSER_SOURCES} ${CMAKE_SOURCE_DIR}/fuzz/fuzz_support.cpp
  ${HORIZON_FUZZ_TARGET_SOURCES} ${HORIZON_FUZZ_TABLE})
target_include_directories(horizon_fuzz_parsers PUBLIC ${CMAKE_SOURCE_DIR})
target_compile_options(horizon_fuzz_parsers PUBLIC ${HORIZON_FUZZ_FLAGS} -fsanitize=fuzzer-no-link)
# The tokenizer's regex engine and NFC, and zlib for .jsonl.gz, as in the engine.
target_link_libraries(horizon_fuzz_parsers PUBLIC nlohmann_json::nlohmann_json Threads::Threads PkgConfig::ONIGURUMA
  ${HORIZON_UTF8PROC_STATIC} ZLIB::ZLIB)
foreach(name ${HORIZON_FUZZ_NAMES})
  set(entry ${CMAKE_BINARY_DIR}/fuzz_${name}_main.cpp)
  file(CONFIGURE OUTPUT ${entry} CONTENT "#include <cstddef>
#include <cstdint>
int horizon_fuzz_${name}(const uint8_t* data, size_t size);
extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return horizon_fuzz_${name}(data, size); }
")
  add_executable(fuzz_${name} ${entry})
  target_link_libraries(fuzz_${name} PRIVATE horizon_fuzz_parsers)
  target_link_options(fuzz_${name} PRIVATE ${HORIZON_FUZZ_FLAGS} -fsanitize=fuzzer)
endforeach()
