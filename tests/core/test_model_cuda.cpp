// The same model on the GPU and on the CPU gives the same outputs; the fused AdamW step on the GPU
// against LibTorch's AdamW there. Skips without a device.
#include "harness.h"
#include "fused_adamw_oracle.h"
#include "model_fixtures.h"

using namespace mabert;
using namespace mabert::test;

TEST_CASE(cuda_matches_cpu) {
  if (!torch::cuda::is_available()) SKIP("no CUDA device");
  for (const char* schedule : {"MMTMMT", "TBMP"}) {
    MaBert model(micro_config(schedule));
    model->eval();
    const PaddedBatch b = pad_batch(random_sentences({9, 4, 13}, 97, 11), 5, true);
    torch::NoGradGuard guard;
    EncoderOutput cpu = model->forward(b.ids, b.mask);
    model->to(torch::kCUDA);
    EncoderOutput gpu = model->forward(b.ids.cuda(), b.mask.cuda());
    const double dh = max_abs_diff(cpu.hidden, gpu.hidden.cpu()), dp = max_abs_diff(cpu.pooled, gpu.pooled.cpu());
    std::printf("    %s: max|cpu-gpu| hidden %.2e pooled %.2e\n", schedule, dh, dp);
    EXPECT_LE(dh, 1e-3);
    EXPECT_LE(dp, 1e-3);
  }
}

TEST_CASE(fused_adamw_on_cuda_matches_libtorch_adamw) {
  if (!torch::cuda::is_available()) SKIP("no CUDA device");
  check_fused_adamw_against_libtorch(torch::kCUDA);
}

TEST_MAIN()
