/* Helpers shared by the unit tests: deterministic random data and tolerant comparisons. */
#pragma once

#include <glib.h>
#include <stdint.h>

/* Fills with uniform values in [lo, hi) from a fixed-seed generator (never all zeros). */
void tu_fill_uniform(float *x, size_t n, float lo, float hi, guint32 seed);
/* Asserts |got - ref| <= tol + |ref| * eps for every element, naming the first that fails. */
void tu_assert_close(const char *what, const float *got, const float *ref, size_t n, float tol,
                     float eps);
/* ||got - ref|| / ||ref|| */
double tu_relative_l2(const float *got, const float *ref, size_t n);
/* Path of a file under tests/data in the source tree (G_TEST_SRCDIR is tests/). */
char *tu_data_path(const char *name);
