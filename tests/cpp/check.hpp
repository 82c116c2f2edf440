// A tiny test framework for the C++ test programs, the counterpart of tests/c/check.h.
//
// A failed check prints where and why and the test goes on, so one run shows every
// failure. Checks may run on any thread (library callbacks included); the counter is
// atomic. A test that lets an exception out fails (with its what()). The last line a
// program prints is "N passed, N failed" (tests, not checks), and report() turns it into
// the exit status, which is what tests/cpp_api.rs reads.
//
// STOMPWS_TEST_FILTER=text runs only the tests whose name contains text.
#ifndef STOMPWS_CPP_CHECK_HPP
#define STOMPWS_CPP_CHECK_HPP

#include <stompws.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <thread>

namespace check {

inline std::atomic<unsigned> failures{0}; // failed checks so far, all tests
inline unsigned tests_passed = 0;
inline unsigned tests_failed = 0;

inline bool fail(const char *file, int line, const std::string &text)
{
    failures++;
    std::printf("FAIL %s:%d: %s\n", file, line, text.c_str());
    std::fflush(stdout);
    return false;
}

inline bool truth(bool ok, const char *text, const char *file, int line)
{
    return ok || fail(file, line, text);
}

template <typename A, typename B>
bool equal(const A &got, const B &expected, const char *text, const char *file, int line)
{
    if (got == expected)
        return true;
    std::ostringstream out;
    out << text << "\n    got \"" << got << "\", expected \"" << expected << "\"";
    return fail(file, line, out.str());
}

inline bool contains(std::string_view haystack, std::string_view needle, const char *text,
                     const char *file, int line)
{
    if (haystack.find(needle) != std::string_view::npos)
        return true;
    std::ostringstream out;
    out << text << "\n    \"" << haystack << "\" does not contain \"" << needle << "\"";
    return fail(file, line, out.str());
}

inline long long now_ms()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

/// Polls `cond` every 10 ms until it holds or `ms` passed; returns its last value.
template <typename Cond> bool wait_until(Cond cond, long long ms)
{
    long long deadline = now_ms() + ms;
    while (!cond()) {
        if (now_ms() >= deadline)
            return cond();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

inline void run(const char *name, void (*test)())
{
    const char *filter = std::getenv("STOMPWS_TEST_FILTER");
    if (filter && filter[0] && std::string(name).find(filter) == std::string::npos)
        return;
    unsigned before = failures.load();
    long long start = now_ms();
    std::printf("-- %s\n", name);
    std::fflush(stdout);
    try {
        test();
    } catch (const std::exception &e) {
        fail(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    } catch (...) {
        fail(__FILE__, __LINE__, "uncaught exception of another type");
    }
    bool ok = failures.load() == before;
    std::printf("%s %s (%lld ms)\n", ok ? "ok" : "FAILED", name, now_ms() - start);
    std::fflush(stdout);
    (ok ? tests_passed : tests_failed)++;
}

/// Prints the summary line and returns the exit status.
inline int report()
{
    // A check that failed outside any test (e.g. in a late callback) still fails the run.
    if (tests_failed == 0 && failures.load() != 0)
        tests_failed = 1;
    std::printf("%u passed, %u failed\n", tests_passed, tests_failed);
    std::fflush(stdout);
    return tests_failed ? 1 : 0;
}

} // namespace check

// Each evaluates to true when the check passed, so a test can stop early.
#define CHECK(cond) check::truth(static_cast<bool>(cond), #cond, __FILE__, __LINE__)
#define CHECK_EQ(got, expected) check::equal((got), (expected), #got, __FILE__, __LINE__)
#define CHECK_CONTAINS(haystack, needle) \
    check::contains((haystack), (needle), #haystack, __FILE__, __LINE__)
// `expr` must throw stompws::Error with this code; evaluates to the Error's what() ("" if
// it did not throw).
#define CHECK_THROWS(expr, expected_code)                                                    \
    [&]() -> std::string {                                                                   \
        try {                                                                                \
            expr;                                                                            \
        } catch (const stompws::Error &e_) {                                                 \
            check::equal(stompws::result_str(e_.code()), stompws::result_str(expected_code), \
                         #expr " threw", __FILE__, __LINE__);                                \
            return e_.what();                                                                \
        }                                                                                    \
        check::fail(__FILE__, __LINE__, #expr " did not throw");                             \
        return std::string();                                                                \
    }()
#define RUN(test) check::run(#test, test)

#endif // STOMPWS_CPP_CHECK_HPP
