/*
 * chat: the chat example of stomp.js, in C.
 *
 * Subscribes to a topic with a callback that prints every message arriving there, and
 * sends each line read from standard input to the same topic. At the end of input it
 * waits a little (-t, default 2000 ms) for its own lines to come back, so that
 *     printf 'hello\nworld\n' | ./chat
 * prints both lines, and then disconnects.
 *
 * Open two terminals and run ./chat in both to talk to yourself.
 *
 * It works on RabbitMQ, ActiveMQ and Spring's `@EnableWebSocketMessageBroker` (point -u
 * at the raw WebSocket path of the endpoint, e.g. ws://host:8080/chat/websocket for a
 * SockJS endpoint, and -d at a /topic/ destination of its broker).
 */
#define _POSIX_C_SOURCE 200809L
#include "example.h"

#include <stdatomic.h>

struct chat {
    atomic_ulong received;
};

/* Runs on the client's dispatch thread, one message at a time. The message is
 * borrowed for the call only. */
static void on_message(void *userdata, const stompws_message *message)
{
    struct chat *chat = userdata;
    const char *nick = stompws_message_header(message, "nick");
    char prefix[128];
    snprintf(prefix, sizeof prefix, "<%s> ", nick ? nick : "someone");
    example_print_body(prefix, message);
    atomic_fetch_add(&chat->received, 1);
}

int main(int argc, char **argv)
{
    struct example_options o;
    if (example_options(argc, argv, &o,
                        "Sends each line of standard input to DESTINATION (default /topic/chat)\n"
                        "and prints every message arriving there; at end of input waits up to\n"
                        "MILLISECONDS (default 2000) for its own lines to come back.",
                        "/topic/chat", 0, 2000) != 0)
        return 2;

    int status = 1;
    stompws_config *config = NULL;
    stompws_client *client = NULL;
    stompws_subscription *subscription = NULL;
    struct chat chat;
    atomic_init(&chat.received, 0);
    unsigned long sent = 0;
    stompws_result r;

    if (example_config(&o, &config) != STOMPWS_RESULT_OK)
        goto out;
    r = stompws_client_connect(o.url, config, &client);
    if (r != STOMPWS_RESULT_OK) {
        example_fail(o.url, r);
        goto out;
    }
    fprintf(stderr, "connected to %s (STOMP %s)\n", o.url, stompws_client_version(client));

    /* A topic drops what is sent while nobody listens, so the subscription must be in
     * place before the first line goes out. No receipt is needed for that: a broker
     * handles one connection's frames in order, so our SUBSCRIBE is in place before our
     * first SEND. And none is asked for, because Spring's simple broker answers no
     * receipt but DISCONNECT's: the call would wait the whole receipt timeout, fail
     * with TIMEOUT and take the subscription back (UNSUBSCRIBE). */
    r = stompws_client_subscribe_callback(client, o.destination, STOMPWS_ACK_MODE_AUTO, NULL, 0,
                                          on_message, &chat, &subscription);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("subscribe", r);
        goto out;
    }

    const stompws_header headers[] = {
        { "nick", o.login },
        { "content-type", "text/plain;charset=utf-8" },
    };
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\r\n");
        if (len == 0)
            continue;
        r = stompws_client_send(client, o.destination, headers, 2, (const uint8_t *)line, len);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("send", r);
            goto out;
        }
        sent++;
    }

    /* End of input: give our own lines time to come back before leaving. */
    unsigned long long deadline = example_now_ms() + o.timeout_ms;
    while (atomic_load(&chat.received) < sent && example_now_ms() < deadline)
        example_sleep_ms(10);
    fprintf(stderr, "%lu sent, %lu received\n", sent, (unsigned long)atomic_load(&chat.received));
    status = 0;

out:
    /* Freeing the subscription first guarantees on_message is not running and never
     * runs again, so `chat` may go out of scope afterwards. */
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
