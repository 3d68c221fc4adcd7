// CPU kernel for fastspike::stdp_update.
#include "fastspike/checks.h"
#include "fastspike/math.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

namespace fastspike {
namespace {

void stdp_update_cpu(at::Tensor& weight, const at::Tensor& times_in, const at::Tensor& times_out,
                     const at::Tensor& winners, const at::Tensor& lr, int64_t T, bool stabilize,
                     double lb, double ub, bool clamp_all) {
  const auto s = check_stdp(weight, times_in, times_out, winners, lr, T, lb, ub);
  const auto& g = s.conv;
  if (g.B == 0 || weight.numel() == 0) return;
  const auto tin = times_in.contiguous();
  const auto tout = times_out.contiguous();
  const auto win = winners.to(at::kLong).contiguous();
  const auto rates = lr.contiguous();

  // Validate the winners and build each feature's ordered event list.
  std::vector<int32_t> ev_sample(g.F * g.B), ev_pos(g.F * g.B), ev_tpost(g.F * g.B),
      ev_count(g.F, 0);
  std::vector<int64_t> claimed(g.F, -1);
  const int64_t* wp = win.const_data_ptr<int64_t>();
  FASTSPIKE_DISPATCH_TIMES(tout.scalar_type(), "stdp_update", [&] {
    const tau_t* to = tout.const_data_ptr<tau_t>();
    for (int64_t b = 0; b < g.B; ++b) {
      bool any = false;  // (only used to skip samples without winners)
      for (int64_t r = 0; r < s.k; ++r) {
        const int64_t* w3 = wp + (b * s.k + r) * 3;
        const int64_t f = w3[0], y = w3[1], x = w3[2];
        if (f < 0) {  // padding row: fewer than k winners
          TORCH_CHECK(f == -1 && y == -1 && x == -1, "winners: sample ", b, " row ", r, " = (", f, ", ", y, ", ", x,
                      ") is neither a winner nor a (-1, -1, -1) padding row");
          continue;
        }
        TORCH_CHECK(f < g.F && y >= 0 && y < g.H && x >= 0 && x < g.W, "winners: sample ", b,
                    " row ", r, " = (", f, ", ", y, ", ", x, ") is out of range for output [",
                    g.F, ", ", g.H, ", ", g.W, "]");
        TORCH_CHECK(claimed[f] != b, "winners: sample ", b, " lists feature ", f,
                    " twice; k-WTA gives each feature at most one winner per sample");
        const int64_t tp = to[((b * g.F + f) * g.H + y) * g.W + x];
        TORCH_CHECK(tp < T, "winners: sample ", b, " row ", r, " = (", f, ", ", y, ", ", x,
                    ") did not fire (times_out = ", tp, " >= T = ", T, ")");
        claimed[f] = b;
        any = true;
      }
      if (!any && !clamp_all) continue;
      for (int64_t f = 0; f < g.F; ++f) {
        if (claimed[f] != b && !clamp_all) continue;
        const int64_t slot = f * g.B + ev_count[f]++;
        ev_sample[slot] = static_cast<int32_t>(b);
        ev_pos[slot] = -1;
        ev_tpost[slot] = 0;
      }
      for (int64_t r = 0; r < s.k; ++r) {
        const int64_t* w3 = wp + (b * s.k + r) * 3;
        const int64_t f = w3[0], y = w3[1], x = w3[2];
        if (f < 0) continue;
        const int64_t slot = f * g.B + ev_count[f] - 1;
        ev_pos[slot] = static_cast<int32_t>(y * g.W + x);
        ev_tpost[slot] = to[((b * g.F + f) * g.H + y) * g.W + x];
      }
    }
  });

  float* wt = weight.mutable_data_ptr<float>();
  const float* lrp = rates.const_data_ptr<float>();
  const int64_t per_f = g.C * g.kh * g.kw;
  const float lbf = static_cast<float>(lb), ubf = static_cast<float>(ub);
  FASTSPIKE_DISPATCH_TIMES(tin.scalar_type(), "stdp_update", [&] {
    const tau_t* ti = tin.const_data_ptr<tau_t>();
    at::parallel_for(0, g.F, 1, [&](int64_t f0, int64_t f1) {
      ScopedFlushDenormal ftz;
      for (int64_t f = f0; f < f1; ++f) {
        float* wf = wt + f * per_f;
        // Events in sample order; the weight elements are independent, so replaying
        // event by event equals stdp_replay's element-by-element replay (the CUDA
        // kernel's order), with the same per-synapse arithmetic (math::stdp_step).
        for (int32_t e = 0; e < ev_count[f]; ++e) {
          const int64_t slot = f * g.B + e;
          const int32_t pos = ev_pos[slot];
          if (pos < 0) {
            for (int64_t q = 0; q < per_f; ++q) wf[q] = math::clamp_weight(wf[q], lbf, ubf);
            continue;
          }
          const int64_t b = ev_sample[slot], y = pos / g.W, x = pos % g.W;
          const int t_post = ev_tpost[slot];
          const float* r = s.per_feature_lr ? lrp + (b * g.F + f) * 2 : lrp + b * 2;
          const float a_plus = r[0], a_minus = r[1];
          float* w = wf;
          for (int64_t c = 0; c < g.C; ++c) {
            for (int64_t i = 0; i < g.kh; ++i) {
              const tau_t* row = ti + ((b * g.C + c) * g.Hp + (y + i)) * g.Wp + x;
              for (int64_t j = 0; j < g.kw; ++j, ++w)
                *w = math::stdp_step(*w, row[j] <= t_post, a_plus, a_minus, stabilize, lbf, ubf);
            }
          }
        }
      }
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(fastspike, CPU, m) { m.impl("stdp_update", &stdp_update_cpu); }

}  // namespace fastspike
