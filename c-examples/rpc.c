/*
 * rpc: request/reply over RabbitMQ's temporary reply queues, both sides in one program.
 *
 * The responder (its own client, on a thread of its own) takes requests from a queue
 * and answers each at its `reply-to` destination, with its `correlation-id`. The
 * requester sends COUNT requests one after the other, each with
 * `reply-to: /temp-queue/replies`, and waits for each reply before the next.
 *
 * RabbitMQ rewrites /temp-queue/replies into a queue of its own and delivers the
 * replies on a subscription it made itself: their `subscription` header names none of
 * the requester's subscriptions. Only stompws_client_subscribe_unhandled receives them;
 * without it they are dropped (the debug hook says so).
 *
 *     ./rpc -u tcp://127.0.0.1:61613 -n 20
 *
 * prints every reply with its round trip, then the median; it exits 0 when every
 * request got its reply with the right correlation-id.
 */
#define _POSIX_C_SOURCE 200809L
#include "example.h"

#include <pthread.h>
#include <stdatomic.h>

/* The responder's side, shared with its thread. */
struct responder {
    stompws_client *client;
    stompws_subscription *requests;
    atomic_int stop;
    unsigned long answered;
    int failed;
};

/* The responder thread: answers requests until told to stop. */
static void *respond(void *arg)
{
    struct responder *responder = arg;
    while (!atomic_load(&responder->stop)) {
        stompws_message *request = NULL;
        stompws_result r = stompws_subscription_receive(responder->requests, 200, &request);
        if (r == STOMPWS_RESULT_TIMEOUT)
            continue;
        if (r != STOMPWS_RESULT_OK) {
            example_fail("responder: receive", r);
            responder->failed = 1;
            break;
        }
        const char *reply_to = stompws_message_header(request, "reply-to");
        const char *correlation = stompws_message_header(request, "correlation-id");
        if (!reply_to) {
            fprintf(stderr, "responder: a request without reply-to, skipped\n");
            stompws_message_free(request);
            continue;
        }
        size_t len = 0;
        const uint8_t *body = stompws_message_body(request, &len);
        char reply[4096];
        int n = snprintf(reply, sizeof reply, "re: %.*s", (int)(len < 4000 ? len : 4000),
                         (const char *)body);
        const stompws_header headers[] = { { "correlation-id", correlation ? correlation : "" } };
        r = stompws_client_send(responder->client, reply_to, headers, 1, (const uint8_t *)reply,
                                (size_t)n);
        stompws_message_free(request);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("responder: send", r);
            responder->failed = 1;
            break;
        }
        responder->answered++;
    }
    return NULL;
}

static int compare_ms(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A monotonic clock in milliseconds, with fractions. */
static double now_ms_precise(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    struct example_options o;
    if (example_options(argc, argv, &o,
                        "A responder takes requests from DESTINATION (default /queue/stompws-rpc)\n"
                        "and answers each at its reply-to; the requester sends COUNT (default 10)\n"
                        "requests with reply-to /temp-queue/replies, waits up to MILLISECONDS\n"
                        "(default 5000) for each reply, and prints the median round trip.\n"
                        "Temporary reply queues as used here are RabbitMQ's.",
                        "/queue/stompws-rpc", 10, 5000) != 0)
        return 2;
    if (o.count == 0)
        o.count = 1;

    int status = 1;
    stompws_config *config = NULL;
    stompws_client *requester = NULL;
    stompws_subscription *replies = NULL;
    struct responder responder = { NULL, NULL, 0, 0, 0 };
    atomic_init(&responder.stop, 0);
    int thread_started = 0;
    pthread_t thread;
    unsigned long received = 0;
    double *round_trips = calloc(o.count, sizeof *round_trips);
    stompws_result r;

    if (!round_trips) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    if (example_config(&o, &config) != STOMPWS_RESULT_OK)
        goto out;

    /* The responder. The receipt makes the subscribe wait until the broker has the
     * queue's consumer, so no request waits for it. */
    r = stompws_client_connect(o.url, config, &responder.client);
    if (r != STOMPWS_RESULT_OK) {
        example_fail(o.url, r);
        goto out;
    }
    const stompws_header ready[] = { { "receipt", "rpc-responder-ready" } };
    r = stompws_client_subscribe(responder.client, o.destination, STOMPWS_ACK_MODE_AUTO, ready, 1,
                                 &responder.requests);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("responder: subscribe", r);
        goto out;
    }
    if (pthread_create(&thread, NULL, respond, &responder) != 0) {
        fprintf(stderr, "cannot start the responder thread\n");
        goto out;
    }
    thread_started = 1;

    /* The requester: replies come on the broker's subscription, so they are "unhandled"
     * for this client. */
    r = stompws_client_connect(o.url, config, &requester);
    if (r != STOMPWS_RESULT_OK) {
        example_fail(o.url, r);
        goto out;
    }
    fprintf(stderr, "connected to %s (STOMP %s)\n", o.url, stompws_client_version(requester));
    r = stompws_client_subscribe_unhandled(requester, &replies);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("subscribe_unhandled", r);
        goto out;
    }

    for (unsigned long i = 1; i <= o.count; i++) {
        char correlation[64], body[64];
        snprintf(correlation, sizeof correlation, "rpc-%lu", i);
        int len = snprintf(body, sizeof body, "request %lu", i);
        const stompws_header headers[] = {
            { "reply-to", "/temp-queue/replies" },
            { "correlation-id", correlation },
        };
        double start = now_ms_precise();
        r = stompws_client_send(requester, o.destination, headers, 2, (const uint8_t *)body,
                                (size_t)len);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("send", r);
            goto out;
        }
        stompws_message *reply = NULL;
        r = stompws_subscription_receive(replies, (uint32_t)o.timeout_ms, &reply);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("waiting for a reply", r);
            goto out;
        }
        double took = now_ms_precise() - start;
        const char *got = stompws_message_header(reply, "correlation-id");
        if (!got || strcmp(got, correlation) != 0) {
            fprintf(stderr, "reply %lu: correlation-id %s, expected %s\n", i,
                    got ? got : "(none)", correlation);
            stompws_message_free(reply);
            goto out;
        }
        char prefix[128];
        snprintf(prefix, sizeof prefix, "reply %lu of %lu (%.3f ms): ", i, o.count, took);
        example_print_body(prefix, reply);
        stompws_message_free(reply);
        round_trips[received++] = took;
    }

    qsort(round_trips, received, sizeof *round_trips, compare_ms);
    printf("%lu replies of %lu, median round trip %.3f ms\n", received, o.count,
           round_trips[received / 2]);
    status = 0;

out:
    if (thread_started) {
        atomic_store(&responder.stop, 1);
        pthread_join(thread, NULL);
        if (responder.failed)
            status = 1;
        fprintf(stderr, "responder answered %lu requests\n", responder.answered);
    }
    stompws_subscription_free(replies);
    stompws_subscription_free(responder.requests);
    if (requester && (r = stompws_client_disconnect(requester, 2000)) != STOMPWS_RESULT_OK) {
        example_fail("requester: disconnect", r);
        status = 1;
    }
    if (responder.client &&
        (r = stompws_client_disconnect(responder.client, 2000)) != STOMPWS_RESULT_OK) {
        example_fail("responder: disconnect", r);
        status = 1;
    }
    stompws_client_free(requester);
    stompws_client_free(responder.client);
    stompws_config_free(config);
    free(round_trips);
    return status;
}
