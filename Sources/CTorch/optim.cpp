// Optimizer updates and gradient clipping over many parameters in one call each: the same arithmetic as a loop of
// single ops from Swift, without a handle and a Swift object per intermediate.
#include <c10/core/GradMode.h>
#include "internal.h"

using ctorch::T;

extern "C" {

int ct_adam_step(CTTensor **params, CTTensor **exp_avg, CTTensor **exp_avg_sq, const int64_t *steps, int n,
                 double lr, double beta1, double beta2, double eps, double weight_decay, int decoupled) {
    try {
        c10::AutoGradMode no_grad(false);
        for (int i = 0; i < n; ++i) {
            at::Tensor &p = T(params[i]);
            at::Tensor g = p.grad();
            if (!g.defined()) continue;
            if (weight_decay != 0) {
                if (decoupled) p.mul_(1 - lr * weight_decay);
                else g = g + p * weight_decay;
            }
            at::Tensor &m = T(exp_avg[i]);
            at::Tensor &v = T(exp_avg_sq[i]);
            m.mul_(beta1).add_(g, 1 - beta1);
            v.mul_(beta2).addcmul_(g, g, 1 - beta2);
            const double t = static_cast<double>(steps[i]);
            const double correction1 = 1 - std::pow(beta1, t);
            const double correction2 = 1 - std::pow(beta2, t);
            at::Tensor denominator = (v / correction2).sqrt_().add_(eps);
            p.addcdiv_(m, denominator, -lr / correction1);
        }
        return 0;
    }
    CT_CATCH(-1)
}

double ct_clip_grad_norm(CTTensor **params, int n, double max_norm, int clip) {
    try {
        c10::AutoGradMode no_grad(false);
        std::vector<at::Tensor> grads;
        for (int i = 0; i < n; ++i) {
            at::Tensor g = T(params[i]).grad();
            if (g.defined()) grads.push_back(g);
        }
        if (grads.empty()) return 0;
        // Sum of squares in float64, one reduction per gradient, one read back.
        std::vector<at::Tensor> squares;
        squares.reserve(grads.size());
        for (auto &g : grads) squares.push_back(g.to(at::kDouble).square().sum());
        const double total = std::sqrt(at::stack(squares).sum().item<double>());
        const double scale = max_norm / (total + 1e-6);
        if (clip && scale < 1) {
            for (auto &g : grads) g.mul_(scale);
        }
        return total;
    }
    CT_CATCH(-1)
}

}  // extern "C"
