/* DLTensor views of the arrays of the C programs that the integration tests
 * compile (Inputs/ of CPU and GPU). */
#ifndef MHA_TEST_INTEGRATION_TEST_TENSORS_H
#define MHA_TEST_INTEGRATION_TEST_TENSORS_H

#include <dlpack/dlpack.h>

#include <stdint.h>
#include <string.h>

/* Compact (strides NULL), `ndim` dimensions of `shape`, one lane of type
 * (`code`, `bits`), on `device` (a DLDeviceType), device id 0. */
static inline void test_tensor_init(DLTensor *t, void *data, int ndim,
                                    int64_t *shape, int device, int code,
                                    int bits) {
  memset(t, 0, sizeof *t);
  t->data = data;
  t->device.device_type = (DLDeviceType)device;
  t->ndim = ndim;
  t->shape = shape;
  t->dtype.code = (uint8_t)code;
  t->dtype.bits = (uint8_t)bits;
  t->dtype.lanes = 1;
}

/* An f32 tensor in host memory. */
static inline DLTensor host_f32_tensor(float *data, int ndim, int64_t *shape) {
  DLTensor t;
  test_tensor_init(&t, data, ndim, shape, kDLCPU, kDLFloat, 32);
  return t;
}

#endif /* MHA_TEST_INTEGRATION_TEST_TENSORS_H */
