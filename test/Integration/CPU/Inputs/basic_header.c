/* Uses the header that mha-compile wrote for basic.mlir from plain C11: the
 * declarations must have the contract's types (docs/language.md "The generated
 * C interface"), and the program must link against the generated library and
 * get MHA_ERR_NULL_POINTER with a message for a NULL tensor. */
#include "libbasic.h"

#include <stdio.h>
#include <string.h>

typedef mha_status (*attention_fn)(const DLTensor *q, const DLTensor *k,
                                   const DLTensor *v, DLTensor *o,
                                   const mha_options *opts);

int main(void) {
  attention_fn fns[] = {dyn, static_scale, static_batch, static_len};
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); ++i) {
    mha_status s = fns[i](NULL, NULL, NULL, NULL, NULL);
    const char *msg = mha_last_error();
    if (s != MHA_ERR_NULL_POINTER || !msg || !strstr(msg, "'q'")) {
      printf("FAIL function %zu: status %d (%s), message \"%s\"\n", i, (int)s,
             mha_status_string(s), msg ? msg : "(null)");
      return 1;
    }
  }
  printf("PASS %s\n", mha_status_string(MHA_ERR_NULL_POINTER));
  return 0;
}
