/* Storage types of weights and tensors, and their conversion to f32. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef enum {
    RD_F32,
    RD_F16,
    RD_BF16,
    RD_F8_E4M3,
    RD_F8_E5M2,
    RD_I64, /* token ids in golden files only */
    RD_DTYPE_COUNT
} RdDType;

size_t rd_dtype_size(RdDType dtype);
const char *rd_dtype_name(RdDType dtype);
/* Parses a safetensors dtype string ("F32", "BF16", "F8_E4M3", ...); returns -1 when unknown. */
int rd_dtype_from_name(const char *name);

float rd_f16_to_f32(uint16_t h);
float rd_bf16_to_f32(uint16_t b);
float rd_e4m3_to_f32(uint8_t v);
float rd_e5m2_to_f32(uint8_t v);
uint16_t rd_f32_to_bf16(float f); /* round to nearest even */
uint16_t rd_f32_to_f16(float f);  /* round to nearest even */
/* Round to nearest even, saturating at the largest finite value (448, 57344); NaN stays NaN. */
uint8_t rd_f32_to_e4m3(float f);
uint8_t rd_f32_to_e5m2(float f);

/* Widens n elements of src (any float dtype) into dst. */
void rd_convert_to_f32(RdDType dtype, const void *src, float *dst, size_t n);
