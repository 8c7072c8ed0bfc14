// What went wrong, in one message a user can act on. LibTorch's exceptions carry a C++
// backtrace in what(); out-of-memory errors (CUDA's caching allocator, or the CPU allocator)
// should say "out of memory" and what to try, not end in a stack dump.
#pragma once

#include <exception>
#include <string>

namespace mabert {

// e's message without LibTorch's backtrace; out-of-memory errors start "out of GPU memory" or
// "out of memory" and end with a hint (shorter input, smaller batch, the CPU).
std::string describe_error(const std::exception& e);

// Whether e is an allocation failure (CUDA or CPU), as describe_error words it.
bool is_out_of_memory(const std::exception& e);

}  // namespace mabert
