/*
 * The stompws C driver for the shared benchmark harness (../shared/bench), run by
 * benches/harness.sh beside the Rust driver (examples/bench_driver.rs). It uses only
 * the public C API (include/stompws.h), the way a C application would: for every
 * consumed message one stompws_message_header lookup, the body, and
 * stompws_message_free, the messages taken in batches (see SCENARIO below).
 *
 * Contract (the harness's README, "Driver contract"):
 *   bench_driver_c URL SCENARIO N SIZE
 * SCENARIO is publish, consume, rtt or echo (the harness runs publish-big and
 * consume-big as publish and consume with other N and SIZE). Consume takes messages with
 * stompws_subscription_receive_many, up to 64 at a time; STOMPWS_BENCH_BATCH=N (1 to 64)
 * sets that, and 1 uses stompws_subscription_receive, one call per message. On success it prints one
 * JSON line on stdout and exits 0; on any failure it prints the reason on stderr and
 * exits 1. Timing: publish from the first SEND to the last one's RECEIPT; consume from
 * the SUBSCRIBE to the message with `x-last:true`; rtt and echo per round trip and for
 * the whole loop. Connecting and disconnecting are not timed.
 *
 * The consume scenario also serves benches/rabbitmq-cpu.sh: there the queue was
 * pre-loaded with N messages and a last one with `x-last:true`, and the broker ignores
 * the x-count and x-size headers.
 *
 * Build: benches/c/build.sh (links the static library of a build without TLS, as the
 * Rust driver is built). Compiles clean with -std=c11 -Wall -Wextra -Werror -pedantic.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stompws.h"

/* How long any single wait (a receive, a receipt) may take before the run fails. */
#define WAIT_MS 120000u

/* The most messages one stompws_subscription_receive_many call takes in the consume
 * scenario, and the default: a consumer that keeps up with a busy subscription takes
 * what is queued at once, paying the call and the queue's lock once per batch. */
#define MAX_BATCH 64u

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("driver error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Fails with the call's name, the result and the thread's last error detail. */
static void check(stompws_result r, const char *what) {
    if (r == STOMPWS_RESULT_OK) {
        return;
    }
    char detail[512];
    size_t len = stompws_last_error(detail, sizeof detail);
    fail("%s: %s%s%s", what, stompws_result_str((uint32_t)r), len > 0 ? ": " : "",
         len > 0 ? detail : "");
}

static uint64_t now_ns(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        fail("clock_gettime failed");
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t parse_u64(const char *s, const char *what) {
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9') {
        fail("bad %s: %s", what, s);
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') {
        fail("bad %s: %s", what, s);
    }
    return (uint64_t)v;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile p (1-100) of the sorted array, in microseconds:
 * the value of rank ceil(p/100 * n). */
static double percentile_us(const uint64_t *sorted, size_t n, unsigned p) {
    size_t rank = (p * n + 99) / 100;
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return (double)sorted[rank - 1] / 1000.0;
}

/* Checks a consumed message's body: SIZE bytes. */
static void check_body(const stompws_message *m, uint64_t size, const char *what) {
    size_t len = 0;
    const uint8_t *body = stompws_message_body(m, &len);
    if (body == NULL || len != size) {
        fail("%s body of %zu bytes, expected %" PRIu64, what, len, size);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fail("usage: bench_driver_c URL SCENARIO N SIZE");
    }
    const char *url = argv[1];
    const char *scenario = argv[2];
    uint64_t n = parse_u64(argv[3], "N");
    uint64_t size = parse_u64(argv[4], "SIZE");
    const char *transport = strncmp(url, "ws", 2) == 0 ? "ws" : "tcp";
    size_t receive_batch = MAX_BATCH;
    const char *batch_env = getenv("STOMPWS_BENCH_BATCH");
    if (batch_env != NULL && batch_env[0] != '\0') {
        uint64_t b = parse_u64(batch_env, "STOMPWS_BENCH_BATCH");
        if (b < 1 || b > MAX_BATCH) {
            fail("STOMPWS_BENCH_BATCH must be 1 to %u", MAX_BATCH);
        }
        receive_batch = (size_t)b;
    }

    uint8_t *body = malloc(size > 0 ? (size_t)size : 1);
    if (body == NULL) {
        fail("out of memory");
    }
    for (uint64_t i = 0; i < size; i++) {
        body[i] = (uint8_t)('a' + i % 26);
    }

    stompws_config *config = stompws_config_new();
    if (config == NULL) {
        fail("stompws_config_new returned NULL");
    }
    check(stompws_config_set_heartbeat(config, 0, 0), "set heartbeat");
    check(stompws_config_set_receipt_timeout(config, WAIT_MS), "set receipt timeout");
    stompws_client *client = NULL;
    check(stompws_client_connect(url, config, &client), "connect");
    stompws_config_free(config);

    double secs = 0.0;
    uint64_t *lat = NULL; /* per-round-trip nanoseconds, rtt and echo only */

    if (strcmp(scenario, "publish") == 0) {
        uint64_t t0 = now_ns();
        for (uint64_t i = 0; i < n; i++) {
            check(stompws_client_send(client, "/queue/bench", NULL, 0, body, (size_t)size),
                  "send");
        }
        check(stompws_client_send_with_receipt(client, "/queue/bench", NULL, 0, body,
                                               (size_t)size),
              "last send");
        secs = (double)(now_ns() - t0) / 1e9;
    } else if (strcmp(scenario, "consume") == 0) {
        char count[24], sz[24];
        snprintf(count, sizeof count, "%" PRIu64, n);
        snprintf(sz, sizeof sz, "%" PRIu64, size);
        const stompws_header headers[] = {{"x-count", count}, {"x-size", sz}};
        uint64_t t0 = now_ns();
        stompws_subscription *sub = NULL;
        check(stompws_client_subscribe(client, "/queue/firehose", STOMPWS_ACK_MODE_AUTO,
                                       headers, 2, &sub),
              "subscribe");
        uint64_t got = 0;
        bool last_seen = false;
        while (!last_seen) {
            stompws_message *batch[MAX_BATCH];
            size_t taken = 0;
            stompws_result r;
            if (receive_batch == 1) {
                r = stompws_subscription_receive(sub, WAIT_MS, &batch[0]);
                taken = r == STOMPWS_RESULT_OK ? 1 : 0;
            } else {
                r = stompws_subscription_receive_many(sub, WAIT_MS, batch, receive_batch, &taken);
            }
            if (r != STOMPWS_RESULT_OK) {
                char what[64];
                snprintf(what, sizeof what, "receive after %" PRIu64 " messages", got);
                check(r, what);
            }
            for (size_t i = 0; i < taken; i++) {
                stompws_message *m = batch[i];
                const char *last = stompws_message_header(m, "x-last");
                if (last != NULL && strcmp(last, "true") == 0) {
                    last_seen = true;
                } else if (last_seen) {
                    fail("a message after the one with x-last");
                } else {
                    check_body(m, size, "message");
                    got++;
                }
                stompws_message_free(m);
            }
        }
        secs = (double)(now_ns() - t0) / 1e9;
        if (got != n) {
            fail("received %" PRIu64 " messages, expected %" PRIu64, got, n);
        }
        stompws_subscription_free(sub);
    } else if (strcmp(scenario, "rtt") == 0) {
        lat = malloc((n > 0 ? (size_t)n : 1) * sizeof *lat);
        if (lat == NULL) {
            fail("out of memory");
        }
        uint64_t t0 = now_ns();
        for (uint64_t i = 0; i < n; i++) {
            uint64_t t = now_ns();
            check(stompws_client_send_with_receipt(client, "/queue/bench", NULL, 0, body,
                                                   (size_t)size),
                  "send with receipt");
            lat[i] = now_ns() - t;
        }
        secs = (double)(now_ns() - t0) / 1e9;
    } else if (strcmp(scenario, "echo") == 0) {
        const stompws_header sub_headers[] = {{"receipt", "sub"}};
        stompws_subscription *sub = NULL;
        check(stompws_client_subscribe(client, "/queue/echo", STOMPWS_ACK_MODE_AUTO,
                                       sub_headers, 1, &sub),
              "subscribe");
        lat = malloc((n > 0 ? (size_t)n : 1) * sizeof *lat);
        if (lat == NULL) {
            fail("out of memory");
        }
        uint64_t t0 = now_ns();
        for (uint64_t i = 0; i < n; i++) {
            uint64_t t = now_ns();
            check(stompws_client_send(client, "/queue/echo", NULL, 0, body, (size_t)size),
                  "send");
            stompws_message *m = NULL;
            check(stompws_subscription_receive(sub, WAIT_MS, &m), "echo");
            check_body(m, size, "echo");
            stompws_message_free(m);
            lat[i] = now_ns() - t;
        }
        secs = (double)(now_ns() - t0) / 1e9;
        stompws_subscription_free(sub);
    } else {
        fail("unknown scenario %s", scenario);
    }

    check(stompws_client_disconnect(client, WAIT_MS), "disconnect");
    stompws_client_free(client);
    free(body);

    char p50[32] = "null", p99[32] = "null";
    if (lat != NULL && n > 0) {
        qsort(lat, (size_t)n, sizeof *lat, cmp_u64);
        snprintf(p50, sizeof p50, "%.1f", percentile_us(lat, (size_t)n, 50));
        snprintf(p99, sizeof p99, "%.1f", percentile_us(lat, (size_t)n, 99));
    }
    free(lat);
    printf("{\"client\":\"stompws-c\",\"transport\":\"%s\",\"scenario\":\"%s\",\"n\":%" PRIu64
           ",\"size\":%" PRIu64 ",\"seconds\":%.6f,\"msgs_per_s\":%.1f,\"p50_us\":%s,"
           "\"p99_us\":%s}\n",
           transport, scenario, n, size, secs, secs > 0 ? (double)n / secs : 0.0, p50, p99);
    return 0;
}
