# Compiler launcher (ccache) and warning flags shared by every target.
find_program(MABERT_CCACHE ccache)
if(MABERT_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MABERT_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${MABERT_CCACHE})
endif()

add_library(mabert_warnings INTERFACE)
target_compile_options(mabert_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)

# Sanitizer builds (a separate build folder each): MABERT_SANITIZE=address (ASan + UBSan) or
# thread (TSan). LibTorch, Qt and OpenMP are not instrumented; tests/tsan.supp lists what that
# leaves TSan unable to see.
#
# MABERT_FUZZ=ON (clang only) is the hardening build: ASan + UBSan on everything, plus libFuzzer's
# coverage instrumentation (-fsanitize=fuzzer-no-link), and the fuzz targets in tests/fuzz. The
# same folder builds the core and kernel tests, so it is also the ASan + UBSan test build
# (scripts/hardening.sh configures, builds and runs it).
set(MABERT_SANITIZE "" CACHE STRING "Sanitizer build: address | thread | empty")
option(MABERT_FUZZ "Build the libFuzzer targets (tests/fuzz) with ASan + UBSan; needs clang" OFF)
if(MABERT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MABERT_FUZZ=ON needs clang (libFuzzer ships with it), but this build folder uses "
                        "${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure a fresh folder with "
                        "CC=clang CXX=clang++ (Debian 12: apt install clang libclang-rt-14-dev), "
                        "or run scripts/hardening.sh.")
  endif()
  if(MABERT_SANITIZE STREQUAL "thread")
    message(FATAL_ERROR "MABERT_FUZZ=ON builds with ASan + UBSan; it cannot be combined with MABERT_SANITIZE=thread")
  endif()
  set(MABERT_SANITIZE "address")
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
  check_cxx_source_compiles(
    "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }"
    MABERT_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT MABERT_HAVE_LIBFUZZER)
    message(FATAL_ERROR "MABERT_FUZZ=ON: ${CMAKE_CXX_COMPILER} cannot link -fsanitize=fuzzer; install the "
                        "compiler-rt runtime that ships libclang_rt.fuzzer (Debian 12: libclang-rt-14-dev)")
  endif()
endif()

set(_mabert_c_cxx "$<COMPILE_LANGUAGE:C,CXX>")
if(MABERT_SANITIZE STREQUAL "address")
  add_compile_options("$<${_mabert_c_cxx}:-fsanitize=address,undefined;-fno-omit-frame-pointer;-fno-sanitize-recover=undefined>")
  add_link_options(-fsanitize=address,undefined)
  if(MABERT_FUZZ)
    # Coverage counters and comparison tracing for libFuzzer in every object; only the fuzz
    # targets link libFuzzer itself (-fsanitize=fuzzer), the tests keep their own main().
    add_compile_options("$<${_mabert_c_cxx}:-fsanitize=fuzzer-no-link>")
    # No timestamps in clang's precompiled headers: the same sources give the same .pch, so
    # ccache can reuse every object of a fresh build folder (with CCACHE_SLOPPINESS as set by
    # scripts/hardening.sh).
    add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:SHELL:-Xclang -fno-pch-timestamp>")
  endif()
elseif(MABERT_SANITIZE STREQUAL "thread")
  add_compile_options("$<${_mabert_c_cxx}:-fsanitize=thread;-fno-omit-frame-pointer>")
  add_link_options(-fsanitize=thread)
elseif(NOT MABERT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "MABERT_SANITIZE must be address, thread or empty, got '${MABERT_SANITIZE}'")
endif()
