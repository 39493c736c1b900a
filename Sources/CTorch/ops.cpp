// Tensor operations: elementwise, reductions, shape and indexing, linear algebra, nn ops, losses.
#include "internal.h"
#include <ATen/Context.h>
#include <c10/core/GradMode.h>

using namespace ctorch;

namespace {

at::Tensor unary(int op, const at::Tensor &a) {
    switch (op) {
        case CT_NEG: return a.neg();
        case CT_ABS: return a.abs();
        case CT_EXP: return a.exp();
        case CT_LOG: return a.log();
        case CT_SQRT: return a.sqrt();
        case CT_RSQRT: return a.rsqrt();
        case CT_SIN: return a.sin();
        case CT_COS: return a.cos();
        case CT_TANH: return a.tanh();
        case CT_SIGMOID: return a.sigmoid();
        case CT_RELU: return a.relu();
        case CT_GELU: return at::gelu(a);
        case CT_SIGN: return a.sign();
        case CT_FLOOR: return a.floor();
        case CT_CEIL: return a.ceil();
        case CT_ROUND: return a.round();
        case CT_SQUARE: return a.square();
        case CT_RECIPROCAL: return a.reciprocal();
        case CT_LOG1P: return a.log1p();
        case CT_EXPM1: return a.expm1();
        case CT_ERF: return a.erf();
        case CT_ISNAN: return a.isnan();
        case CT_ISINF: return a.isinf();
        case CT_ISFINITE: return a.isfinite();
        case CT_LOGICAL_NOT: return a.logical_not();
        case CT_SILU: return at::silu(a);
        case CT_SOFTPLUS: return at::softplus(a);
    }
    throw std::invalid_argument("unknown unary op " + std::to_string(op));
}

at::Tensor binary(int op, const at::Tensor &a, const at::Tensor &b) {
    switch (op) {
        case CT_ADD: return at::add(a, b);
        case CT_SUB: return at::sub(a, b);
        case CT_MUL: return at::mul(a, b);
        case CT_DIV: return at::div(a, b);
        case CT_POW: return at::pow(a, b);
        case CT_MAXIMUM: return at::maximum(a, b);
        case CT_MINIMUM: return at::minimum(a, b);
        case CT_EQ: return at::eq(a, b);
        case CT_NE: return at::ne(a, b);
        case CT_LT: return at::lt(a, b);
        case CT_LE: return at::le(a, b);
        case CT_GT: return at::gt(a, b);
        case CT_GE: return at::ge(a, b);
        case CT_LOGICAL_AND: return at::logical_and(a, b);
        case CT_LOGICAL_OR: return at::logical_or(a, b);
        case CT_REMAINDER: return at::remainder(a, b);
        case CT_ATAN2: return at::atan2(a, b);
    }
    throw std::invalid_argument("unknown binary op " + std::to_string(op));
}

// A scalar operand as a 0-dim tensor of a's dtype (or float64 for integer a with a fractional scalar),
// so type promotion follows PyTorch's rules for Python scalars.
at::Tensor scalar_like(const at::Tensor &a, double s) {
    bool keep = a.is_floating_point() || (a.scalar_type() != at::kBool && std::floor(s) == s);
    return at::scalar_tensor(s, at::TensorOptions().dtype(keep ? a.scalar_type() : at::kDouble).device(a.device()));
}

at::Tensor binary_scalar(int op, const at::Tensor &a, double s, bool reversed) {
    at::Scalar sc(s);
    if (!reversed) {
        switch (op) {
            case CT_ADD: return at::add(a, sc);
            case CT_SUB: return at::sub(a, sc);
            case CT_MUL: return at::mul(a, sc);
            case CT_DIV: return at::div(a, sc);
            case CT_POW: return at::pow(a, sc);
            case CT_EQ: return at::eq(a, sc);
            case CT_NE: return at::ne(a, sc);
            case CT_LT: return at::lt(a, sc);
            case CT_LE: return at::le(a, sc);
            case CT_GT: return at::gt(a, sc);
            case CT_GE: return at::ge(a, sc);
            case CT_REMAINDER: return at::remainder(a, sc);
            default: break;
        }
        return binary(op, a, scalar_like(a, s));
    }
    switch (op) {
        case CT_ADD: return at::add(a, sc);
        case CT_SUB: return at::rsub(a, sc);
        case CT_MUL: return at::mul(a, sc);
        case CT_POW: return at::pow(sc, a);
        default: break;
    }
    return binary(op, scalar_like(a, s), a);
}

void binary_(int op, at::Tensor &a, const at::Tensor &b) {
    switch (op) {
        case CT_ADD: a.add_(b); return;
        case CT_SUB: a.sub_(b); return;
        case CT_MUL: a.mul_(b); return;
        case CT_DIV: a.div_(b); return;
        case CT_POW: a.pow_(b); return;
        case CT_MAXIMUM: a.copy_(at::maximum(a, b)); return;
        case CT_MINIMUM: a.copy_(at::minimum(a, b)); return;
    }
    throw std::invalid_argument("binary op " + std::to_string(op) + " has no in-place form");
}

at::Reduction::Reduction reduction(int r) {
    switch (r) {
        case CT_REDUCTION_NONE: return at::Reduction::None;
        case CT_REDUCTION_MEAN: return at::Reduction::Mean;
        case CT_REDUCTION_SUM: return at::Reduction::Sum;
    }
    throw std::invalid_argument("unknown reduction " + std::to_string(r));
}

std::vector<at::Tensor> tensor_list(CTTensor **tensors, int n) {
    std::vector<at::Tensor> list;
    list.reserve(n);
    for (int i = 0; i < n; i++) list.push_back(T(tensors[i]));
    return list;
}

std::vector<int64_t> all_dims(const at::Tensor &a) {
    std::vector<int64_t> dims(a.dim());
    for (int64_t i = 0; i < a.dim(); i++) dims[i] = i;
    return dims;
}

}  // namespace

extern "C" {

CTTensor *ct_unary(int op, CTTensor *a) { CT_TENSOR(unary(op, T(a))) }
CTTensor *ct_binary(int op, CTTensor *a, CTTensor *b) { CT_TENSOR(binary(op, T(a), T(b))) }
CTTensor *ct_binary_scalar(int op, CTTensor *a, double s, int reversed) {
    CT_TENSOR(binary_scalar(op, T(a), s, reversed != 0))
}
int ct_binary_(int op, CTTensor *a, CTTensor *b) { CT_STATUS(binary_(op, T(a), T(b))) }
int ct_binary_scalar_(int op, CTTensor *a, double s) {
    CT_STATUS({
        auto &t = T(a);
        switch (op) {
            case CT_ADD: t.add_(s); break;
            case CT_SUB: t.sub_(s); break;
            case CT_MUL: t.mul_(s); break;
            case CT_DIV: t.div_(s); break;
            case CT_POW: t.pow_(s); break;
            default: throw std::invalid_argument("binary op " + std::to_string(op) + " has no in-place scalar form");
        }
    })
}
int ct_add_scaled_(CTTensor *a, CTTensor *b, double alpha) { CT_STATUS(T(a).add_(T(b), alpha)) }
int ct_addcmul_(CTTensor *a, CTTensor *t1, CTTensor *t2, double value) { CT_STATUS(T(a).addcmul_(T(t1), T(t2), value)) }
int ct_addcdiv_(CTTensor *a, CTTensor *t1, CTTensor *t2, double value) { CT_STATUS(T(a).addcdiv_(T(t1), T(t2), value)) }
int ct_copy_(CTTensor *dst, CTTensor *src) { CT_STATUS(T(dst).copy_(T(src))) }
int ct_fill_(CTTensor *a, double value) { CT_STATUS(T(a).fill_(value)) }
CTTensor *ct_clamp(CTTensor *a, double min, double max, int has_min, int has_max) {
    CT_TENSOR(at::clamp(T(a), has_min ? c10::optional<at::Scalar>(min) : c10::nullopt,
                        has_max ? c10::optional<at::Scalar>(max) : c10::nullopt))
}
CTTensor *ct_where(CTTensor *condition, CTTensor *a, CTTensor *b) { CT_TENSOR(at::where(T(condition), T(a), T(b))) }
CTTensor *ct_leaky_relu(CTTensor *a, double slope) { CT_TENSOR(at::leaky_relu(T(a), slope)) }
CTTensor *ct_elu(CTTensor *a, double alpha) { CT_TENSOR(at::elu(T(a), alpha)) }

CTTensor *ct_reduce(int op, CTTensor *a, const int64_t *dims, int ndims, int keepdim) {
    CT_TENSOR(({
        auto &t = T(a);
        std::vector<int64_t> d = ndims > 0 ? std::vector<int64_t>(dims, dims + ndims) : all_dims(t);
        bool all = ndims == 0;
        bool keep = keepdim != 0;
        at::Tensor r;
        switch (op) {
            case CT_SUM: r = all && !keep ? t.sum() : t.sum(d, keep); break;
            case CT_MEAN: r = all && !keep ? t.mean() : t.mean(d, keep); break;
            case CT_AMAX: r = all && !keep ? t.max() : t.amax(d, keep); break;
            case CT_AMIN: r = all && !keep ? t.min() : t.amin(d, keep); break;
            case CT_LOGSUMEXP: r = t.logsumexp(d, keep); break;
            case CT_PROD:
            case CT_ANY:
            case CT_ALL: {
                r = t;
                // Reduce from the last axis down so earlier axes keep their positions; wrap negative
                // dims first, or a dim counted from the end would shift as axes are removed.
                for (auto &dim : d) dim = at::maybe_wrap_dim(dim, t.dim());
                std::sort(d.begin(), d.end(), std::greater<int64_t>());
                for (auto dim : d) {
                    if (op == CT_PROD) r = r.prod(dim, keep);
                    else if (op == CT_ANY) r = r.any(dim, keep);
                    else r = r.all(dim, keep);
                }
                break;
            }
            default: throw std::invalid_argument("unknown reduction op " + std::to_string(op));
        }
        r;
    }))
}
CTTensor *ct_var(CTTensor *a, const int64_t *dims, int ndims, int unbiased, int keepdim, int take_sqrt) {
    CT_TENSOR(({
        auto &t = T(a);
        std::vector<int64_t> d = ndims > 0 ? std::vector<int64_t>(dims, dims + ndims) : all_dims(t);
        take_sqrt ? at::std(t, d, unbiased != 0, keepdim != 0) : at::var(t, d, unbiased != 0, keepdim != 0);
    }))
}
int ct_max_dim(CTTensor *a, int64_t dim, int keepdim, int is_min, CTTensor **values, CTTensor **indices) {
    CT_STATUS({
        auto r = is_min ? at::min(T(a), dim, keepdim != 0) : at::max(T(a), dim, keepdim != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    })
}
// The indices of max/min along `dim`: the same indices as argmax/argmin (the first of tied values, NaN wins), but
// libtorch 1.13's argmax over the channel dimension of a [2, 6, 24, 96, 64] tensor takes about 45 ms on 2 cores
// where max takes 6 ms (two such calls were 5 % of a training step).
CTTensor *ct_argmax(CTTensor *a, int64_t dim, int keepdim, int is_min) {
    CT_TENSOR(std::get<1>(is_min ? at::min(T(a), dim, keepdim != 0) : at::max(T(a), dim, keepdim != 0)))
}
int ct_topk(CTTensor *a, int64_t k, int64_t dim, int largest, CTTensor **values, CTTensor **indices) {
    CT_STATUS({
        auto r = at::topk(T(a), k, dim, largest != 0, true);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    })
}
int ct_sort(CTTensor *a, int64_t dim, int descending, CTTensor **values, CTTensor **indices) {
    CT_STATUS({
        auto r = at::sort(T(a), dim, descending != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    })
}
CTTensor *ct_cumsum(CTTensor *a, int64_t dim) { CT_TENSOR(at::cumsum(T(a), dim)) }

CTTensor *ct_reshape(CTTensor *a, const int64_t *shape, int ndim) { CT_TENSOR(T(a).reshape(ints(shape, ndim))) }
CTTensor *ct_permute(CTTensor *a, const int64_t *dims, int ndim) { CT_TENSOR(T(a).permute(ints(dims, ndim))) }
CTTensor *ct_transpose(CTTensor *a, int64_t d0, int64_t d1) { CT_TENSOR(T(a).transpose(d0, d1)) }
CTTensor *ct_expand(CTTensor *a, const int64_t *shape, int ndim) { CT_TENSOR(T(a).expand(ints(shape, ndim))) }
CTTensor *ct_repeat(CTTensor *a, const int64_t *repeats, int ndim) { CT_TENSOR(T(a).repeat(ints(repeats, ndim))) }
CTTensor *ct_squeeze(CTTensor *a, int64_t dim) { CT_TENSOR(T(a).squeeze(dim)) }
CTTensor *ct_unsqueeze(CTTensor *a, int64_t dim) { CT_TENSOR(T(a).unsqueeze(dim)) }
CTTensor *ct_flatten(CTTensor *a, int64_t start, int64_t end) { CT_TENSOR(T(a).flatten(start, end)) }
CTTensor *ct_flip(CTTensor *a, const int64_t *dims, int ndim) { CT_TENSOR(T(a).flip(ints(dims, ndim))) }
CTTensor *ct_slice(CTTensor *a, int64_t dim, int64_t start, int64_t end, int64_t step) {
    CT_TENSOR(T(a).slice(dim, start, end, step))
}
CTTensor *ct_select(CTTensor *a, int64_t dim, int64_t index) { CT_TENSOR(T(a).select(dim, index)) }
CTTensor *ct_index_select(CTTensor *a, int64_t dim, CTTensor *index) { CT_TENSOR(T(a).index_select(dim, T(index))) }
CTTensor *ct_gather(CTTensor *a, int64_t dim, CTTensor *index) { CT_TENSOR(T(a).gather(dim, T(index))) }
CTTensor *ct_scatter_add(CTTensor *a, int64_t dim, CTTensor *index, CTTensor *src) {
    CT_TENSOR(T(a).scatter_add(dim, T(index), T(src)))
}
CTTensor *ct_masked_select(CTTensor *a, CTTensor *mask) { CT_TENSOR(T(a).masked_select(T(mask))) }
CTTensor *ct_masked_fill(CTTensor *a, CTTensor *mask, double value) { CT_TENSOR(T(a).masked_fill(T(mask), value)) }
CTTensor *ct_nonzero(CTTensor *a) { CT_TENSOR(T(a).nonzero()) }
CTTensor *ct_one_hot(CTTensor *a, int64_t num_classes) { CT_TENSOR(at::one_hot(T(a), num_classes)) }
CTTensor *ct_cat(CTTensor **tensors, int n, int64_t dim) { CT_TENSOR(at::cat(tensor_list(tensors, n), dim)) }
CTTensor *ct_stack(CTTensor **tensors, int n, int64_t dim) { CT_TENSOR(at::stack(tensor_list(tensors, n), dim)) }
CTTensor *ct_pad(CTTensor *a, const int64_t *pad, int npad, int mode, double value) {
    CT_TENSOR(({
        auto &t = T(a);
        auto p = ints(pad, npad);
        at::Tensor r;
        switch (mode) {
            case CT_PAD_CONSTANT: r = at::constant_pad_nd(t, p, value); break;
            case CT_PAD_REFLECT:
                if (npad == 6) r = at::reflection_pad3d(t, p);
                else if (npad == 4) r = at::reflection_pad2d(t, p);
                else if (npad == 2) r = at::reflection_pad1d(t, p);
                else throw std::invalid_argument("reflect padding takes 2, 4 or 6 values");
                break;
            case CT_PAD_REPLICATE:
                if (npad == 6) r = at::replication_pad3d(t, p);
                else if (npad == 4) r = at::replication_pad2d(t, p);
                else if (npad == 2) r = at::replication_pad1d(t, p);
                else throw std::invalid_argument("replicate padding takes 2, 4 or 6 values");
                break;
            default: throw std::invalid_argument("unknown padding mode " + std::to_string(mode));
        }
        r;
    }))
}

CTTensor *ct_matmul(CTTensor *a, CTTensor *b) { CT_TENSOR(at::matmul(T(a), T(b))) }
CTTensor *ct_linear(CTTensor *input, CTTensor *weight, CTTensor *bias) {
    CT_TENSOR(at::linear(T(input), T(weight), opt(bias)))
}

// libtorch chooses the convolution kernel with a heuristic written for 2-D inputs (ConvUtils' use_mkldnn): a batch of
// one whose N·C·D·H is at most 20480 goes to the native vol2col kernel, whatever W is, which on a 24×96×64 volume is
// 3-7x slower than oneDNN (`rachis model summary --batch 1 --time 3`). Inference runs batch 1, so without gradients
// a CPU float32 convolution of batch 1 goes to oneDNN directly; with gradients libtorch's own choice stands (its
// double backward, which the attribution constraint needs, is defined on that path).
CTTensor *ct_conv3d(CTTensor *input, CTTensor *weight, CTTensor *bias, const int64_t *stride,
                    const int64_t *padding, const int64_t *dilation, int64_t groups) {
    CT_TENSOR(({
        const at::Tensor &x = T(input);
        const bool onednn = at::hasMKLDNN() && !at::GradMode::is_enabled() && x.device().is_cpu() &&
                            x.scalar_type() == at::kFloat && T(weight).scalar_type() == at::kFloat && x.dim() == 5 &&
                            x.size(0) == 1;
        onednn ? at::mkldnn_convolution(x, T(weight), opt(bias), ints(padding, 3), ints(stride, 3), ints(dilation, 3), groups)
               : at::conv3d(x, T(weight), opt(bias), ints(stride, 3), ints(padding, 3), ints(dilation, 3), groups);
    }))
}
CTTensor *ct_conv_transpose3d(CTTensor *input, CTTensor *weight, CTTensor *bias, const int64_t *stride,
                              const int64_t *padding, const int64_t *output_padding, int64_t groups,
                              const int64_t *dilation) {
    CT_TENSOR(at::conv_transpose3d(T(input), T(weight), opt(bias), ints(stride, 3), ints(padding, 3),
                                   ints(output_padding, 3), groups, ints(dilation, 3)))
}
CTTensor *ct_max_pool3d(CTTensor *input, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                        const int64_t *dilation, int ceil_mode) {
    CT_TENSOR(at::max_pool3d(T(input), ints(kernel, 3), ints(stride, 3), ints(padding, 3), ints(dilation, 3),
                             ceil_mode != 0))
}
CTTensor *ct_avg_pool3d(CTTensor *input, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                        int ceil_mode, int count_include_pad) {
    CT_TENSOR(at::avg_pool3d(T(input), ints(kernel, 3), ints(stride, 3), ints(padding, 3), ceil_mode != 0,
                             count_include_pad != 0))
}
CTTensor *ct_adaptive_avg_pool3d(CTTensor *input, const int64_t *output_size) {
    CT_TENSOR(at::adaptive_avg_pool3d(T(input), ints(output_size, 3)))
}
CTTensor *ct_adaptive_max_pool3d(CTTensor *input, const int64_t *output_size) {
    CT_TENSOR(std::get<0>(at::adaptive_max_pool3d(T(input), ints(output_size, 3))))
}
CTTensor *ct_upsample_trilinear3d(CTTensor *input, const int64_t *size, int align_corners) {
    CT_TENSOR(at::upsample_trilinear3d(T(input), ints(size, 3), align_corners != 0))
}
CTTensor *ct_upsample_nearest3d(CTTensor *input, const int64_t *size) {
    CT_TENSOR(at::upsample_nearest3d(T(input), ints(size, 3)))
}
CTTensor *ct_group_norm(CTTensor *input, int64_t groups, CTTensor *weight, CTTensor *bias, double eps) {
    CT_TENSOR(at::group_norm(T(input), groups, opt(weight), opt(bias), eps, true))
}
CTTensor *ct_batch_norm(CTTensor *input, CTTensor *weight, CTTensor *bias, CTTensor *running_mean,
                        CTTensor *running_var, int training, double momentum, double eps) {
    CT_TENSOR(at::batch_norm(T(input), opt(weight), opt(bias), opt(running_mean), opt(running_var), training != 0,
                             momentum, eps, true))
}
CTTensor *ct_instance_norm(CTTensor *input, CTTensor *weight, CTTensor *bias, CTTensor *running_mean,
                           CTTensor *running_var, int use_input_stats, double momentum, double eps) {
    CT_TENSOR(at::instance_norm(T(input), opt(weight), opt(bias), opt(running_mean), opt(running_var),
                                use_input_stats != 0, momentum, eps, true))
}
CTTensor *ct_layer_norm(CTTensor *input, const int64_t *normalized_shape, int ndim, CTTensor *weight, CTTensor *bias,
                        double eps) {
    CT_TENSOR(at::layer_norm(T(input), ints(normalized_shape, ndim), opt(weight), opt(bias), eps, true))
}
CTTensor *ct_dropout(CTTensor *input, double p, int train) { CT_TENSOR(at::dropout(T(input), p, train != 0)) }
CTTensor *ct_softmax(CTTensor *input, int64_t dim) { CT_TENSOR(at::softmax(T(input), dim)) }
CTTensor *ct_log_softmax(CTTensor *input, int64_t dim) { CT_TENSOR(at::log_softmax(T(input), dim)) }

CTTensor *ct_cross_entropy(CTTensor *input, CTTensor *target, CTTensor *weight, int r, int64_t ignore_index,
                           double label_smoothing) {
    CT_TENSOR(at::cross_entropy_loss(T(input), T(target), opt(weight), reduction(r), ignore_index, label_smoothing))
}
CTTensor *ct_nll_loss(CTTensor *input, CTTensor *target, CTTensor *weight, int r, int64_t ignore_index) {
    CT_TENSOR(at::nll_loss_nd(T(input), T(target), opt(weight), reduction(r), ignore_index))
}
CTTensor *ct_bce_with_logits(CTTensor *input, CTTensor *target, CTTensor *weight, CTTensor *pos_weight, int r) {
    CT_TENSOR(at::binary_cross_entropy_with_logits(T(input), T(target), opt(weight), opt(pos_weight), reduction(r)))
}
CTTensor *ct_mse_loss(CTTensor *input, CTTensor *target, int r) { CT_TENSOR(at::mse_loss(T(input), T(target), reduction(r))) }
CTTensor *ct_l1_loss(CTTensor *input, CTTensor *target, int r) { CT_TENSOR(at::l1_loss(T(input), T(target), reduction(r))) }
CTTensor *ct_smooth_l1_loss(CTTensor *input, CTTensor *target, int r, double beta) {
    CT_TENSOR(at::smooth_l1_loss(T(input), T(target), reduction(r), beta))
}

}  // extern "C"
