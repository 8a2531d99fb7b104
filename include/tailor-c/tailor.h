/*===- tailor-c/tailor.h - The Tailor C runtime API ------------------------===
 *
 * Load a model compiled by `tailor-compile` (a shared object), query its
 * signature, run it, and generate text with a causal LM whose KV cache the
 * runtime owns. Every call returns a status; on failure,
 * tailor_last_error() describes it (per thread). Nothing here aborts on bad
 * input: a wrong dtype, rank or size of an input, a missing input, a file
 * that is not a Tailor model all come back as errors.
 *
 *   tailor_model *m;
 *   if (tailor_model_load("model.so", &m) != TAILOR_OK)
 *     fprintf(stderr, "%s\n", tailor_last_error());
 *
 * Link with -ltailor_runtime (or link the model's .so itself, which carries
 * the same API: tailor_model_load(NULL, &m) then opens that model).
 *===----------------------------------------------------------------------===*/

#ifndef TAILOR_C_TAILOR_H
#define TAILOR_C_TAILOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tailor_status {
  TAILOR_OK = 0,
  TAILOR_INVALID_ARGUMENT = 1, /**< null pointer, bad option value */
  TAILOR_SHAPE_MISMATCH = 2,   /**< an input's rank or a size differs */
  TAILOR_DTYPE_MISMATCH = 3,   /**< an input's element type differs */
  TAILOR_NOT_FOUND = 4,        /**< no such file, input name or symbol */
  TAILOR_INVALID_MODEL = 5,    /**< not a Tailor model, or ABI mismatch */
  TAILOR_OUT_OF_MEMORY = 6,
  TAILOR_UNSUPPORTED = 7, /**< e.g. generation with a model that is no LM */
  TAILOR_OUT_OF_RANGE = 8 /**< an index or token id outside its range */
} tailor_status;

/** Element types, numbered as ONNX's TensorProto.DataType. */
typedef enum tailor_dtype {
  TAILOR_FLOAT32 = 1,
  TAILOR_UINT8 = 2,
  TAILOR_INT8 = 3,
  TAILOR_UINT16 = 4,
  TAILOR_INT16 = 5,
  TAILOR_INT32 = 6,
  TAILOR_INT64 = 7,
  TAILOR_BOOL = 9,
  TAILOR_FLOAT16 = 10,
  TAILOR_FLOAT64 = 11,
  TAILOR_UINT32 = 12,
  TAILOR_UINT64 = 13,
  TAILOR_BFLOAT16 = 16
} tailor_dtype;

/** A view of a tensor the caller owns (nothing is copied until a run).
 *  strides are in elements; NULL means contiguous row-major. */
typedef struct tailor_tensor {
  int32_t dtype; /**< a tailor_dtype */
  int32_t rank;
  const int64_t *shape;
  const int64_t *strides;
  void *data;
} tailor_tensor;

/** The signature of one input or output; shape[i] == -1: dynamic. */
typedef struct tailor_tensor_info {
  const char *name;
  int32_t dtype;
  int32_t rank;
  const int64_t *shape;
} tailor_tensor_info;

typedef struct tailor_model tailor_model;
typedef struct tailor_result tailor_result;
typedef struct tailor_session tailor_session;

/** The message of the last failed call on this thread ("" if none). */
const char *tailor_last_error(void);
/** "float32", "int64", ...; "unknown" for other values. */
const char *tailor_dtype_name(int32_t dtype);
/** Bytes per element; 0 for an unknown dtype. */
size_t tailor_dtype_size(int32_t dtype);

/* ---- Models ------------------------------------------------------------ */

/** Opens a compiled model (a shared object from tailor-compile). A null
 *  path opens the model linked into the calling program, if any. */
tailor_status tailor_model_load(const char *path, tailor_model **model);
/** Frees the model (results and sessions made from it must be freed first). */
void tailor_model_unload(tailor_model *model);

int32_t tailor_model_num_inputs(const tailor_model *model);
int32_t tailor_model_num_outputs(const tailor_model *model);
/** The signature of input/output `index`; the strings and shape live as long
 *  as the model. */
tailor_status tailor_model_input_info(const tailor_model *model, int32_t index,
                                      tailor_tensor_info *info);
tailor_status tailor_model_output_info(const tailor_model *model,
                                       int32_t index,
                                       tailor_tensor_info *info);
/** The position of the input called `name`. */
tailor_status tailor_model_find_input(const tailor_model *model,
                                      const char *name, int32_t *index);
/** Which compiler, target and options made the model. */
const char *tailor_model_producer(const tailor_model *model);
/** Threads for the model's parallel loops, set (OpenMP's
 *  omp_set_num_threads, on the calling thread) before each run; 0 leaves the
 *  count as it is (initially OMP_NUM_THREADS or all cores). */
tailor_status tailor_model_set_num_threads(tailor_model *model,
                                           int32_t threads);

/** Runs the model once. `inputs` holds one view per model input, in order;
 *  every dtype, rank and static size is checked first (nothing runs on a
 *  mismatch). On success *result owns the outputs. */
tailor_status tailor_model_run(tailor_model *model, const tailor_tensor *inputs,
                               int32_t num_inputs, tailor_result **result);
int32_t tailor_result_num_outputs(const tailor_result *result);
/** A view of output `index` (contiguous), valid until tailor_result_free. */
tailor_status tailor_result_output(const tailor_result *result, int32_t index,
                                   tailor_tensor *view);
void tailor_result_free(tailor_result *result);

/* ---- Generation (causal LMs) ------------------------------------------- *
 * A causal LM here: input 0 is int64 token ids [batch, sequence]; the other
 * inputs are the past KV cache (past_*), one per output 1.. (present_*);
 * output 0 is float32 logits [batch, sequence, vocab]. Batch is 1. */

/** A generation session: owns the KV cache (no copies between steps). */
tailor_status tailor_session_create(tailor_model *model,
                                    tailor_session **session);
void tailor_session_free(tailor_session *session);
/** Forgets the context (empty KV cache). */
void tailor_session_reset(tailor_session *session);
/** Tokens in the context so far. */
int64_t tailor_session_length(const tailor_session *session);
/** Vocabulary size (0 until the first step when the model leaves it dynamic). */
int64_t tailor_session_vocab_size(const tailor_session *session);
/** Appends `count` tokens (the prompt) to the context in one run; *logits
 *  (may be null) receives a view of the last position's logits [vocab],
 *  valid until the next call on the session. */
tailor_status tailor_session_prefill(tailor_session *session,
                                     const int64_t *tokens, size_t count,
                                     const float **logits);
/** Appends one token; as prefill with count 1. */
tailor_status tailor_session_decode_step(tailor_session *session,
                                         int64_t token, const float **logits);

/** How the next token is chosen. temperature 0 = greedy (argmax). */
typedef struct tailor_sampling {
  float temperature;        /**< >= 0; 0: greedy */
  int32_t top_k;            /**< keep the k most likely; 0 = all */
  float top_p;              /**< nucleus: smallest set with mass >= p; 1 = all */
  float repetition_penalty; /**< > 0; 1 = none (CTRL: logit/p if > 0 else *p) */
  uint64_t seed;            /**< same seed, same choices */
} tailor_sampling;

/** Greedy defaults: temperature 0, top_k 0, top_p 1, penalty 1, seed 0. */
tailor_sampling tailor_sampling_default(void);

typedef struct tailor_sampler tailor_sampler;
tailor_status tailor_sampler_create(const tailor_sampling *params,
                                    tailor_sampler **sampler);
void tailor_sampler_free(tailor_sampler *sampler);
/** Picks a token from `logits` [vocab]. `history` (the context so far, for
 *  the repetition penalty) may be null when count is 0. */
tailor_status tailor_sampler_sample(tailor_sampler *sampler,
                                    const float *logits, int64_t vocab,
                                    const int64_t *history, size_t count,
                                    int64_t *token);

/** Called after each generated token; return non-zero to stop. */
typedef int (*tailor_token_callback)(int64_t token, void *user_data);

/** Prefills `prompt`, then samples and appends up to `max_new_tokens`
 *  tokens, stopping after `eos_token` (when >= 0) or when the callback says
 *  so. Generated tokens go to `out` (room for max_new_tokens), their count
 *  to *out_count. */
tailor_status tailor_generate(tailor_session *session, const int64_t *prompt,
                              size_t prompt_count, size_t max_new_tokens,
                              const tailor_sampling *params, int64_t eos_token,
                              tailor_token_callback callback, void *user_data,
                              int64_t *out, size_t *out_count);

#ifdef __cplusplus
}
#endif

#endif /* TAILOR_C_TAILOR_H */
