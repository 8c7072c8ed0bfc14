# Compiler launcher (ccache) and warning flags shared by every target.
find_program(MABERT_CCACHE ccache)
if(MABERT_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MABERT_CCACHE})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${MABERT_CCACHE})
endif()

add_library(mabert_warnings INTERFACE)
target_compile_options(mabert_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)
