// Library state, tensor lifetime and metadata, creation, conversion, autograd.
#include "internal.h"
#include <ATen/Parallel.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/csrc/autograd/generated/variable_factories.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <cstring>
#include <fstream>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <mutex>

using namespace ctorch;

namespace ctorch {

thread_local std::string last_error;
thread_local bool has_error = false;

void set_error(const std::string &message) {
    last_error = message;
    has_error = true;
}

at::ScalarType scalar_type(int dtype) {
    switch (dtype) {
        case CT_FLOAT32: return at::kFloat;
        case CT_FLOAT64: return at::kDouble;
        case CT_INT64: return at::kLong;
        case CT_INT32: return at::kInt;
        case CT_INT16: return at::kShort;
        case CT_INT8: return at::kChar;
        case CT_UINT8: return at::kByte;
        case CT_BOOL: return at::kBool;
        case CT_FLOAT16: return at::kHalf;
        case CT_BFLOAT16: return at::kBFloat16;
    }
    throw std::invalid_argument("unknown dtype code " + std::to_string(dtype));
}

int dtype_code(at::ScalarType type) {
    switch (type) {
        case at::kFloat: return CT_FLOAT32;
        case at::kDouble: return CT_FLOAT64;
        case at::kLong: return CT_INT64;
        case at::kInt: return CT_INT32;
        case at::kShort: return CT_INT16;
        case at::kChar: return CT_INT8;
        case at::kByte: return CT_UINT8;
        case at::kBool: return CT_BOOL;
        case at::kHalf: return CT_FLOAT16;
        case at::kBFloat16: return CT_BFLOAT16;
        default: throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(type));
    }
}

at::Device device(int type, int index) {
    if (type == CT_DEVICE_CPU) return at::Device(at::kCPU);
    if (type == CT_DEVICE_CUDA) return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index < 0 ? 0 : index));
    throw std::invalid_argument("unknown device type " + std::to_string(type));
}

}  // namespace ctorch

extern "C" {

const char *ct_last_error(void) { return has_error ? last_error.c_str() : nullptr; }
void ct_clear_error(void) {
    has_error = false;
    last_error.clear();
}

const char *ct_version(void) { return TORCH_VERSION; }

static char *copy_string(const std::string &s) {
    char *out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out) std::memcpy(out, s.c_str(), s.size() + 1);
    return out;
}
char *ct_build_config(void) { try { return copy_string(at::show_config()); } CT_CATCH(nullptr) }
char *ct_parallel_info(void) { try { return copy_string(at::get_parallel_info()); } CT_CATCH(nullptr) }
void ct_free_string(char *s) { std::free(s); }

int ct_get_num_threads(void) { try { return at::get_num_threads(); } CT_CATCH(-1) }
int ct_set_num_threads(int n) {
    CT_STATUS({
        if (n < 1) throw std::invalid_argument("thread count must be at least 1, got " + std::to_string(n));
        at::set_num_threads(n);
    })
}
int ct_configure_malloc(int64_t mmap_threshold, int64_t trim_threshold, int arena_max) {
#if defined(__GLIBC__)
    bool ok = true;
    if (arena_max > 0) ok &= mallopt(M_ARENA_MAX, arena_max) == 1;
    if (mmap_threshold > 0) ok &= mallopt(M_MMAP_THRESHOLD, static_cast<int>(std::min<int64_t>(mmap_threshold, INT32_MAX))) == 1;
    if (trim_threshold > 0) ok &= mallopt(M_TRIM_THRESHOLD, static_cast<int>(std::min<int64_t>(trim_threshold, INT32_MAX))) == 1;
    if (!ok) set_error("mallopt refused a setting");
    return ok ? 0 : -1;
#else
    set_error("not glibc: malloc settings are left as they are");
    return -1;
#endif
}

static std::mutex profile_lock;
static std::unique_ptr<torch::autograd::profiler::RecordProfile> active_profile;
int ct_profile_start(const char *path) {
    CT_STATUS({
        std::lock_guard<std::mutex> guard(profile_lock);
        if (active_profile) throw std::logic_error("a profile is already being recorded");
        std::ofstream probe(path);
        if (!probe) throw std::invalid_argument(std::string("cannot write the trace ") + path);
        probe.close();
        active_profile = std::make_unique<torch::autograd::profiler::RecordProfile>(std::string(path));
    })
}
int ct_profile_stop(void) {
    CT_STATUS({
        std::lock_guard<std::mutex> guard(profile_lock);
        if (!active_profile) throw std::logic_error("no profile is being recorded");
        active_profile.reset();  // writes the trace
    })
}
int ct_cuda_is_available(void) { try { return torch::cuda::is_available() ? 1 : 0; } CT_CATCH(0) }
int ct_cuda_device_count(void) { try { return static_cast<int>(torch::cuda::device_count()); } CT_CATCH(0) }
int ct_manual_seed(uint64_t seed) { CT_STATUS(at::manual_seed(seed)) }

CTTensor *ct_rng_get_state(void) {
    CT_TENSOR(({
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.get_state();
    }))
}
int ct_rng_set_state(CTTensor *state) {
    CT_STATUS({
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_state(T(state));
    })
}
int ct_is_grad_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }
int ct_set_grad_enabled(int enabled) {
    int previous = at::GradMode::is_enabled() ? 1 : 0;
    at::GradMode::set_enabled(enabled != 0);
    return previous;
}

CTTensor *ct_from_data(const void *data, const int64_t *shape, int ndim, int dtype) {
    CT_TENSOR(({
        auto options = at::TensorOptions().dtype(scalar_type(dtype));
        auto t = at::empty(ints(shape, ndim), options);
        if (t.numel() > 0) std::memcpy(t.data_ptr(), data, t.numel() * t.element_size());
        t;
    }))
}
void ct_free(CTTensor *t) {
    if (t != nullptr) --ctorch::live_on_thread;
    delete reinterpret_cast<at::Tensor *>(t);
}
int64_t ct_thread_live_tensors(void) { return ctorch::live_on_thread; }
int ct_copy_data(CTTensor *t, void *out, int64_t nbytes) {
    CT_STATUS({
        auto c = T(t).to(at::kCPU).contiguous();
        int64_t need = c.numel() * static_cast<int64_t>(c.element_size());
        if (need != nbytes)
            throw std::invalid_argument("buffer holds " + std::to_string(nbytes) + " bytes, tensor needs " + std::to_string(need));
        if (need > 0) std::memcpy(out, c.data_ptr(), need);
    })
}
int ct_ndim(CTTensor *t) { try { return static_cast<int>(T(t).dim()); } CT_CATCH(-1) }
int ct_shape(CTTensor *t, int64_t *out) {
    CT_STATUS({
        auto s = T(t).sizes();
        std::copy(s.begin(), s.end(), out);
    })
}
int ct_strides(CTTensor *t, int64_t *out) {
    CT_STATUS({
        auto s = T(t).strides();
        std::copy(s.begin(), s.end(), out);
    })
}
int64_t ct_numel(CTTensor *t) { try { return T(t).numel(); } CT_CATCH(-1) }
int ct_dtype(CTTensor *t) { try { return dtype_code(T(t).scalar_type()); } CT_CATCH(-1) }
int ct_device(CTTensor *t, int *type, int *index) {
    CT_STATUS({
        auto d = T(t).device();
        *type = d.is_cuda() ? CT_DEVICE_CUDA : CT_DEVICE_CPU;
        *index = d.is_cuda() ? d.index() : -1;
    })
}
int ct_defined(CTTensor *t) { try { return T(t).defined() ? 1 : 0; } CT_CATCH(-1) }
int ct_is_contiguous(CTTensor *t) { try { return T(t).is_contiguous() ? 1 : 0; } CT_CATCH(-1) }
int ct_is_channels_last_3d(CTTensor *t) {
    try { return T(t).is_contiguous(at::MemoryFormat::ChannelsLast3d) ? 1 : 0; } CT_CATCH(-1)
}
double ct_item_double(CTTensor *t) { try { return T(t).item<double>(); } CT_CATCH(NAN) }
int64_t ct_item_int64(CTTensor *t) { try { return T(t).item<int64_t>(); } CT_CATCH(INT64_MIN) }
CTTensor *ct_shallow_clone(CTTensor *t) { CT_TENSOR(T(t)) }

CTTensor *ct_fill(int kind, const int64_t *shape, int ndim, int dtype, int device_type, int device_index) {
    CT_TENSOR(({
        auto options = at::TensorOptions().dtype(scalar_type(dtype)).device(device(device_type, device_index));
        auto size = ints(shape, ndim);
        at::Tensor t;
        switch (kind) {
            case CT_FILL_ZEROS: t = at::zeros(size, options); break;
            case CT_FILL_ONES: t = at::ones(size, options); break;
            case CT_FILL_RAND: t = at::rand(size, options); break;
            case CT_FILL_RANDN: t = at::randn(size, options); break;
            case CT_FILL_EMPTY: t = at::empty(size, options); break;
            default: throw std::invalid_argument("unknown fill kind " + std::to_string(kind));
        }
        t;
    }))
}
CTTensor *ct_full(const int64_t *shape, int ndim, double value, int dtype, int device_type, int device_index) {
    CT_TENSOR(at::full(ints(shape, ndim), value,
                       at::TensorOptions().dtype(scalar_type(dtype)).device(device(device_type, device_index))))
}
CTTensor *ct_arange(double start, double end, double step, int dtype) {
    CT_TENSOR(at::arange(start, end, step, at::TensorOptions().dtype(scalar_type(dtype))))
}
CTTensor *ct_linspace(double start, double end, int64_t steps, int dtype) {
    CT_TENSOR(at::linspace(start, end, steps, at::TensorOptions().dtype(scalar_type(dtype))))
}
CTTensor *ct_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, int dtype) {
    CT_TENSOR(at::randint(low, high, ints(shape, ndim), at::TensorOptions().dtype(scalar_type(dtype))))
}
CTTensor *ct_eye(int64_t n, int dtype) { CT_TENSOR(at::eye(n, at::TensorOptions().dtype(scalar_type(dtype)))) }

CTTensor *ct_to(CTTensor *t, int dtype, int device_type, int device_index) {
    CT_TENSOR(T(t).to(device(device_type, device_index), scalar_type(dtype)))
}
CTTensor *ct_contiguous(CTTensor *t) { CT_TENSOR(T(t).contiguous()) }
CTTensor *ct_to_channels_last_3d(CTTensor *t) { CT_TENSOR(T(t).contiguous(at::MemoryFormat::ChannelsLast3d)) }
CTTensor *ct_clone(CTTensor *t) { CT_TENSOR(T(t).clone()) }
CTTensor *ct_detach(CTTensor *t) { CT_TENSOR(T(t).detach()) }
int ct_set_data(CTTensor *t, CTTensor *src) { CT_STATUS(T(t).set_data(T(src))) }

int ct_requires_grad(CTTensor *t) { try { return T(t).requires_grad() ? 1 : 0; } CT_CATCH(-1) }
int ct_set_requires_grad(CTTensor *t, int flag) { CT_STATUS(T(t).set_requires_grad(flag != 0)) }
CTTensor *ct_grad(CTTensor *t, int *defined) {
    try {
        auto g = T(t).grad();
        *defined = g.defined() ? 1 : 0;
        return g.defined() ? wrap(g) : nullptr;
    }
    CT_CATCH(nullptr)
}
int ct_zero_grad(CTTensor *t) {
    CT_STATUS({
        auto &g = T(t).mutable_grad();
        if (g.defined()) g = at::Tensor();
    })
}
int ct_set_grad(CTTensor *t, CTTensor *grad) {
    CT_STATUS({
        auto &g = T(t).mutable_grad();
        g = grad == nullptr ? at::Tensor() : T(grad);
    })
}
int ct_backward(CTTensor *t, CTTensor *grad_output, int retain_graph, int create_graph) {
    CT_STATUS({
        auto &out = T(t);
        at::Tensor g = grad_output ? T(grad_output) : at::Tensor();
        if (!g.defined() && out.numel() != 1)
            throw std::invalid_argument("backward of a tensor with " + std::to_string(out.numel()) +
                                        " elements needs a gradient of the same shape");
        out.backward(g, retain_graph != 0 ? c10::optional<bool>(true) : c10::nullopt, create_graph != 0);
    })
}
int ct_gradients(CTTensor **outputs, int n_outputs, CTTensor **inputs, int n_inputs, CTTensor **grad_outputs,
                 int retain_graph, int create_graph, int allow_unused, CTTensor **out) {
    CT_STATUS({
        std::vector<at::Tensor> outs, ins, gos;
        for (int i = 0; i < n_outputs; i++) {
            outs.push_back(T(outputs[i]));
            gos.push_back(grad_outputs && grad_outputs[i] ? T(grad_outputs[i]) : at::ones_like(outs.back()));
        }
        for (int i = 0; i < n_inputs; i++) ins.push_back(T(inputs[i]));
        auto grads = torch::autograd::grad(outs, ins, gos,
                                           retain_graph != 0 || create_graph != 0 ? c10::optional<bool>(true) : c10::optional<bool>(false),
                                           create_graph != 0, allow_unused != 0);
        for (int i = 0; i < n_inputs; i++)
            out[i] = wrap(grads[i].defined() ? grads[i] : at::zeros_like(ins[i]));
    })
}

}  // extern "C"
