/*
 * Minimal unit test harness. Each test file defines TEST(name) functions and
 * a main() that calls RUN(name) for each; a test prints "ok <name>" or
 * "FAIL <name>: <file>:<line>: <what>" and the runner counts those lines.
 */
#ifndef VOXGATE_TEST_H
#define VOXGATE_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failures;

#define TEST(name) static int test_##name(void)

#define RUN(name)                                                              \
	do {                                                                   \
		if (test_##name() == 0)                                        \
			printf("ok %s\n", #name);                              \
		else                                                           \
			test_failures++;                                       \
		fflush(stdout);                                                \
	} while (0)

#define TEST_FAIL(name_str, ...)                                               \
	do {                                                                   \
		printf("FAIL %s: %s:%d: ", name_str, __FILE__, __LINE__);      \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		return 1;                                                      \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			TEST_FAIL(__func__ + 5, "%s", #cond);                  \
	} while (0)

#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		long long a_ = (long long)(a), b_ = (long long)(b);            \
		if (a_ != b_)                                                  \
			TEST_FAIL(__func__ + 5, "%s == %s (%lld != %lld)", #a, \
			          #b, a_, b_);                                 \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (strcmp(a_, b_) != 0)                                       \
			TEST_FAIL(__func__ + 5, "%s == \"%s\" (got \"%s\")",   \
			          #a, b_, a_);                                 \
	} while (0)

#define TEST_EXIT() return test_failures ? 1 : 0

#endif
