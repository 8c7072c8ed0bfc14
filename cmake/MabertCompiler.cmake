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
set(MABERT_SANITIZE "" CACHE STRING "Sanitizer build: address | thread | empty")
if(MABERT_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(MABERT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT MABERT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "MABERT_SANITIZE must be address, thread or empty, got '${MABERT_SANITIZE}'")
endif()
