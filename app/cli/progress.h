// Training progress on the terminal: a one-line bar with ETA when stderr is a terminal, plain
// log lines otherwise (CI logs, pipes).
#pragma once

#include "train/trainer.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace mabert::cli {

class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), tty_(::isatty(2)) {}

  void step(const train::StepStats& s) {
    if (quiet_) return;
    const double frac = s.total_steps ? static_cast<double>(s.step) / s.total_steps : 0;
    if (tty_) {
      const int width = 30, filled = static_cast<int>(frac * width);
      std::fprintf(stderr, "\r[%s%s] %lld/%lld loss %.4f lr %.2e %.0f tok/s ETA %s   ",
                   std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), (long long)s.step,
                   (long long)s.total_steps, s.loss, s.lr, s.tokens_per_s, clock(s.eta_s).c_str());
    } else {
      std::fprintf(stderr, "step %lld/%lld loss %.4f lr %.3e grad_norm %.3f %.0f tok/s elapsed %s ETA %s\n",
                   (long long)s.step, (long long)s.total_steps, s.loss, s.lr, s.grad_norm, s.tokens_per_s,
                   clock(s.elapsed_s).c_str(), clock(s.eta_s).c_str());
    }
    std::fflush(stderr);
  }

  // Any long job's progress: a bar with `text` and the ETA on a terminal, a line otherwise.
  void bar(double frac, const std::string& text, double eta_s) {
    if (quiet_) return;
    if (tty_) {
      const int width = 30, filled = static_cast<int>(std::min(1.0, std::max(0.0, frac)) * width);
      std::fprintf(stderr, "\r[%s%s] %s ETA %s   ", std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                   text.c_str(), clock(eta_s).c_str());
    } else {
      std::fprintf(stderr, "%s ETA %s\n", text.c_str(), clock(eta_s).c_str());
    }
    std::fflush(stderr);
  }

  void line(const std::string& text) {
    if (quiet_) return;
    std::fprintf(stderr, "%s%s\n", tty_ ? "\r\033[K" : "", text.c_str());
    std::fflush(stderr);
  }

  static std::string clock(double s) {
    const long t = static_cast<long>(s + 0.5);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    return buf;
  }

 private:
  bool quiet_, tty_;
};

}  // namespace mabert::cli
