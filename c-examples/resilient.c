/*
 * resilient: a consumer that keeps going across broker restarts and failovers.
 *
 * With reconnect on, the library notices a lost connection by itself (the socket closed,
 * or heart-beats went silent), connects again with a growing delay, trying the URL and
 * then each failover URL in turn, and subscribes again with the same id and headers. The
 * program sees this only through the events, and through one case of ack: a message
 * that arrived before the loss can no longer be acked (DISCONNECTED), and the broker
 * delivers it again, since it was never acked. So a message may be handled twice: what
 * the program does with it must tolerate that (at least once, not exactly once).
 *
 * Try it with the local RabbitMQ (tests/brokers/rabbitmq.sh start): run it, send with
 * c-examples/build/producer, and stop and start the broker's listeners meanwhile:
 *     bash tests/brokers/rabbitmq.sh ctl stop_app; sleep 5
 *     bash tests/brokers/rabbitmq.sh ctl start_app
 * It stops after COUNT messages, after MILLISECONDS, or on Ctrl-C.
 */
#define _POSIX_C_SOURCE 200809L
#include "example.h"

#include <signal.h>
#include <stdatomic.h>

/* Set by Ctrl-C (SIGINT) or SIGTERM. The handler may run on any thread of the process,
 * the library's included, so it is a lock-free atomic (safe in a handler), not a plain
 * sig_atomic_t (safe only within one thread). */
static atomic_int stop_requested;

static void on_signal(int signo)
{
    (void)signo;
    atomic_store(&stop_requested, 1);
}

/* Written by the event callback, read by main: atomics, nothing else is shared. */
struct connection_stats {
    atomic_ulong connects; /* CONNECTED events: the first connect, then each reconnect */
};

/* Runs on the library's dispatch thread, at the same time as main's loop, one event at a
 * time. It only prints (one fprintf is one locked write under POSIX, so lines do not mix)
 * and counts (atomically). */
static void on_event(void *userdata, stompws_event event, const char *detail)
{
    struct connection_stats *stats = userdata;
    const char *name;
    switch (event) {
    case STOMPWS_EVENT_CONNECTED: /* detail: the endpoint's URL */
        name = "connected";
        atomic_fetch_add(&stats->connects, 1);
        break;
    case STOMPWS_EVENT_CONNECTION_LOST: name = "connection lost"; break; /* why */
    case STOMPWS_EVENT_RECONNECTING: name = "reconnecting"; break; /* attempt, wait */
    case STOMPWS_EVENT_SERVER_ERROR: name = "server error"; break;
    case STOMPWS_EVENT_DISCONNECTED: name = "disconnected"; break; /* closed for good */
    case STOMPWS_EVENT_SUBSCRIPTION_CLOSED: name = "subscription closed"; break;
    default: name = "unknown event"; break;
    }
    fprintf(stderr, "event: %s%s%s\n", name, detail && detail[0] ? ": " : "",
            detail ? detail : "");
}

int main(int argc, char **argv)
{
    struct example_options o;
    int first_failover;
    if (example_options_operands(
            argc, argv, &o,
            "Receives from DESTINATION (default /queue/stompws-resilient) and acks each\n"
            "message, reconnecting (to URL, then to each FAILOVER_URL in turn) whenever the\n"
            "connection is lost. Stops after COUNT acked messages (default 0: no limit),\n"
            "after MILLISECONDS in all (default 0: no limit), or on Ctrl-C. Exits 1 if\n"
            "fewer than COUNT were acked.",
            "/queue/stompws-resilient", 0, 0, "[FAILOVER_URL...]", &first_failover) != 0)
        return 2;

    int status = 1;
    stompws_config *config = NULL;
    stompws_client *client = NULL;
    stompws_subscription *subscription = NULL;
    stompws_message *message = NULL;
    struct connection_stats stats;
    atomic_init(&stats.connects, 0);
    unsigned long acked = 0, refused = 0;
    stompws_result r;

    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    if (example_config(&o, &config) != STOMPWS_RESULT_OK)
        goto out;
    /* Reconnect after 100 ms, then 200, 400... up to 5 s between attempts (each +-20%),
     * and never give up (0 attempts = unlimited). */
    r = stompws_config_set_reconnect(config, 100, 5000, 0);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("stompws_config_set_reconnect", r);
        goto out;
    }
    for (int i = first_failover; i < argc; i++) {
        r = stompws_config_add_failover_url(config, argv[i]);
        if (r != STOMPWS_RESULT_OK) {
            example_fail(argv[i], r);
            goto out;
        }
    }
    /* A broker that vanishes without closing the socket (a cut cable, a frozen host) is
     * noticed only by silence: after twice the negotiated interval (5 s here, unless the
     * broker asks for more) without a byte, the connection counts as lost and
     * reconnecting begins. */
    r = stompws_config_set_heartbeat(config, 5000, 5000);
    if (r == STOMPWS_RESULT_OK)
        r = stompws_config_set_event_callback(config, on_event, &stats);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("stompws_config", r);
        goto out;
    }

    /* Connect tries each endpoint once and does not wait between them: backoff is for
     * losing a connection, not for a broker that is not there when we start. */
    r = stompws_client_connect(o.url, config, &client);
    if (r != STOMPWS_RESULT_OK) {
        example_fail(o.url, r);
        goto out;
    }

    /* Acks by the client, one message at a time: what was not acked when the connection
     * went comes again. The prefetch bounds what the broker sends ahead of our acks. */
    const stompws_header subscribe_headers[] = {
        { "prefetch-count", "100" },        /* RabbitMQ */
        { "activemq.prefetchSize", "100" }, /* ActiveMQ */
    };
    r = stompws_client_subscribe(client, o.destination, STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL,
                                 subscribe_headers, 2, &subscription);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("subscribe", r);
        goto out;
    }

    unsigned long long deadline = o.timeout_ms ? example_now_ms() + o.timeout_ms : 0;
    while (!atomic_load(&stop_requested) && (o.count == 0 || acked < o.count)) {
        /* A receive keeps waiting through an outage; short waits let us see Ctrl-C. */
        uint32_t wait_ms = 500;
        if (deadline) {
            unsigned long long now = example_now_ms();
            if (now >= deadline)
                break;
            if (deadline - now < wait_ms)
                wait_ms = (uint32_t)(deadline - now);
        }
        r = stompws_subscription_receive(subscription, wait_ms, &message);
        if (r == STOMPWS_RESULT_TIMEOUT)
            continue;
        if (r != STOMPWS_RESULT_OK) { /* closed for good: reconnect gave up, or freed */
            example_fail("receive", r);
            goto out;
        }
        const char *redelivered = stompws_message_header(message, "redelivered");
        example_print_body(redelivered && strcmp(redelivered, "true") == 0
                               ? "received (redelivered): "
                               : "received: ",
                           message);

        r = stompws_message_ack(message, NULL, 0);
        if (r == STOMPWS_RESULT_OK) {
            acked++;
        } else if (r == STOMPWS_RESULT_DISCONNECTED) {
            /* It arrived on a session that has since been lost. Nothing was sent; the
             * broker still counts it as unacked and will deliver it again. */
            refused++;
            fprintf(stderr, "not acked (its session was lost): the broker delivers it again\n");
        } else {
            example_fail("ack", r);
            goto out;
        }
        stompws_message_free(message);
        message = NULL;
    }
    unsigned long connects = atomic_load(&stats.connects);
    printf("acked %lu messages from %s; %lu reconnects, %lu acks refused after a loss\n",
           acked, o.destination, connects ? connects - 1 : 0, refused);
    status = o.count == 0 || acked == o.count ? 0 : 1;

out:
    stompws_message_free(message);
    stompws_subscription_free(subscription);
    if (client) {
        /* Waits for DISCONNECT's receipt, which the broker sends after handling every
         * earlier frame, our acks included. During an outage it returns at once. */
        r = stompws_client_disconnect(client, 2000);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("disconnect", r);
            status = 1;
        }
    }
    stompws_client_free(client);
    stompws_config_free(config);
    return status;
}
