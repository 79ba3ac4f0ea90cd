/* Storage dtypes: every conversion against values worked out by hand. */
#include <math.h>
#include <string.h>

#include "dtype.h"
#include "test-util.h"

static void test_bf16_round_trip(void)
{
    const float values[] = {1.0f, -2.5f, 3.140625f, 65536.0f, 0x1p-100f, -0.0f};
    for (size_t i = 0; i < G_N_ELEMENTS(values); i++)
        g_assert_cmpfloat(rd_bf16_to_f32(rd_f32_to_bf16(values[i])), ==, values[i]);
    /* 1 + 2^-8 is halfway between two bf16 values: ties to even gives 1.0. */
    g_assert_cmpfloat(rd_bf16_to_f32(rd_f32_to_bf16(1.0f + 1.0f / 256)), ==, 1.0f);
    g_assert_cmpfloat(rd_bf16_to_f32(rd_f32_to_bf16(1.0f + 3.0f / 256)), ==, 1.0f + 4.0f / 256);
}

static void test_f16(void)
{
    g_assert_cmpfloat(rd_f16_to_f32(0x3c00), ==, 1.0f);
    g_assert_cmpfloat(rd_f16_to_f32(0xc000), ==, -2.0f);
    g_assert_cmpfloat(rd_f16_to_f32(0x7bff), ==, 65504.0f);
    g_assert_cmpfloat(rd_f16_to_f32(0x0001), ==, ldexpf(1.0f, -24));
    g_assert_true(isinf(rd_f16_to_f32(0x7c00)));
    const float values[] = {0.5f, -1.75f, 1000.0f, ldexpf(3.0f, -20)};
    for (size_t i = 0; i < G_N_ELEMENTS(values); i++)
        g_assert_cmpfloat(rd_f16_to_f32(rd_f32_to_f16(values[i])), ==, values[i]);
}

static void test_fp8(void)
{
    g_assert_cmpfloat(rd_e4m3_to_f32(0x38), ==, 1.0f);   /* exp 7, mant 0 */
    g_assert_cmpfloat(rd_e4m3_to_f32(0x7e), ==, 448.0f); /* the largest finite E4M3 */
    g_assert_cmpfloat(rd_e4m3_to_f32(0xb9), ==, -1.125f);
    g_assert_cmpfloat(rd_e4m3_to_f32(0x01), ==, ldexpf(1.0f, -9));
    g_assert_true(isnan(rd_e4m3_to_f32(0x7f)));
    g_assert_cmpfloat(rd_e5m2_to_f32(0x3c), ==, 1.0f);
    g_assert_cmpfloat(rd_e5m2_to_f32(0x7b), ==, 57344.0f);
    g_assert_true(isinf(rd_e5m2_to_f32(0x7c)));
}

static void test_convert_block(void)
{
    uint16_t bf[4] = {0x3f80, 0x4000, 0xbf00, 0x4049};
    float out[4];
    rd_convert_to_f32(RD_BF16, bf, out, 4);
    const float want[4] = {1.0f, 2.0f, -0.5f, 3.140625f};
    tu_assert_close("bf16 block", out, want, 4, 0.0f, 0.0f);
}

/* Tensor data at an odd offset of a file (safetensors does not align it): every dtype converts
 * without a misaligned load (the UBSan build aborts on one). */
static void test_misaligned(void)
{
    static unsigned char raw[1 + 4 * 8 + 8] __attribute__((aligned(16)));
    unsigned char *odd = raw + 1;
    float out[4];
    const float want[4] = {1.0f, 2.0f, -0.5f, 3.140625f};
    const uint16_t bf[4] = {0x3f80, 0x4000, 0xbf00, 0x4049};
    memcpy(odd, bf, sizeof bf);
    rd_convert_to_f32(RD_BF16, odd, out, 4);
    tu_assert_close("bf16 at an odd address", out, want, 4, 0.0f, 0.0f);
    const uint16_t h[4] = {0x3c00, 0x4000, 0xb800, 0x4248};
    memcpy(odd, h, sizeof h);
    rd_convert_to_f32(RD_F16, odd, out, 4);
    tu_assert_close("f16 at an odd address", out, want, 4, 0.0f, 0.0f);
    const int64_t ids[4] = {1, 2, -7, 49407};
    const float want_ids[4] = {1.0f, 2.0f, -7.0f, 49407.0f};
    memcpy(odd, ids, sizeof ids);
    rd_convert_to_f32(RD_I64, odd, out, 4);
    tu_assert_close("i64 at an odd address", out, want_ids, 4, 0.0f, 0.0f);
    memcpy(odd, want, sizeof want);
    rd_convert_to_f32(RD_F32, odd, out, 4);
    tu_assert_close("f32 at an odd address", out, want, 4, 0.0f, 0.0f);
}

static void test_names(void)
{
    for (int i = 0; i < RD_DTYPE_COUNT; i++)
        g_assert_cmpint(rd_dtype_from_name(rd_dtype_name(i)), ==, i);
    g_assert_cmpint(rd_dtype_from_name("Q4_K"), ==, -1);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/dtype/bf16", test_bf16_round_trip);
    g_test_add_func("/dtype/f16", test_f16);
    g_test_add_func("/dtype/fp8", test_fp8);
    g_test_add_func("/dtype/convert-block", test_convert_block);
    g_test_add_func("/dtype/names", test_names);
    g_test_add_func("/dtype/misaligned", test_misaligned);
    return g_test_run();
}
