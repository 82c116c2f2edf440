/*
 * A tiny test framework for the C test programs.
 *
 * A failed check prints where and why and the test goes on, so one run shows every
 * failure. Checks may run on any thread (library callbacks included); the counters are
 * atomic. The last line a program prints is "N passed, N failed" (tests, not checks),
 * and check_report() turns it into the exit status, which is what tests/c_api.rs reads.
 *
 * STOMPWS_TEST_FILTER=text runs only the tests whose name contains text.
 *
 * Include this file first, after defining _POSIX_C_SOURCE.
 */
#ifndef STOMPWS_CHECK_H
#define STOMPWS_CHECK_H

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stompws.h>

static atomic_uint check_failures; /* failed checks so far, all tests */
static unsigned check_tests_passed, check_tests_failed;

static inline int check_fail_begin(const char *file, int line)
{
    atomic_fetch_add(&check_failures, 1);
    fprintf(stdout, "FAIL %s:%d: ", file, line);
    return 0;
}

static inline int check_true(int ok, const char *text, const char *file, int line)
{
    if (ok)
        return 1;
    check_fail_begin(file, line);
    fprintf(stdout, "%s\n", text);
    fflush(stdout);
    return 0;
}

/* On success this calls nothing in the library, so a test may read stompws_last_error
 * right after a CHECK_RESULT. */
static inline int check_result(stompws_result got, stompws_result expected, const char *text,
                               const char *file, int line)
{
    if (got == expected)
        return 1;
    char detail[512] = "";
    stompws_last_error(detail, sizeof detail); /* before anything else replaces it */
    check_fail_begin(file, line);
    fprintf(stdout, "%s\n    got %d (%s: %s), expected %d (%s)\n", text, (int)got,
            stompws_result_str(got), detail, (int)expected, stompws_result_str(expected));
    fflush(stdout);
    return 0;
}

static inline int check_str(const char *got, const char *expected, const char *text,
                            const char *file, int line)
{
    if (got && expected ? strcmp(got, expected) == 0 : got == expected)
        return 1;
    check_fail_begin(file, line);
    fprintf(stdout, "%s\n    got %s%s%s, expected %s%s%s\n", text, got ? "\"" : "",
            got ? got : "NULL", got ? "\"" : "", expected ? "\"" : "",
            expected ? expected : "NULL", expected ? "\"" : "");
    fflush(stdout);
    return 0;
}

static inline int check_contains(const char *haystack, const char *needle, const char *text,
                                 const char *file, int line)
{
    if (haystack && strstr(haystack, needle))
        return 1;
    check_fail_begin(file, line);
    fprintf(stdout, "%s\n    \"%s\" does not contain \"%s\"\n", text,
            haystack ? haystack : "(NULL)", needle);
    fflush(stdout);
    return 0;
}

static inline int check_size(size_t got, size_t expected, const char *text, const char *file,
                             int line)
{
    if (got == expected)
        return 1;
    check_fail_begin(file, line);
    fprintf(stdout, "%s\n    got %zu, expected %zu\n", text, got, expected);
    fflush(stdout);
    return 0;
}

/* Each returns 1 when the check passed, so a test can stop early: if (!CHECK_OK(..)) return; */
#define CHECK(cond) check_true((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_RESULT(expr, expected) check_result((expr), (expected), #expr, __FILE__, __LINE__)
#define CHECK_OK(expr) CHECK_RESULT((expr), STOMPWS_RESULT_OK)
#define CHECK_STR(got, expected) check_str((got), (expected), #got, __FILE__, __LINE__)
#define CHECK_CONTAINS(haystack, needle) \
    check_contains((haystack), (needle), #haystack, __FILE__, __LINE__)
#define CHECK_SIZE(got, expected) check_size((got), (expected), #got, __FILE__, __LINE__)

/* A pointer value no library call may write: out-params are written only on success,
 * so a test presets them with this and checks it is still there after a failure. */
#define UNTOUCHED(type) ((type *)(uintptr_t)0x5eed)

/* The calling thread's last error detail, in a static buffer (tests are sequential). */
static inline const char *last_error(void)
{
    static char buf[1024];
    buf[0] = '\0';
    stompws_last_error(buf, sizeof buf);
    return buf;
}

static inline unsigned long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}

static inline void sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000u, (long)(ms % 1000u) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Polls cond (an expression) every 10 ms until it holds or ms passed. Check cond after. */
#define WAIT_UNTIL(cond, ms)                                                   \
    do {                                                                       \
        unsigned long long wait_deadline_ = now_ms() + (ms);                   \
        while (!(cond) && now_ms() < wait_deadline_)                           \
            sleep_ms(10);                                                      \
    } while (0)

static inline void run_test(const char *name, void (*test)(void))
{
    const char *filter = getenv("STOMPWS_TEST_FILTER");
    if (filter && filter[0] && !strstr(name, filter))
        return;
    unsigned before = atomic_load(&check_failures);
    unsigned long long start = now_ms();
    fprintf(stdout, "-- %s\n", name);
    fflush(stdout);
    test();
    int ok = atomic_load(&check_failures) == before;
    fprintf(stdout, "%s %s (%llu ms)\n", ok ? "ok" : "FAILED", name, now_ms() - start);
    fflush(stdout);
    if (ok)
        check_tests_passed++;
    else
        check_tests_failed++;
}
#define RUN(test) run_test(#test, test)

/* Prints the summary line and returns the exit status. */
static inline int check_report(void)
{
    /* A check that failed outside any test (e.g. in a late callback) still fails the run. */
    if (check_tests_failed == 0 && atomic_load(&check_failures) != 0)
        check_tests_failed = 1;
    printf("%u passed, %u failed\n", check_tests_passed, check_tests_failed);
    fflush(stdout);
    return check_tests_failed ? 1 : 0;
}

#endif /* STOMPWS_CHECK_H */
