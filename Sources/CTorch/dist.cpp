// Data-parallel collectives: libtorch's c10d ProcessGroupGloo with a TCPStore rendezvous.
//
// One CTProcessGroup per process. Every collective waits for its result; a failure (a peer that closed its
// connection, a timeout) comes back as an error message, never as a hang: Gloo's timeout bounds every operation.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include "internal.h"
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <chrono>
#include <memory>

namespace {

struct ProcessGroup {
    c10::intrusive_ptr<c10d::TCPStore> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
    int rank = 0;
    int size = 1;
    std::string master;
};

ProcessGroup &PG(CTProcessGroup *pg) {
    if (pg == nullptr) throw std::invalid_argument("null process group handle");
    return *reinterpret_cast<ProcessGroup *>(pg);
}

// Waits for a collective, adding what failed and where to Gloo's message.
void finish(const ProcessGroup &pg, const c10::intrusive_ptr<c10d::Work> &work, const char *what) {
    try {
        work->wait();
    } catch (const std::exception &e) {
        std::string message = e.what();
        if (auto *c = dynamic_cast<const c10::Error *>(&e)) message = c->what_without_backtrace();
        throw std::runtime_error(std::string(what) + " on rank " + std::to_string(pg.rank) + " of " + std::to_string(pg.size) +
                                 ": " + message);
    }
}

// Consecutive runs of tensors of one dtype, each run holding at least one tensor and at most `bucket_bytes`
// (unless one tensor alone is larger).
std::vector<std::vector<size_t>> buckets(const std::vector<at::Tensor> &tensors, int64_t bucket_bytes) {
    std::vector<std::vector<size_t>> out;
    int64_t bytes = 0;
    for (size_t i = 0; i < tensors.size(); i++) {
        auto size = static_cast<int64_t>(tensors[i].numel() * tensors[i].element_size());
        bool fresh = out.empty() || tensors[out.back().back()].scalar_type() != tensors[i].scalar_type() ||
                     (bytes + size > bucket_bytes && bytes > 0);
        if (fresh) {
            out.emplace_back();
            bytes = 0;
        }
        out.back().push_back(i);
        bytes += size;
    }
    return out;
}

std::vector<at::Tensor> tensor_list(CTTensor **tensors, int n) {
    if (n < 0) throw std::invalid_argument("negative tensor count");
    std::vector<at::Tensor> list;
    for (int i = 0; i < n; i++) {
        auto &t = ctorch::T(tensors[i]);
        if (!t.defined()) throw std::invalid_argument("tensor " + std::to_string(i) + " is undefined");
        list.push_back(t);
    }
    return list;
}

// Flattens each bucket into one contiguous tensor, runs `collective` on all buckets (queued together), waits, and
// copies the results back into the tensors, multiplied by `scale` when it is not 1.
template <class Collective>
void bucketed(const ProcessGroup &pg, std::vector<at::Tensor> &tensors, int64_t bucket_bytes, double scale,
              const char *what, Collective collective) {
    at::NoGradGuard no_grad;
    auto groups = buckets(tensors, bucket_bytes);
    std::vector<at::Tensor> flats;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto &group : groups) {
        std::vector<at::Tensor> parts;
        for (auto i : group) parts.push_back(tensors[i].detach().reshape({-1}));
        flats.push_back(parts.size() == 1 ? parts[0].clone() : at::cat(parts));
    }
    for (auto &flat : flats) {
        std::vector<at::Tensor> one{flat};
        works.push_back(collective(one));
    }
    for (auto &work : works) finish(pg, work, what);
    for (size_t b = 0; b < groups.size(); b++) {
        if (scale != 1) flats[b].mul_(scale);
        int64_t offset = 0;
        for (auto i : groups[b]) {
            auto n = tensors[i].numel();
            tensors[i].detach().copy_(flats[b].narrow(0, offset, n).view(tensors[i].sizes()));
            offset += n;
        }
    }
}

}  // namespace

extern "C" {

CTProcessGroup *ct_dist_init(const char *host, int port, int rank, int world_size, double timeout_seconds,
                             const char *interface) {
    try {
        if (host == nullptr || *host == 0) throw std::invalid_argument("empty master host");
        if (port < 1 || port > 65535) throw std::invalid_argument("port " + std::to_string(port) + " is not in 1...65535");
        if (world_size < 1) throw std::invalid_argument("world size " + std::to_string(world_size) + " is below 1");
        if (rank < 0 || rank >= world_size)
            throw std::invalid_argument("rank " + std::to_string(rank) + " is not in 0..<" + std::to_string(world_size));
        if (!(timeout_seconds > 0)) throw std::invalid_argument("the timeout must be positive");
        auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
        auto pg = std::make_unique<ProcessGroup>();
        pg->rank = rank;
        pg->size = world_size;
        pg->master = std::string(host) + ":" + std::to_string(port);
        std::string stage = "the TCPStore rendezvous at " + pg->master;
        try {
            c10d::TCPStoreOptions options;
            options.port = static_cast<std::uint16_t>(port);
            options.isServer = rank == 0;
            options.numWorkers = static_cast<std::size_t>(world_size);
            options.waitWorkers = true;
            options.timeout = timeout;
            pg->store = c10::make_intrusive<c10d::TCPStore>(std::string(host), options);
            stage = "Gloo's connection setup";
            auto gloo = c10d::ProcessGroupGloo::Options::create(timeout);
            std::string name = interface ? std::string(interface) : std::string();
            if (!name.empty()) {
                gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
            } else {
                std::string h(host);
                bool loopback = h == "localhost" || h.rfind("127.", 0) == 0 || h == "::1";
                gloo->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                                 : c10d::ProcessGroupGloo::createDefaultDevice());
            }
            pg->group = c10::make_intrusive<c10d::ProcessGroupGloo>(pg->store, rank, world_size, gloo);
        } catch (const std::exception &e) {
            std::string message = e.what();
            if (auto *c = dynamic_cast<const c10::Error *>(&e)) message = c->what_without_backtrace();
            throw std::runtime_error(stage + " on rank " + std::to_string(rank) + " of " + std::to_string(world_size) +
                                     ": " + message);
        }
        return reinterpret_cast<CTProcessGroup *>(pg.release());
    }
    CT_CATCH(nullptr)
}

void ct_dist_free(CTProcessGroup *pg) {
    // Destroying the group joins its worker threads; nothing here may throw into Swift.
    try {
        delete reinterpret_cast<ProcessGroup *>(pg);
    } catch (...) {
    }
}

int ct_dist_rank(CTProcessGroup *pg) { try { return PG(pg).rank; } CT_CATCH(-1) }
int ct_dist_world_size(CTProcessGroup *pg) { try { return PG(pg).size; } CT_CATCH(-1) }

int ct_dist_all_reduce(CTProcessGroup *pg, CTTensor **tensors, int n, int op, int64_t bucket_bytes, double scale) {
    CT_STATUS({
        auto &g = PG(pg);
        auto list = tensor_list(tensors, n);
        c10d::AllreduceOptions options;
        switch (op) {
            case CT_DIST_SUM: options.reduceOp = c10d::ReduceOp::SUM; break;
            case CT_DIST_MAX: options.reduceOp = c10d::ReduceOp::MAX; break;
            case CT_DIST_MIN: options.reduceOp = c10d::ReduceOp::MIN; break;
            default: throw std::invalid_argument("unknown reduce op " + std::to_string(op));
        }
        bucketed(g, list, bucket_bytes, scale, "all-reduce",
                 [&](std::vector<at::Tensor> &one) { return g.group->allreduce(one, options); });
    })
}

int ct_dist_broadcast(CTProcessGroup *pg, CTTensor **tensors, int n, int root, int64_t bucket_bytes) {
    CT_STATUS({
        auto &g = PG(pg);
        if (root < 0 || root >= g.size) throw std::invalid_argument("broadcast root " + std::to_string(root) + " is not a rank");
        auto list = tensor_list(tensors, n);
        c10d::BroadcastOptions options;
        options.rootRank = root;
        options.rootTensor = 0;
        bucketed(g, list, bucket_bytes, 1, "broadcast",
                 [&](std::vector<at::Tensor> &one) { return g.group->broadcast(one, options); });
    })
}

int ct_dist_all_gather(CTProcessGroup *pg, CTTensor *input, CTTensor **out) {
    CT_STATUS({
        auto &g = PG(pg);
        auto in = ctorch::T(input).contiguous();
        std::vector<at::Tensor> inputs{in};
        std::vector<std::vector<at::Tensor>> outputs(1);
        for (int r = 0; r < g.size; r++) outputs[0].push_back(at::empty_like(in));
        finish(g, g.group->allgather(outputs, inputs), "all-gather");
        for (int r = 0; r < g.size; r++) out[r] = ctorch::wrap(outputs[0][r]);
    })
}

int ct_dist_barrier(CTProcessGroup *pg) {
    CT_STATUS({
        auto &g = PG(pg);
        finish(g, g.group->barrier(), "barrier");
    })
}

}  // extern "C"
