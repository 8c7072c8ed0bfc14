# Find LibTorch. Order: an explicit Torch_DIR or CMAKE_PREFIX_PATH, else the wheel in the
# project's virtual environment (.venv), asked through torch.utils.cmake_prefix_path.
if(NOT Torch_DIR)
  set(_venv_python "${CMAKE_CURRENT_SOURCE_DIR}/.venv/bin/python")
  foreach(_py IN ITEMS "${MABERT_PYTHON}" "${_venv_python}")
    if(_py AND EXISTS "${_py}")
      execute_process(COMMAND "${_py}" -W ignore -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                      OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                      RESULT_VARIABLE _rc ERROR_QUIET)
      if(_rc EQUAL 0 AND _torch_prefix)
        list(APPEND CMAKE_PREFIX_PATH "${_torch_prefix}")
        break()
      endif()
    endif()
  endforeach()
endif()

# Torch's config looks for the CUDA toolkit itself; help it find /usr/local/cuda.
if(NOT CUDAToolkit_ROOT AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CUDAToolkit_ROOT /usr/local/cuda)
endif()
# Torch's CUDA config ignores CMAKE_CUDA_ARCHITECTURES and reads TORCH_CUDA_ARCH_LIST instead;
# derive it from our named architectures so nvcc builds only those (no GPU to detect here).
if(MABERT_WITH_CUDA AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(_archs "")
  foreach(_a IN LISTS CMAKE_CUDA_ARCHITECTURES)
    string(REGEX REPLACE "([0-9]+)([0-9])" "\\1.\\2" _dotted "${_a}")
    list(APPEND _archs "${_dotted}")
  endforeach()
  set(TORCH_CUDA_ARCH_LIST "${_archs}")
endif()
find_package(Torch 2.4 REQUIRED)
# TORCH_CXX_FLAGS carries the ABI define; keep it on every C++ target that sees torch headers.
add_library(mabert_torch INTERFACE)
target_link_libraries(mabert_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(mabert_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
target_compile_options(mabert_torch INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_torch_flags}>)
