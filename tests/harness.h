// A small test harness for the Qt-free tests (core, kernels): the GUI-less build (MABERT_GUI=OFF,
// e.g. on the GPU machine) has no Qt Test, so core tests use this instead. Each executable runs
// its registered cases, prints every failure with file:line, and exits non-zero on any failure
// (77, CTest's skip code, when every case skipped).
#pragma once

#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "util/files.h"  // remove_tree (every harness test links mabert_core)

namespace mabert::test {

struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};
struct Skip {
  std::string why;
};
struct Abort {};
inline int& failures() {
  static int n = 0;
  return n;
}
inline void fail(const char* file, int line, const std::string& what) {
  ++failures();
  std::printf("    FAIL %s:%d: %s\n", file, line, what.c_str());
}

inline int run_all(int argc, char** argv) {
  const std::string filter = argc > 1 ? argv[1] : "";
  int passed = 0, failed = 0, skipped = 0;
  for (const auto& c : registry()) {
    if (!filter.empty() && std::string(c.name).find(filter) == std::string::npos) continue;
    std::printf("[ RUN  ] %s\n", c.name);
    std::fflush(stdout);
    const int before = failures();
    try {
      c.fn();
    } catch (const Skip& s) {
      std::printf("[ SKIP ] %s: %s\n", c.name, s.why.c_str());
      ++skipped;
      continue;
    } catch (const Abort&) {
    } catch (const std::exception& e) {
      std::string what = e.what();
      what = what.substr(0, what.find("\nException raised from"));  // drop c10's backtrace
      fail(__FILE__, __LINE__, "unexpected exception: " + what);
    }
    if (failures() == before) {
      std::printf("[  OK  ] %s\n", c.name);
      ++passed;
    } else {
      std::printf("[FAILED] %s\n", c.name);
      ++failed;
    }
    std::fflush(stdout);
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  if (passed == 0 && skipped > 0) return 77;
  return 0;
}

}  // namespace mabert::test

#define MT_CAT2(a, b) a##b
#define MT_CAT(a, b) MT_CAT2(a, b)
#define TEST_CASE(name)                                                          \
  static void name();                                                            \
  static ::mabert::test::Registrar MT_CAT(mt_reg_, name)(#name, name);          \
  static void name()

#define EXPECT(cond)                                                              \
  do {                                                                           \
    if (!(cond)) ::mabert::test::fail(__FILE__, __LINE__, "EXPECT(" #cond ")");   \
  } while (0)
#define REQUIRE(cond)                                                            \
  do {                                                                           \
    if (!(cond)) {                                                               \
      ::mabert::test::fail(__FILE__, __LINE__, "REQUIRE(" #cond ")");            \
      throw ::mabert::test::Abort{};                                             \
    }                                                                            \
  } while (0)
#define EXPECT_MSG(cond, msg)                                                     \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::ostringstream mt_os;                                                  \
      mt_os << "EXPECT(" #cond "): " << msg;                                      \
      ::mabert::test::fail(__FILE__, __LINE__, mt_os.str());                     \
    }                                                                            \
  } while (0)
#define EXPECT_LE(a, b) EXPECT_MSG((a) <= (b), (a) << " > " << (b))
#define EXPECT_GT(a, b) EXPECT_MSG((a) > (b), (a) << " <= " << (b))
#define EXPECT_EQ(a, b) EXPECT_MSG((a) == (b), (a) << " != " << (b))
// Checks that `expr` throws an exception whose message contains every given substring.
#define EXPECT_THROWS_WITH(expr, ...)                                             \
  do {                                                                           \
    bool mt_threw = false;                                                       \
    try {                                                                        \
      expr;                                                                      \
    } catch (const std::exception& mt_e) {                                       \
      mt_threw = true;                                                           \
      const std::string mt_msg = mt_e.what();                                    \
      for (const char* mt_sub : {__VA_ARGS__})                                   \
        EXPECT_MSG(mt_msg.find(mt_sub) != std::string::npos,                      \
                  "message \"" << mt_msg << "\" lacks \"" << mt_sub << "\"");     \
    }                                                                            \
    EXPECT_MSG(mt_threw, #expr " did not throw");                                 \
  } while (0)
#define SKIP(why) throw ::mabert::test::Skip{why}

#define TEST_MAIN()                                                              \
  int main(int argc, char** argv) { return ::mabert::test::run_all(argc, argv); }

// A scratch folder of this test process: <tmp>/mabert_test_<suite>_<pid>, or its subfolder
// `name`, emptied first; created either way.
inline std::string scratch_dir(const std::string& suite, const std::string& name = "") {
  namespace fs = std::filesystem;
  fs::path p = fs::temp_directory_path() / ("mabert_test_" + suite + "_" + std::to_string(::getpid()));
  if (!name.empty()) {
    p /= name;
    ::mabert::remove_tree(p.string());  // not fs::remove_all: libtorch.so exports a broken copy of it
  }
  fs::create_directories(p);
  return p.string();
}
