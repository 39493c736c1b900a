/*
 * ctorch: a pure C interface to libtorch for Swift.
 *
 * Conventions (after tch-rs's torch_api.h):
 * - A tensor is an opaque `CTTensor *` that owns one reference-counted at::Tensor; `ct_free` releases it.
 * - Every entry point catches C++ exceptions. On failure it stores the message in a thread-local
 *   last-error string and returns a sentinel: NULL for a tensor, -1 for an int status, NAN for a double.
 *   The caller reads the message with `ct_last_error` (NULL when there is none) and clears it with
 *   `ct_clear_error`.
 * - Integer lists are (pointer, length). Optional tensors are NULL. Results with several tensors are
 *   written into caller-provided out arrays.
 */
#ifndef CTORCH_H
#define CTORCH_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CTTensor CTTensor;
typedef struct CTProcessGroup CTProcessGroup;

/* ---- errors ---------------------------------------------------------------------------------- */
const char *ct_last_error(void);
void ct_clear_error(void);

/* ---- library --------------------------------------------------------------------------------- */
/* Version string of the libtorch this was built against, e.g. "1.13.0". Static storage. */
const char *ct_version(void);
/* libtorch's build configuration (at::show_config) and parallel info; caller frees with ct_free_string. */
char *ct_build_config(void);
char *ct_parallel_info(void);
void ct_free_string(char *s);
int ct_get_num_threads(void);
int ct_set_num_threads(int n);
int ct_cuda_is_available(void);
int ct_cuda_device_count(void);
int ct_manual_seed(uint64_t seed);
/* The default CPU generator's state as a uint8 tensor, and its restoration. */
CTTensor *ct_rng_get_state(void);
int ct_rng_set_state(CTTensor *state);
int ct_is_grad_enabled(void);
/* Sets grad mode; returns the previous mode (0 or 1). */
int ct_set_grad_enabled(int enabled);
/* glibc's malloc settings (mallopt): one arena (arena_max), blocks up to mmap_threshold bytes from the heap rather
   than from fresh mmap'd pages, and the heap's top kept up to trim_threshold bytes. Values <= 0 leave a setting as
   it is. Returns 0, or -1 where mallopt refused one (or this is not glibc). */
int ct_configure_malloc(int64_t mmap_threshold, int64_t trim_threshold, int arena_max);
/* libtorch's operator profiler on the calling thread: every operator and autograd node from start to stop is written
   to `path` as a Chrome trace (JSON) when it stops. One at a time per process. */
int ct_profile_start(const char *path);
int ct_profile_stop(void);

/* ---- dtypes and devices ---------------------------------------------------------------------- */
enum {
    CT_FLOAT32 = 0, CT_FLOAT64 = 1, CT_INT64 = 2, CT_INT32 = 3, CT_INT16 = 4, CT_INT8 = 5,
    CT_UINT8 = 6, CT_BOOL = 7, CT_FLOAT16 = 8, CT_BFLOAT16 = 9
};
enum { CT_DEVICE_CPU = 0, CT_DEVICE_CUDA = 1 };

/* ---- lifetime and metadata ------------------------------------------------------------------- */
/* Copies `data` (C-ordered, `numel * elementsize` bytes) into a new CPU tensor. */
CTTensor *ct_from_data(const void *data, const int64_t *shape, int ndim, int dtype);
/* Tensor handles made minus handles freed on the calling thread (for leak checks). */
int64_t ct_thread_live_tensors(void);
void ct_free(CTTensor *t);
/* Copies the tensor's elements (made contiguous, moved to CPU) into `out`, which holds `nbytes`. */
int ct_copy_data(CTTensor *t, void *out, int64_t nbytes);
int ct_ndim(CTTensor *t);
int ct_shape(CTTensor *t, int64_t *out);
int ct_strides(CTTensor *t, int64_t *out);
int64_t ct_numel(CTTensor *t);
int ct_dtype(CTTensor *t);
/* Writes the device type and index (-1 for CPU). */
int ct_device(CTTensor *t, int *type, int *index);
int ct_defined(CTTensor *t);
int ct_is_contiguous(CTTensor *t);
int ct_is_channels_last_3d(CTTensor *t);
double ct_item_double(CTTensor *t);
int64_t ct_item_int64(CTTensor *t);
/* A new handle to the same tensor (shares storage and autograd identity). */
CTTensor *ct_shallow_clone(CTTensor *t);

/* ---- creation -------------------------------------------------------------------------------- */
enum { CT_FILL_ZEROS = 0, CT_FILL_ONES = 1, CT_FILL_RAND = 2, CT_FILL_RANDN = 3, CT_FILL_EMPTY = 4 };
CTTensor *ct_fill(int kind, const int64_t *shape, int ndim, int dtype, int device_type, int device_index);
CTTensor *ct_full(const int64_t *shape, int ndim, double value, int dtype, int device_type, int device_index);
CTTensor *ct_arange(double start, double end, double step, int dtype);
CTTensor *ct_linspace(double start, double end, int64_t steps, int dtype);
CTTensor *ct_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, int dtype);
CTTensor *ct_eye(int64_t n, int dtype);

/* ---- conversion and copies ------------------------------------------------------------------- */
CTTensor *ct_to(CTTensor *t, int dtype, int device_type, int device_index);
CTTensor *ct_contiguous(CTTensor *t);
CTTensor *ct_to_channels_last_3d(CTTensor *t);
CTTensor *ct_clone(CTTensor *t);
CTTensor *ct_detach(CTTensor *t);
/* Replaces t's data with src's (same autograd identity): moves parameters between devices and dtypes. */
int ct_set_data(CTTensor *t, CTTensor *src);

/* ---- autograd -------------------------------------------------------------------------------- */
int ct_requires_grad(CTTensor *t);
int ct_set_requires_grad(CTTensor *t, int flag);
/* The accumulated gradient; sets *defined = 0 (and returns NULL) when there is none. */
CTTensor *ct_grad(CTTensor *t, int *defined);
int ct_zero_grad(CTTensor *t);
/* Replaces the accumulated gradient with `grad` (shares it), or drops it when grad is NULL. */
int ct_set_grad(CTTensor *t, CTTensor *grad);
int ct_backward(CTTensor *t, CTTensor *grad_output, int retain_graph, int create_graph);
/* Gradients of sum(outputs[i] * grad_outputs[i]) with respect to inputs. grad_outputs may be NULL
 * (all ones) and an entry may be NULL. An input the outputs do not depend on gets zeros when
 * allow_unused is set (out[i] is then a zero tensor), an error otherwise. */
int ct_gradients(CTTensor **outputs, int n_outputs, CTTensor **inputs, int n_inputs,
                 CTTensor **grad_outputs, int retain_graph, int create_graph, int allow_unused,
                 CTTensor **out);

/* ---- elementwise ----------------------------------------------------------------------------- */
enum {
    CT_NEG = 0, CT_ABS, CT_EXP, CT_LOG, CT_SQRT, CT_RSQRT, CT_SIN, CT_COS, CT_TANH, CT_SIGMOID,
    CT_RELU, CT_GELU, CT_SIGN, CT_FLOOR, CT_CEIL, CT_ROUND, CT_SQUARE, CT_RECIPROCAL, CT_LOG1P,
    CT_EXPM1, CT_ERF, CT_ISNAN, CT_ISINF, CT_ISFINITE, CT_LOGICAL_NOT, CT_SILU, CT_SOFTPLUS,
    CT_UNARY_COUNT
};
CTTensor *ct_unary(int op, CTTensor *a);

enum {
    CT_ADD = 0, CT_SUB, CT_MUL, CT_DIV, CT_POW, CT_MAXIMUM, CT_MINIMUM, CT_EQ, CT_NE, CT_LT, CT_LE,
    CT_GT, CT_GE, CT_LOGICAL_AND, CT_LOGICAL_OR, CT_REMAINDER, CT_ATAN2, CT_BINARY_COUNT
};
CTTensor *ct_binary(int op, CTTensor *a, CTTensor *b);
/* a op s, or s op a when `reversed` is set. */
CTTensor *ct_binary_scalar(int op, CTTensor *a, double s, int reversed);
/* In place: a op= b (no autograd history is allowed on leaves that require grad; use inside no-grad). */
int ct_binary_(int op, CTTensor *a, CTTensor *b);
int ct_binary_scalar_(int op, CTTensor *a, double s);
/* a += alpha * b; a += value * t1 * t2; a += value * t1 / t2; dst <- src. In place. */
int ct_add_scaled_(CTTensor *a, CTTensor *b, double alpha);
int ct_addcmul_(CTTensor *a, CTTensor *t1, CTTensor *t2, double value);
int ct_addcdiv_(CTTensor *a, CTTensor *t1, CTTensor *t2, double value);
int ct_copy_(CTTensor *dst, CTTensor *src);
int ct_fill_(CTTensor *a, double value);
CTTensor *ct_clamp(CTTensor *a, double min, double max, int has_min, int has_max);
CTTensor *ct_where(CTTensor *condition, CTTensor *a, CTTensor *b);
CTTensor *ct_leaky_relu(CTTensor *a, double slope);
CTTensor *ct_elu(CTTensor *a, double alpha);

/* ---- reductions ------------------------------------------------------------------------------ */
enum { CT_SUM = 0, CT_MEAN, CT_AMAX, CT_AMIN, CT_PROD, CT_ANY, CT_ALL, CT_LOGSUMEXP, CT_REDUCE_COUNT };
/* Reduces over `dims` (all dims when ndims == 0). */
CTTensor *ct_reduce(int op, CTTensor *a, const int64_t *dims, int ndims, int keepdim);
/* Variance or standard deviation over dims (all when ndims == 0), with Bessel's correction when unbiased. */
CTTensor *ct_var(CTTensor *a, const int64_t *dims, int ndims, int unbiased, int keepdim, int take_sqrt);
/* Max or min along one dim: values and indices. */
int ct_max_dim(CTTensor *a, int64_t dim, int keepdim, int is_min, CTTensor **values, CTTensor **indices);
CTTensor *ct_argmax(CTTensor *a, int64_t dim, int keepdim, int is_min);
int ct_topk(CTTensor *a, int64_t k, int64_t dim, int largest, CTTensor **values, CTTensor **indices);
int ct_sort(CTTensor *a, int64_t dim, int descending, CTTensor **values, CTTensor **indices);
CTTensor *ct_cumsum(CTTensor *a, int64_t dim);

/* ---- shape and indexing ---------------------------------------------------------------------- */
CTTensor *ct_reshape(CTTensor *a, const int64_t *shape, int ndim);
CTTensor *ct_permute(CTTensor *a, const int64_t *dims, int ndim);
CTTensor *ct_transpose(CTTensor *a, int64_t d0, int64_t d1);
CTTensor *ct_expand(CTTensor *a, const int64_t *shape, int ndim);
CTTensor *ct_repeat(CTTensor *a, const int64_t *repeats, int ndim);
CTTensor *ct_squeeze(CTTensor *a, int64_t dim);
CTTensor *ct_unsqueeze(CTTensor *a, int64_t dim);
CTTensor *ct_flatten(CTTensor *a, int64_t start, int64_t end);
CTTensor *ct_flip(CTTensor *a, const int64_t *dims, int ndim);
/* a[..., start:end:step, ...] along dim (negative start/end count from the end). */
CTTensor *ct_slice(CTTensor *a, int64_t dim, int64_t start, int64_t end, int64_t step);
CTTensor *ct_select(CTTensor *a, int64_t dim, int64_t index);
CTTensor *ct_index_select(CTTensor *a, int64_t dim, CTTensor *index);
CTTensor *ct_gather(CTTensor *a, int64_t dim, CTTensor *index);
CTTensor *ct_scatter_add(CTTensor *a, int64_t dim, CTTensor *index, CTTensor *src);
CTTensor *ct_masked_select(CTTensor *a, CTTensor *mask);
CTTensor *ct_masked_fill(CTTensor *a, CTTensor *mask, double value);
CTTensor *ct_nonzero(CTTensor *a);
CTTensor *ct_one_hot(CTTensor *a, int64_t num_classes);
CTTensor *ct_cat(CTTensor **tensors, int n, int64_t dim);
CTTensor *ct_stack(CTTensor **tensors, int n, int64_t dim);
enum { CT_PAD_CONSTANT = 0, CT_PAD_REFLECT = 1, CT_PAD_REPLICATE = 2 };
/* F.pad: `pad` lists (before, after) pairs starting from the last dimension. */
CTTensor *ct_pad(CTTensor *a, const int64_t *pad, int npad, int mode, double value);

/* ---- linear algebra -------------------------------------------------------------------------- */
CTTensor *ct_matmul(CTTensor *a, CTTensor *b);
CTTensor *ct_linear(CTTensor *input, CTTensor *weight, CTTensor *bias);

/* ---- neural-network ops ---------------------------------------------------------------------- */
/* stride, padding, dilation: 3 values each. bias may be NULL. */
CTTensor *ct_conv3d(CTTensor *input, CTTensor *weight, CTTensor *bias, const int64_t *stride,
                    const int64_t *padding, const int64_t *dilation, int64_t groups);
CTTensor *ct_conv_transpose3d(CTTensor *input, CTTensor *weight, CTTensor *bias, const int64_t *stride,
                              const int64_t *padding, const int64_t *output_padding, int64_t groups,
                              const int64_t *dilation);
CTTensor *ct_max_pool3d(CTTensor *input, const int64_t *kernel, const int64_t *stride,
                        const int64_t *padding, const int64_t *dilation, int ceil_mode);
CTTensor *ct_avg_pool3d(CTTensor *input, const int64_t *kernel, const int64_t *stride,
                        const int64_t *padding, int ceil_mode, int count_include_pad);
CTTensor *ct_adaptive_avg_pool3d(CTTensor *input, const int64_t *output_size);
CTTensor *ct_adaptive_max_pool3d(CTTensor *input, const int64_t *output_size);
/* Trilinear resize of [N, C, D, H, W] to `size` (3 values). */
CTTensor *ct_upsample_trilinear3d(CTTensor *input, const int64_t *size, int align_corners);
CTTensor *ct_upsample_nearest3d(CTTensor *input, const int64_t *size);
/* weight, bias may be NULL. */
CTTensor *ct_group_norm(CTTensor *input, int64_t groups, CTTensor *weight, CTTensor *bias, double eps);
/* weight, bias, running_mean, running_var may be NULL. Running stats are updated in place when
 * training (batch norm) or when use_input_stats with running stats given (instance norm). */
CTTensor *ct_batch_norm(CTTensor *input, CTTensor *weight, CTTensor *bias, CTTensor *running_mean,
                        CTTensor *running_var, int training, double momentum, double eps);
CTTensor *ct_instance_norm(CTTensor *input, CTTensor *weight, CTTensor *bias, CTTensor *running_mean,
                           CTTensor *running_var, int use_input_stats, double momentum, double eps);
CTTensor *ct_layer_norm(CTTensor *input, const int64_t *normalized_shape, int ndim, CTTensor *weight,
                        CTTensor *bias, double eps);
CTTensor *ct_dropout(CTTensor *input, double p, int train);
CTTensor *ct_softmax(CTTensor *input, int64_t dim);
CTTensor *ct_log_softmax(CTTensor *input, int64_t dim);

/* ---- losses ---------------------------------------------------------------------------------- */
enum { CT_REDUCTION_NONE = 0, CT_REDUCTION_MEAN = 1, CT_REDUCTION_SUM = 2 };
/* target: int64 class indices [N, ...] or float class probabilities shaped like input. weight may be NULL. */
CTTensor *ct_cross_entropy(CTTensor *input, CTTensor *target, CTTensor *weight, int reduction,
                           int64_t ignore_index, double label_smoothing);
CTTensor *ct_nll_loss(CTTensor *input, CTTensor *target, CTTensor *weight, int reduction, int64_t ignore_index);
/* weight, pos_weight may be NULL. */
CTTensor *ct_bce_with_logits(CTTensor *input, CTTensor *target, CTTensor *weight, CTTensor *pos_weight,
                             int reduction);
CTTensor *ct_mse_loss(CTTensor *input, CTTensor *target, int reduction);
CTTensor *ct_l1_loss(CTTensor *input, CTTensor *target, int reduction);
CTTensor *ct_smooth_l1_loss(CTTensor *input, CTTensor *target, int reduction, double beta);

/* ---- data-parallel collectives (c10d ProcessGroupGloo, TCPStore rendezvous) ------------------ */
/* Joins a process group of `world_size` processes: rank 0 hosts a TCPStore at host:port, every rank connects
 * to it, then Gloo connects every pair of ranks. `timeout_seconds` bounds the rendezvous and every later
 * collective (a dead or stuck peer gives an error, not a hang). `interface` (may be NULL or empty) names the
 * network interface Gloo binds; by default 127.0.0.1 when host is a loopback address, else the address this
 * machine's hostname resolves to. Free with ct_dist_free (which does not synchronise: call ct_dist_barrier first). */
CTProcessGroup *ct_dist_init(const char *host, int port, int rank, int world_size, double timeout_seconds,
                             const char *interface);
void ct_dist_free(CTProcessGroup *pg);
int ct_dist_rank(CTProcessGroup *pg);
int ct_dist_world_size(CTProcessGroup *pg);
enum { CT_DIST_SUM = 0, CT_DIST_MAX = 1, CT_DIST_MIN = 2 };
/* In place, over every rank: tensors[i] <- scale * reduce_op(tensors[i] of every rank). The tensors are packed,
 * in order, into contiguous buckets of one dtype of about `bucket_bytes`, one collective per bucket. */
int ct_dist_all_reduce(CTProcessGroup *pg, CTTensor **tensors, int n, int op, int64_t bucket_bytes, double scale);
/* In place: every rank's tensors[i] <- root's tensors[i] (bucketed the same way). */
int ct_dist_broadcast(CTProcessGroup *pg, CTTensor **tensors, int n, int root, int64_t bucket_bytes);
/* out[r] (world_size new tensors) <- rank r's `input`; every rank's input must have the same shape and dtype. */
int ct_dist_all_gather(CTProcessGroup *pg, CTTensor *input, CTTensor **out);
int ct_dist_barrier(CTProcessGroup *pg);

/* ---- optimizers ------------------------------------------------------------------------------ */
/* One Adam/AdamW update of n parameters (those without a gradient are skipped): steps[i] is parameter i's step
 * count after this update; exp_avg and exp_avg_sq are updated in place. Returns 0, or -1 with the error set. */
int ct_adam_step(CTTensor **params, CTTensor **exp_avg, CTTensor **exp_avg_sq, const int64_t *steps, int n,
                 double lr, double beta1, double beta2, double eps, double weight_decay, int decoupled);
/* The global L2 norm of the parameters' gradients (float64 sums); with clip, scales them all in place so the norm is
 * at most max_norm. Returns the norm before clipping, or -1 with the error set. */
double ct_clip_grad_norm(CTTensor **params, int n, double max_norm, int clip);

#ifdef __cplusplus
}
#endif
#endif
