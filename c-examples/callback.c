/*
 * callback: a push subscription, and the connection's events.
 *
 * The library calls on_message on its dispatch thread for each message, in order, one
 * at a time; the callback may call back into the library (here: ack). The event
 * callback reports the connection's life (connected, lost, disconnected...).
 */
#define _POSIX_C_SOURCE 200809L
#include "example.h"

#include <stdatomic.h>

struct counter {
    atomic_ulong received;
    atomic_ulong failed;
};

static void on_message(void *userdata, const stompws_message *message)
{
    struct counter *counter = userdata;
    example_print_body("callback got: ", message);
    /* The message is borrowed for this call only; ack it before returning (or keep a
     * stompws_message_clone to ack later). */
    stompws_result r = stompws_message_ack(message, NULL, 0);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("ack", r);
        atomic_fetch_add(&counter->failed, 1);
    }
    atomic_fetch_add(&counter->received, 1);
}

static void on_event(void *userdata, stompws_event event, const char *detail)
{
    (void)userdata;
    const char *name;
    switch (event) {
    case STOMPWS_EVENT_CONNECTED: name = "connected"; break;
    case STOMPWS_EVENT_CONNECTION_LOST: name = "connection lost"; break;
    case STOMPWS_EVENT_RECONNECTING: name = "reconnecting"; break;
    case STOMPWS_EVENT_SERVER_ERROR: name = "server error"; break;
    case STOMPWS_EVENT_DISCONNECTED: name = "disconnected"; break;
    case STOMPWS_EVENT_SUBSCRIPTION_CLOSED: name = "subscription closed"; break;
    default: name = "unknown event"; break;
    }
    fprintf(stderr, "event: %s%s%s\n", name, detail && detail[0] ? ": " : "",
            detail ? detail : "");
}

int main(int argc, char **argv)
{
    struct example_options o;
    if (example_options(argc, argv, &o,
                        "Subscribes to DESTINATION (default /queue/stompws-callback) with a\n"
                        "callback, sends COUNT (default 5) messages there and waits up to\n"
                        "MILLISECONDS (default 5000) for the callback to have seen them all.",
                        "/queue/stompws-callback", 5, 5000) != 0)
        return 2;

    int status = 1;
    stompws_config *config = NULL;
    stompws_client *client = NULL;
    stompws_subscription *subscription = NULL;
    struct counter counter;
    atomic_init(&counter.received, 0);
    atomic_init(&counter.failed, 0);
    stompws_result r;

    if (example_config(&o, &config) != STOMPWS_RESULT_OK)
        goto out;
    r = stompws_config_set_event_callback(config, on_event, NULL);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("stompws_config_set_event_callback", r);
        goto out;
    }
    r = stompws_client_connect(o.url, config, &client);
    if (r != STOMPWS_RESULT_OK) {
        example_fail(o.url, r);
        goto out;
    }
    r = stompws_client_subscribe_callback(client, o.destination,
                                          STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL, NULL, 0,
                                          on_message, &counter, &subscription);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("subscribe", r);
        goto out;
    }
    printf("subscribed to %s as %s\n", o.destination, stompws_subscription_id(subscription));

    for (unsigned long i = 1; i <= o.count; i++) {
        char body[32];
        int len = snprintf(body, sizeof body, "push %lu", i);
        r = stompws_client_send(client, o.destination, NULL, 0, (const uint8_t *)body,
                                (size_t)len);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("send", r);
            goto out;
        }
    }

    /* The callbacks run on another thread: wait for them, with a deadline. */
    unsigned long long deadline = example_now_ms() + o.timeout_ms;
    while (atomic_load(&counter.received) < o.count && example_now_ms() < deadline)
        example_sleep_ms(10);
    unsigned long received = atomic_load(&counter.received);
    printf("callback received %lu of %lu messages\n", received, o.count);
    status = received == o.count && atomic_load(&counter.failed) == 0 ? 0 : 1;

out:
    /* After this returns on_message is not running and is never called again, so
     * `counter` may go away. */
    stompws_subscription_free(subscription);
    if (client) {
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
