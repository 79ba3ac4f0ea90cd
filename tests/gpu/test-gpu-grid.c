/* ResDiT grid ops on the GPU: window gather, weighted splice, and the spectral fusion (cuFFT). */
#include "gpu-util.h"

#define GRID_TOL 1e-2f
#define GRID_EPS 0.08f

static void test_gather(void)
{
    const int rows = 12, cols = 17, channels = 40;
    GuMat grid = gu_mat_random(rows * cols, channels, -2.0f, 2.0f, 800);
    RdWindow win = {3, 5, 8, 9};
    GuMat patch = gu_mat_poisoned(win.h * win.w, channels);
    gu_cpu()->grid_gather(gu_cpu(), &grid.cpu, cols, win, &patch.cpu);
    gu_gpu()->grid_gather(gu_gpu(), &grid.gpu, cols, win, &patch.gpu);
    gu_mat_check("gather", &patch, 0.0f, 0.0f);
    gu_mat_free(&grid);
    gu_mat_free(&patch);
}

/* Two overlapping windows spliced with Gaussian-like weights into one accumulator. */
static void test_splice(void)
{
    const int rows = 10, cols = 14, channels = 24;
    GuMat grid = gu_mat_random(rows * cols, channels, -1.0f, 1.0f, 810);
    RdWindow wins[2] = {{0, 0, 8, 8}, {2, 6, 8, 8}};
    for (int i = 0; i < 2; i++) {
        GuMat patch = gu_mat_random(64, channels, -2.0f, 2.0f, 811 + i);
        GuMat rw = gu_mat_random(1, 8, 0.05f, 1.0f, 820 + i);
        GuMat cw = gu_mat_random(1, 8, 0.05f, 1.0f, 830 + i);
        gu_cpu()->grid_splice(gu_cpu(), &patch.cpu, &rw.cpu, &cw.cpu, &grid.cpu, cols, wins[i]);
        gu_gpu()->grid_splice(gu_gpu(), &patch.gpu, &rw.gpu, &cw.gpu, &grid.gpu, cols, wins[i]);
        gu_mat_free(&patch);
        gu_mat_free(&rw);
        gu_mat_free(&cw);
    }
    gu_mat_check("two overlapping splices", &grid, GRID_TOL, GRID_EPS);
    gu_mat_free(&grid);
}

static void run_fuse(const char *what, int h, int w, int channels, double cutoff, gboolean in_place,
                     guint32 seed)
{
    GuMat global = gu_mat_random(h * w, channels, -2.0f, 2.0f, seed);
    GuMat local = gu_mat_random(h * w, channels, -2.0f, 2.0f, seed + 1);
    GuMat out = gu_mat_poisoned(h * w, channels);
    GuMat *dst = in_place ? &local : &out;
    gu_cpu()->spectral_fuse(gu_cpu(), &global.cpu, &local.cpu, h, w, cutoff, &dst->cpu);
    gu_gpu()->spectral_fuse(gu_gpu(), &global.gpu, &local.gpu, h, w, cutoff, &dst->gpu);
    gu_mat_check(what, dst, GRID_TOL, GRID_EPS);
    gu_mat_free(&global);
    gu_mat_free(&local);
    gu_mat_free(&out);
}

static void test_spectral_mixed(void)
{
    run_fuse("fuse 8x8, cutoff 0.2", 8, 8, 32, 0.2, FALSE, 900);
    run_fuse("fuse 8x8, cutoff 0.6", 8, 8, 32, 0.6, FALSE, 902);
    run_fuse("fuse 8x8 again (cached plan)", 8, 8, 32, 0.6, FALSE, 904);
    run_fuse("fuse 6x10, cutoff 0.5", 6, 10, 20, 0.5, FALSE, 906);
    run_fuse("fuse 7x5 (odd sides), cutoff 0.7", 7, 5, 12, 0.7, FALSE, 908);
    run_fuse("fuse 1x9 (one row), cutoff 0.5", 1, 9, 16, 0.5, FALSE, 910);
    run_fuse("fuse 10x1 (one column), cutoff 0.5", 10, 1, 16, 0.5, FALSE, 911);
    run_fuse("fuse 16x16 in place over local", 16, 16, 48, 0.3, TRUE, 912);
}

/* cutoff 0: the local patch; cutoff 1.5: the global patch (both copies, no FFT). */
static void test_spectral_shortcuts(void)
{
    run_fuse("fuse cutoff 0 = local", 8, 8, 16, 0.0, FALSE, 920);
    run_fuse("fuse cutoff 1.5 = global", 8, 8, 16, 1.5, FALSE, 922);
    run_fuse("fuse 1x1 = global", 1, 1, 16, 0.2, FALSE, 924);
}

int main(int argc, char **argv)
{
    gu_init_or_skip(&argc, &argv);
    g_test_add_func("/gpu/grid/gather", test_gather);
    g_test_add_func("/gpu/grid/splice", test_splice);
    g_test_add_func("/gpu/grid/spectral-mixed", test_spectral_mixed);
    g_test_add_func("/gpu/grid/spectral-shortcuts", test_spectral_shortcuts);
    return g_test_run();
}
