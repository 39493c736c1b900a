// Shared by the shim's C++ files: handle conversion and the exception barrier.
#pragma once
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <cmath>
#include <string>
#include <vector>
#include "ctorch.h"

namespace ctorch {

void set_error(const std::string &message);

inline at::Tensor &T(CTTensor *t) {
    if (t == nullptr) throw std::invalid_argument("null tensor handle");
    return *reinterpret_cast<at::Tensor *>(t);
}
inline c10::optional<at::Tensor> opt(CTTensor *t) {
    if (t == nullptr) return c10::nullopt;
    return *reinterpret_cast<at::Tensor *>(t);
}
// Handles made minus handles freed on the calling thread (ct_thread_live_tensors): a leak check that other threads'
// work does not disturb.
inline thread_local int64_t live_on_thread = 0;
inline CTTensor *wrap(at::Tensor t) {
    auto *handle = reinterpret_cast<CTTensor *>(new at::Tensor(std::move(t)));
    ++live_on_thread;
    return handle;
}
inline at::IntArrayRef ints(const int64_t *p, int n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }

at::ScalarType scalar_type(int dtype);
int dtype_code(at::ScalarType type);
at::Device device(int type, int index);

}  // namespace ctorch

// Every entry point runs its body through one of these: no C++ exception crosses into Swift.
#define CT_CATCH(sentinel)                                                   \
    catch (const c10::Error &e) {                                            \
        ctorch::set_error(e.what_without_backtrace());                       \
    } catch (const std::exception &e) {                                      \
        ctorch::set_error(e.what());                                         \
    } catch (...) {                                                          \
        ctorch::set_error("unknown C++ exception");                          \
    }                                                                        \
    return sentinel;

#define CT_TENSOR(...) try { return ctorch::wrap(__VA_ARGS__); } CT_CATCH(nullptr)
#define CT_STATUS(...) try { __VA_ARGS__; return 0; } CT_CATCH(-1)
