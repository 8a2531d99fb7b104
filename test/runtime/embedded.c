/*===- embedded.c - A program linked against a model's .so ----------------===
 *
 * The model's shared object carries the runtime API itself: link it like a
 * library, open it with tailor_model_load(NULL, ...), and use the constants
 * of the header tailor-compile --header generated (MODEL_*).
 *   embedded PROMPT TOKENS
 *===----------------------------------------------------------------------===*/

#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MODEL_NUM_INPUTS == MODEL_NUM_OUTPUTS,
               "a KV-cache LM has one present_* output per past_* input");
_Static_assert(MODEL_INPUT_input_ids == 0 && MODEL_INPUT_input_ids_RANK == 2,
               "input 0 is the token ids");

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  int64_t prompt[64], want[256], out[256];
  size_t n = 0, wantCount = 0, count = 0;
  for (char *p = argv[1]; *p && n < 64;) {
    prompt[n++] = strtoll(p, &p, 10);
    if (*p == ',')
      ++p;
  }
  for (char *p = argv[2]; *p && wantCount < 256;) {
    want[wantCount++] = strtoll(p, &p, 10);
    if (*p == ',')
      ++p;
  }
  tailor_model *m;
  tailor_session *s;
  if (tailor_model_load(NULL, &m) != TAILOR_OK ||
      tailor_model_num_inputs(m) != MODEL_NUM_INPUTS ||
      tailor_session_create(m, &s) != TAILOR_OK ||
      tailor_generate(s, prompt, n, wantCount, NULL, -1, NULL, NULL, out,
                      &count) != TAILOR_OK) {
    fprintf(stderr, "embedded: %s\n", tailor_last_error());
    return 1;
  }
  int ok = count == wantCount && memcmp(out, want, count * sizeof *out) == 0;
  printf("embedded: %zu greedy tokens %s\n", count,
         ok ? "match PyTorch" : "DIFFER from PyTorch");
  tailor_session_free(s);
  tailor_model_unload(m);
  return ok ? 0 : 1;
}
