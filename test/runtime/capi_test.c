/*===- capi_test.c - The C runtime API on a compiled causal LM ------------===
 *
 * capi_test LM.so PLAIN.so PROMPT TOKENS BAD.so...
 *   LM.so     a KV-cache causal LM compiled by tailor-compile
 *   PLAIN.so  a model that is no causal LM
 *   PROMPT    comma-separated token ids; TOKENS the greedy continuation
 *             PyTorch computed for them
 *   BAD.so    files that must fail to load with an error (not a crash)
 *===----------------------------------------------------------------------===*/

#include "tailor-c/abi.h"
#include "tailor-c/tailor.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,  \
              __LINE__, #cond, tailor_last_error());                           \
      ++failures;                                                              \
    }                                                                          \
  } while (0)
#define CHECK_STATUS(call, want)                                               \
  do {                                                                         \
    tailor_status got_ = (call);                                               \
    if (got_ != (want)) {                                                      \
      fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s)\n", __FILE__,   \
              __LINE__, #call, got_, want, tailor_last_error());               \
      ++failures;                                                              \
    } else if (want != TAILOR_OK) {                                            \
      printf("  expected error: %s\n", tailor_last_error());                   \
    }                                                                          \
  } while (0)

static size_t parseIds(const char *text, int64_t *out, size_t max) {
  size_t n = 0;
  while (*text && n < max) {
    char *end;
    out[n++] = strtoll(text, &end, 10);
    text = *end == ',' ? end + 1 : end;
    if (end == text && *end != ',')
      break;
  }
  return n;
}

/* Input views for the LM: ids [1, n] and an empty cache. */
typedef struct {
  tailor_tensor views[64];
  int64_t shapes[64][8];
  int32_t count;
} Inputs;

static void emptyCacheInputs(tailor_model *m, Inputs *in, int64_t *ids,
                             int64_t n) {
  in->count = tailor_model_num_inputs(m);
  for (int32_t i = 0; i < in->count; ++i) {
    tailor_tensor_info info;
    tailor_model_input_info(m, i, &info);
    for (int32_t d = 0; d < info.rank; ++d)
      in->shapes[i][d] = info.shape[d] >= 0 ? info.shape[d] : (d == 0 ? 1 : 0);
    if (i == 0)
      in->shapes[0][1] = n;
    in->views[i].dtype = info.dtype;
    in->views[i].rank = info.rank;
    in->views[i].shape = in->shapes[i];
    in->views[i].strides = NULL;
    in->views[i].data = i == 0 ? (void *)ids : NULL;
  }
}

static void testLoadErrors(int count, char **paths) {
  tailor_model *m = (tailor_model *)1;
  printf("load errors\n");
  CHECK_STATUS(tailor_model_load("/nonexistent/model.so", &m),
               TAILOR_INVALID_MODEL);
  CHECK(m == NULL);
  CHECK(strstr(tailor_last_error(), "/nonexistent/model.so") != NULL);
  for (int i = 0; i < count; ++i) {
    CHECK_STATUS(tailor_model_load(paths[i], &m), TAILOR_INVALID_MODEL);
    CHECK(m == NULL);
  }
  CHECK_STATUS(tailor_model_load("x.so", NULL), TAILOR_INVALID_ARGUMENT);
  /* This program links no model. */
  CHECK_STATUS(tailor_model_load(NULL, &m), TAILOR_NOT_FOUND);
}

static void testSignature(tailor_model *m) {
  printf("signature\n");
  tailor_tensor_info info;
  int32_t index = -1;
  CHECK(tailor_model_num_inputs(m) >= 2);
  CHECK(tailor_model_num_outputs(m) == tailor_model_num_inputs(m));
  CHECK_STATUS(tailor_model_input_info(m, 0, &info), TAILOR_OK);
  CHECK(info.dtype == TAILOR_INT64 && info.rank == 2);
  CHECK_STATUS(tailor_model_output_info(m, 0, &info), TAILOR_OK);
  CHECK(info.dtype == TAILOR_FLOAT32 && info.rank == 3);
  CHECK_STATUS(tailor_model_find_input(m, "input_ids", &index), TAILOR_OK);
  CHECK(index == 0);
  /* The cache length of the in-place KV caches is the runtime's own. */
  CHECK_STATUS(tailor_model_find_input(m, "tailor.cache_length", &index),
               TAILOR_NOT_FOUND);
  CHECK_STATUS(tailor_model_find_input(m, "no_such_input", &index),
               TAILOR_NOT_FOUND);
  CHECK_STATUS(tailor_model_input_info(m, 99, &info), TAILOR_OUT_OF_RANGE);
  CHECK_STATUS(tailor_model_output_info(m, -1, &info), TAILOR_OUT_OF_RANGE);
  CHECK(strstr(tailor_model_producer(m), "tailor-compile") != NULL);
  CHECK_STATUS(tailor_model_set_num_threads(m, -1), TAILOR_INVALID_ARGUMENT);
  CHECK_STATUS(tailor_model_set_num_threads(m, 1), TAILOR_OK);
}

static void testRunErrors(tailor_model *m) {
  printf("run errors\n");
  int64_t ids[3] = {1, 2, 3};
  float fids[3] = {1, 2, 3};
  Inputs in;
  tailor_result *r = (tailor_result *)1;
  emptyCacheInputs(m, &in, ids, 3);
  CHECK_STATUS(tailor_model_run(m, in.views, in.count - 1, &r),
               TAILOR_INVALID_ARGUMENT); /* a missing input */
  CHECK(r == NULL);
  CHECK_STATUS(tailor_model_run(m, NULL, in.count, &r),
               TAILOR_INVALID_ARGUMENT);
  in.views[0].dtype = TAILOR_FLOAT32;
  in.views[0].data = fids;
  CHECK_STATUS(tailor_model_run(m, in.views, in.count, &r),
               TAILOR_DTYPE_MISMATCH);
  emptyCacheInputs(m, &in, ids, 3);
  in.views[0].rank = 1;
  CHECK_STATUS(tailor_model_run(m, in.views, in.count, &r),
               TAILOR_SHAPE_MISMATCH);
  emptyCacheInputs(m, &in, ids, 3);
  in.shapes[1][1] += 1; /* a static size (KV heads) off by one */
  CHECK_STATUS(tailor_model_run(m, in.views, in.count, &r),
               TAILOR_SHAPE_MISMATCH);
  emptyCacheInputs(m, &in, ids, 3);
  in.shapes[0][1] = -3;
  CHECK_STATUS(tailor_model_run(m, in.views, in.count, &r),
               TAILOR_SHAPE_MISMATCH);
  emptyCacheInputs(m, &in, NULL, 3);
  CHECK_STATUS(tailor_model_run(m, in.views, in.count, &r),
               TAILOR_INVALID_ARGUMENT); /* no data */
  /* Past inputs of different lengths (the compiled model keeps one cache
     length for all of them). */
  static float past[4096];
  emptyCacheInputs(m, &in, ids, 3);
  in.shapes[2][2] = 1;
  in.views[2].data = past;
  CHECK_STATUS(tailor_model_run(m, in.views, in.count, &r),
               TAILOR_SHAPE_MISMATCH);
  CHECK(r == NULL);
  CHECK_STATUS(tailor_result_output(NULL, 0, NULL), TAILOR_INVALID_ARGUMENT);
}

/* Runs the LM once on `ids`; returns the last position's logits (malloc). */
static float *runOnce(tailor_model *m, const tailor_tensor *idsView,
                      int64_t *vocab) {
  Inputs in;
  int64_t dummy = 0;
  emptyCacheInputs(m, &in, &dummy, idsView->shape[1]);
  in.views[0] = *idsView;
  tailor_result *r = NULL;
  CHECK_STATUS(tailor_model_run(m, in.views, in.count, &r), TAILOR_OK);
  if (!r)
    return NULL;
  CHECK(tailor_result_num_outputs(r) == in.count);
  tailor_tensor logits;
  CHECK_STATUS(tailor_result_output(r, 0, &logits), TAILOR_OK);
  CHECK_STATUS(tailor_result_output(r, in.count, &logits),
               TAILOR_OUT_OF_RANGE);
  CHECK_STATUS(tailor_result_output(r, 0, &logits), TAILOR_OK);
  CHECK(logits.rank == 3 && logits.shape[1] == idsView->shape[1]);
  *vocab = logits.shape[2];
  float *last = malloc(sizeof(float) * *vocab);
  memcpy(last, (float *)logits.data + (logits.shape[1] - 1) * *vocab,
         sizeof(float) * *vocab);
  tailor_result_free(r);
  return last;
}

static void testRunAndSession(tailor_model *m, const int64_t *prompt,
                              size_t n) {
  printf("run, strided inputs, session\n");
  int64_t shape[2] = {1, (int64_t)n}, vocab = 0, vocab2 = 0, ids[64];
  memcpy(ids, prompt, n * sizeof *ids);
  tailor_tensor contiguous = {TAILOR_INT64, 2, shape, NULL, ids};
  float *a = runOnce(m, &contiguous, &vocab);
  /* The same ids as a strided view (every other element of a buffer). */
  int64_t spaced[128], strides[2] = {(int64_t)(2 * n), 2};
  for (size_t i = 0; i < n; ++i) {
    spaced[2 * i] = prompt[i];
    spaced[2 * i + 1] = -777;
  }
  tailor_tensor strided = {TAILOR_INT64, 2, shape, strides, spaced};
  float *b = runOnce(m, &strided, &vocab2);
  CHECK(a && b && vocab == vocab2 && memcmp(a, b, sizeof(float) * vocab) == 0);

  tailor_session *s = NULL;
  const float *logits = NULL;
  CHECK_STATUS(tailor_session_create(m, &s), TAILOR_OK);
  CHECK_STATUS(tailor_session_prefill(s, prompt, n, &logits), TAILOR_OK);
  CHECK(tailor_session_length(s) == (int64_t)n);
  CHECK(tailor_session_vocab_size(s) == vocab);
  CHECK(logits && a && memcmp(logits, a, sizeof(float) * vocab) == 0);
  int64_t bad = vocab;
  CHECK_STATUS(tailor_session_decode_step(s, bad, &logits),
               TAILOR_OUT_OF_RANGE);
  CHECK_STATUS(tailor_session_prefill(s, prompt, 0, &logits),
               TAILOR_INVALID_ARGUMENT);
  /* Reset: the same prompt gives the same logits again. */
  tailor_session_reset(s);
  CHECK(tailor_session_length(s) == 0);
  CHECK_STATUS(tailor_session_prefill(s, prompt, n, &logits), TAILOR_OK);
  CHECK(logits && a && memcmp(logits, a, sizeof(float) * vocab) == 0);
  /* Prefill in two pieces (the cache carries the first) ~ one piece. */
  tailor_session_reset(s);
  CHECK_STATUS(tailor_session_prefill(s, prompt, n - 1, &logits), TAILOR_OK);
  CHECK_STATUS(tailor_session_decode_step(s, prompt[n - 1], &logits),
               TAILOR_OK);
  float diff = 0;
  for (int64_t i = 0; logits && a && i < vocab; ++i)
    diff = fmaxf(diff, fabsf(logits[i] - a[i]));
  printf("  prefill %zu vs %zu + 1 tokens: max abs diff %g\n", n, n - 1, diff);
  CHECK(diff < 1e-4f);
  tailor_session_free(s);
  free(a);
  free(b);
}

static void testGenerate(tailor_model *m, const int64_t *prompt, size_t n,
                         const int64_t *want, size_t wantCount) {
  printf("generate\n");
  tailor_session *s = NULL;
  int64_t out[256], out2[256];
  size_t count = 0, count2 = 0;
  CHECK_STATUS(tailor_session_create(m, &s), TAILOR_OK);
  CHECK_STATUS(tailor_generate(s, prompt, n, wantCount, NULL, -1, NULL, NULL,
                               out, &count),
               TAILOR_OK);
  CHECK(count == wantCount && memcmp(out, want, count * sizeof *out) == 0);
  printf("  greedy:");
  for (size_t i = 0; i < count; ++i)
    printf(" %lld", (long long)out[i]);
  printf("\n");

  /* top_k 1 at any temperature is greedy. */
  tailor_sampling p = tailor_sampling_default();
  p.temperature = 1.5f;
  p.top_k = 1;
  tailor_session_reset(s);
  CHECK_STATUS(tailor_generate(s, prompt, n, wantCount, &p, -1, NULL, NULL,
                               out2, &count2),
               TAILOR_OK);
  CHECK(count2 == wantCount && memcmp(out2, want, count2 * sizeof *out2) == 0);

  /* Seeded sampling repeats itself. */
  p = tailor_sampling_default();
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  p.repetition_penalty = 1.2f;
  p.seed = 42;
  tailor_session_reset(s);
  CHECK_STATUS(tailor_generate(s, prompt, n, 12, &p, -1, NULL, NULL, out,
                               &count),
               TAILOR_OK);
  tailor_session_reset(s);
  CHECK_STATUS(tailor_generate(s, prompt, n, 12, &p, -1, NULL, NULL, out2,
                               &count2),
               TAILOR_OK);
  CHECK(count == 12 && count2 == 12 &&
        memcmp(out, out2, count * sizeof *out) == 0);

  /* EOS stops generation right after it. */
  tailor_session_reset(s);
  CHECK_STATUS(tailor_generate(s, prompt, n, wantCount, NULL, want[1], NULL,
                               NULL, out, &count),
               TAILOR_OK);
  size_t firstEos = 0;
  while (want[firstEos] != want[1])
    ++firstEos;
  CHECK(count == firstEos + 1);

  /* Bad sampling parameters. */
  tailor_sampling bad[5];
  for (int i = 0; i < 5; ++i)
    bad[i] = tailor_sampling_default();
  bad[0].temperature = -1;
  bad[1].top_p = 0;
  bad[2].top_p = 1.5f;
  bad[3].repetition_penalty = 0;
  bad[4].top_k = -2;
  for (int i = 0; i < 5; ++i) {
    tailor_session_reset(s);
    CHECK_STATUS(tailor_generate(s, prompt, n, 4, &bad[i], -1, NULL, NULL, out,
                                 &count),
                 TAILOR_INVALID_ARGUMENT);
  }
  tailor_session_reset(s);
  CHECK_STATUS(tailor_generate(s, NULL, 0, 4, NULL, -1, NULL, NULL, out,
                               &count),
               TAILOR_INVALID_ARGUMENT); /* nothing to continue */
  tailor_session_free(s);
}

static void testSampler(void) {
  printf("sampler\n");
  tailor_sampler *sm = NULL;
  tailor_sampling p = tailor_sampling_default();
  float logits[3] = {0.0f, 10.0f, 5.0f};
  int64_t token = -1, history[1] = {1};
  CHECK_STATUS(tailor_sampler_create(&p, &sm), TAILOR_OK);
  CHECK_STATUS(tailor_sampler_sample(sm, logits, 3, NULL, 0, &token),
               TAILOR_OK);
  CHECK(token == 1);
  CHECK_STATUS(tailor_sampler_sample(sm, logits, 0, NULL, 0, &token),
               TAILOR_INVALID_ARGUMENT);
  tailor_sampler_free(sm);
  /* A penalty of 100 on token 1 (10 -> 0.1) makes token 2 the argmax. */
  p.repetition_penalty = 100.0f;
  CHECK_STATUS(tailor_sampler_create(&p, &sm), TAILOR_OK);
  CHECK_STATUS(tailor_sampler_sample(sm, logits, 3, history, 1, &token),
               TAILOR_OK);
  CHECK(token == 2);
  tailor_sampler_free(sm);
  /* Frequencies follow softmax(logits / T). */
  float probs[3] = {0.5f, 0.3f, 0.2f}, l[3];
  for (int i = 0; i < 3; ++i)
    l[i] = logf(probs[i]);
  p = tailor_sampling_default();
  p.temperature = 1.0f;
  p.seed = 7;
  CHECK_STATUS(tailor_sampler_create(&p, &sm), TAILOR_OK);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 20000; ++i) {
    CHECK_STATUS(tailor_sampler_sample(sm, l, 3, NULL, 0, &token), TAILOR_OK);
    if (token >= 0 && token < 3)
      counts[token]++;
  }
  for (int i = 0; i < 3; ++i) {
    printf("  p=%.2f: %.4f\n", probs[i], counts[i] / 20000.0);
    CHECK(fabs(counts[i] / 20000.0 - probs[i]) < 0.02);
  }
  tailor_sampler_free(sm);
  /* top_p 0.6 keeps {0.5, 0.3}: token 2 never comes. */
  p.top_p = 0.6f;
  CHECK_STATUS(tailor_sampler_create(&p, &sm), TAILOR_OK);
  int seen2 = 0;
  for (int i = 0; i < 2000; ++i) {
    tailor_sampler_sample(sm, l, 3, NULL, 0, &token);
    seen2 += token == 2;
  }
  CHECK(seen2 == 0);
  tailor_sampler_free(sm);
}

/* A model compiled for extensions this CPU lacks is refused at load with
 * an error naming them (running it would die of SIGILL). */
static void testForeignCPU(const char *path) {
  const char *candidates[] = {"avx512f", "avx512fp16", "amx-tile"};
  const char *missing = NULL;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f"))
    missing = candidates[0];
  else if (!__builtin_cpu_supports("avx512fp16"))
    missing = candidates[1];
  else if (!__builtin_cpu_supports("amx-tile"))
    missing = candidates[2];
  if (!missing) {
    printf("testForeignCPU: this CPU has every extension the test can "
           "name; skipped\n");
    return;
  }
  void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  CHECK(handle != NULL);
  if (!handle)
    return;
  tailor_model_abi_fn get =
      (tailor_model_abi_fn)dlsym(handle, "tailor_model_abi");
  CHECK(get != NULL);
  if (get) {
    tailor_abi_model abi = *get();
    CHECK(abi.cpu_features != NULL);
    char features[128];
    snprintf(features, sizeof features, "avx2,%s", missing);
    abi.cpu_features = features;
    tailor_model *m = NULL;
    CHECK_STATUS(tailor_model_from_abi(&abi, &m), TAILOR_INVALID_MODEL);
    CHECK(m == NULL);
    CHECK(strstr(tailor_last_error(), missing) != NULL);
    CHECK(strstr(tailor_last_error(), "lacks") != NULL);
  }
  dlclose(handle);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s LM.so PLAIN.so PROMPT TOKENS [BAD.so...]\n",
            argv[0]);
    return 2;
  }
  int64_t prompt[64], want[256];
  size_t n = parseIds(argv[3], prompt, 64), wantCount = parseIds(argv[4], want, 256);
  testLoadErrors(argc - 5, argv + 5);
  testSampler();
  testForeignCPU(argv[1]);

  tailor_model *m = NULL, *again = NULL, *plain = NULL;
  CHECK_STATUS(tailor_model_load(argv[1], &m), TAILOR_OK);
  if (!m)
    return 1;
  testSignature(m);
  testRunErrors(m);
  testRunAndSession(m, prompt, n);
  testGenerate(m, prompt, n, want, wantCount);

  /* The same model twice, and a model that is no causal LM. */
  CHECK_STATUS(tailor_model_load(argv[1], &again), TAILOR_OK);
  if (again)
    testGenerate(again, prompt, n, want, wantCount);
  tailor_model_unload(again);
  CHECK_STATUS(tailor_model_load(argv[2], &plain), TAILOR_OK);
  tailor_session *s = NULL;
  CHECK_STATUS(tailor_session_create(plain, &s), TAILOR_UNSUPPORTED);
  tailor_model_unload(plain);
  tailor_model_unload(m);

  printf("%s (%d failure%s)\n", failures ? "FAIL" : "PASS", failures,
         failures == 1 ? "" : "s");
  return failures ? 1 : 0;
}
