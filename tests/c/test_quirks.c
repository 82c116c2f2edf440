/*
 * Issue 12 from C, as a user reads it: the text of stompws_last_error after a receive
 * timeout, a SUBSCRIBE whose receipt never comes (the client then takes it back with an
 * UNSUBSCRIBE), a send buffer that stays full, and DISCONNECTED after the server closed
 * (the text carries the close reason); and the argument rules of
 * stompws_client_subscribe_unhandled and stompws_client_unsubscribe (nothing of the
 * reserved id "*" reaches the server).
 *
 * Against scripted peers on 127.0.0.1 (fake_server.h, and a peer of its own here that
 * stops reading): no broker needed. Each text is printed ("    text: ...") so a run
 * shows what a user sees.
 *
 * Usage: test_quirks      (prints "N passed, N failed" last; exit status 1 on failure)
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "fake_server.h"

#include <pthread.h>

static const char connected[] =
    "CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:fake/1.0\nsession:s\n\n";

/* A config without heart-beats (a silent script is then no loss) and short waits. */
static stompws_config *quiet_config(uint32_t receipt_ms, uint32_t send_ms)
{
    stompws_config *config = stompws_config_new();
    if (!CHECK(config != NULL))
        return NULL;
    CHECK_OK(stompws_config_set_heartbeat(config, 0, 0));
    CHECK_OK(stompws_config_set_connect_timeout(config, 5000));
    CHECK_OK(stompws_config_set_receipt_timeout(config, receipt_ms));
    CHECK_OK(stompws_config_set_send_timeout(config, send_ms));
    return config;
}

/* Starts `f` as a server that answers CONNECT, never sends a receipt, and holds the
 * connection until DISCONNECT (answered) or `hold_ms`; connects a client to it. */
static stompws_client *connect_to_silent(struct fake_server *f, unsigned hold_ms,
                                         uint32_t receipt_ms)
{
    memset(f, 0, sizeof *f);
    f->accept = 1;
    f->reply = connected;
    f->hold_ms = hold_ms;
    f->answer_disconnect = 1;
    if (!CHECK(fake_start(f) == 0))
        return NULL;
    stompws_config *config = quiet_config(receipt_ms, 5000);
    stompws_client *client = NULL;
    if (config && !CHECK_OK(stompws_client_connect(fake_url(f, "tcp"), config, &client)))
        client = NULL;
    stompws_config_free(config);
    return client;
}

/* The close reason: what a DISCONNECTED result's detail says (after
 * stompws_result_str's "disconnected", a program prints why). */
static void check_disconnected_text(stompws_client *client, const char *text)
{
    char reason[512];
    size_t len = stompws_client_close_reason(client, reason, sizeof reason);
    CHECK(len > 0);
    CHECK_STR(text, reason);
}

/* The `n`th (from 0) frame with this command in what a fake server received, or NULL:
 * the command at the start, or after the NUL (and end-of-lines) ending a frame. */
static const char *frame_at(const struct fake_server *f, const char *command, int n)
{
    char line[64];
    snprintf(line, sizeof line, "%s\n", command);
    size_t len = strlen(line);
    for (size_t i = 0; i + len <= f->received_len; i++) {
        int starts = i == 0 || f->received[i - 1] == '\0' || f->received[i - 1] == '\n';
        if (starts && memcmp(f->received + i, line, len) == 0 && n-- == 0)
            return f->received + i;
    }
    return NULL;
}

/* ---- tests ---- */

static void test_receive_timeout_names_subscription_and_wait(void)
{
    struct fake_server f;
    stompws_client *client = connect_to_silent(&f, 5000, 5000);
    stompws_subscription *sub = NULL;
    if (client && CHECK_OK(stompws_client_subscribe(client, "/queue/quiet", STOMPWS_ACK_MODE_AUTO,
                                                    (const stompws_header[]){ { "id", "quiet-1" } },
                                                    1, &sub))) {
        stompws_message *message = UNTOUCHED(stompws_message);
        unsigned long long start = now_ms();
        CHECK_RESULT(stompws_subscription_receive(sub, 150, &message), STOMPWS_RESULT_TIMEOUT);
        const char *text = last_error();
        printf("    text: %s\n", text);
        CHECK_STR(text, "no MESSAGE on subscription quiet-1 within 150 ms");
        CHECK(now_ms() - start >= 150);
        CHECK(message == UNTOUCHED(stompws_message));
        /* 0 ms: just look. */
        CHECK_RESULT(stompws_subscription_receive(sub, 0, &message), STOMPWS_RESULT_TIMEOUT);
        printf("    text: %s\n", last_error());
        CHECK_CONTAINS(last_error(), "no MESSAGE");
        /* A success clears it. */
        CHECK_OK(stompws_subscription_unsubscribe(sub, NULL, 0));
        CHECK_SIZE(stompws_last_error(NULL, 0), 0);
    }
    stompws_subscription_free(sub);
    if (client)
        CHECK_OK(stompws_client_disconnect(client, 2000));
    stompws_client_free(client);
    fake_stop(&f);
}

/* A server that answers no receipts (Spring, DESIGN.md §7): the subscribe returns
 * TIMEOUT with a text naming the frame, the destination and the wait, and the client
 * sends UNSUBSCRIBE for the id so that nothing stays subscribed on the server. */
static void test_subscribe_receipt_timeout_names_frame_and_unsubscribes(void)
{
    struct fake_server f;
    stompws_client *client = connect_to_silent(&f, 5000, 200);
    if (client) {
        const stompws_header headers[] = { { "id", "abandoned-1" }, { "receipt", "r-sub" } };
        stompws_subscription *sub = UNTOUCHED(stompws_subscription);
        unsigned long long start = now_ms();
        CHECK_RESULT(stompws_client_subscribe(client, "/queue/x", STOMPWS_ACK_MODE_AUTO, headers,
                                              2, &sub),
                     STOMPWS_RESULT_TIMEOUT);
        const char *text = last_error();
        printf("    text: %s\n", text);
        CHECK_STR(text, "no RECEIPT for SUBSCRIBE /queue/x within 200 ms");
        CHECK(now_ms() - start >= 200);
        CHECK(sub == UNTOUCHED(stompws_subscription));
        /* The id was forgotten: it may be used again at once. */
        sub = NULL;
        CHECK_OK(stompws_client_subscribe(client, "/queue/x", STOMPWS_ACK_MODE_AUTO, headers, 1,
                                          &sub));
        stompws_subscription_free(sub);
        CHECK_OK(stompws_client_disconnect(client, 2000));
    }
    stompws_client_free(client);
    fake_stop(&f);
    /* What the server saw: the SUBSCRIBE, the UNSUBSCRIBE for its id, then the reuse. */
    const char *first = frame_at(&f, "SUBSCRIBE", 0);
    const char *unsub = frame_at(&f, "UNSUBSCRIBE", 0);
    const char *again = frame_at(&f, "SUBSCRIBE", 1);
    CHECK(first && unsub && again && first < unsub && unsub < again);
    static const char want[] = "UNSUBSCRIBE\nid:abandoned-1\n";
    CHECK(unsub && strncmp(unsub, want, sizeof want - 1) == 0);
    CHECK(frame_at(&f, "SUBSCRIBE", 2) == NULL);
}

/* A peer that answers CONNECT and then never reads again, until stopped. */
struct deaf_server {
    int listen_fd;
    unsigned short port;
    pthread_t thread;
    atomic_int stop;
};

static void *deaf_run(void *arg)
{
    struct deaf_server *d = arg;
    struct pollfd p = { d->listen_fd, POLLIN, 0 };
    if (poll(&p, 1, 10000) <= 0)
        return NULL;
    int fd = accept(d->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char received[4096];
    size_t len = 0;
    unsigned long long deadline = now_ms() + 10000;
    while (!memchr(received, '\0', len) && now_ms() < deadline && !atomic_load(&d->stop))
        if (!fake_read_into(received, sizeof received, &len, fd, 20))
            break;
    fake_send(fd, connected, sizeof connected); /* with its NUL */
    while (!atomic_load(&d->stop))
        sleep_ms(10);
    close(fd);
    return NULL;
}

static void test_send_buffer_full_names_frame_and_wait(void)
{
    struct fake_server listener; /* only for its listening socket and port */
    memset(&listener, 0, sizeof listener);
    if (!CHECK(fake_start(&listener) == 0))
        return;
    struct deaf_server deaf;
    deaf.listen_fd = listener.listen_fd;
    deaf.port = listener.port;
    atomic_init(&deaf.stop, 0);
    if (!CHECK(pthread_create(&deaf.thread, NULL, deaf_run, &deaf) == 0)) {
        fake_stop(&listener);
        return;
    }
    stompws_config *config = quiet_config(5000, 300);
    stompws_client *client = NULL;
    size_t body_len = 1u << 20;
    uint8_t *body = calloc(body_len, 1);
    if (config && body && CHECK_OK(stompws_client_connect(fake_url(&listener, "tcp"), config,
                                                          &client))) {
        memset(body, 'x', body_len);
        stompws_result r = STOMPWS_RESULT_OK;
        /* The kernel's buffers take a few MiB, the library's some more; then it waits. */
        int sent = 0;
        for (; sent < 512 && r == STOMPWS_RESULT_OK; sent++)
            r = stompws_client_send(client, "/queue/full", NULL, 0, body, body_len);
        CHECK_RESULT(r, STOMPWS_RESULT_TIMEOUT);
        const char *text = last_error();
        printf("    text (after %d MiB): %s\n", sent - 1, text);
        CHECK(strncmp(text, "SEND /queue/full: the send buffer stayed full for 300 ms",
                      strlen("SEND /queue/full: the send buffer stayed full for 300 ms")) == 0);
        /* Not waiting for a receipt the deaf server would never send. */
        stompws_client_disconnect(client, 0);
    }
    stompws_client_free(client);
    stompws_config_free(config);
    free(body);
    atomic_store(&deaf.stop, 1);
    pthread_join(deaf.thread, NULL);
    fake_stop(&listener);
}

/* Set by the event callback once STOMPWS_EVENT_DISCONNECTED came: the session is closed
 * for good by then (is_connected turns false a little earlier, while the library is
 * still closing it). */
static atomic_int saw_disconnected;

static void on_event(void *userdata, stompws_event event, const char *detail)
{
    (void)userdata;
    (void)detail;
    if (event == STOMPWS_EVENT_DISCONNECTED)
        atomic_store(&saw_disconnected, 1);
}

/* The server ends the session with an ERROR: later calls say DISCONNECTED with the
 * ERROR's text. */
static void test_disconnected_after_error_carries_the_reason(void)
{
    struct fake_script script[1];
    memset(script, 0, sizeof script);
    script[0].reply = connected;
    script[0].steps[0].expect = "SEND\ndestination:/queue/bye";
    script[0].steps[0].send = "ERROR\nmessage:shutting down for maintenance\n\nbye";
    struct fake_server f;
    memset(&f, 0, sizeof f);
    f.scripts = script;
    f.script_count = 1;
    if (!CHECK(fake_start(&f) == 0))
        return;
    stompws_config *config = quiet_config(2000, 2000);
    stompws_client *client = NULL;
    stompws_subscription *sub = NULL;
    atomic_store(&saw_disconnected, 0);
    if (config)
        CHECK_OK(stompws_config_set_event_callback(config, on_event, NULL));
    if (config && CHECK_OK(stompws_client_connect(fake_url(&f, "tcp"), config, &client))) {
        CHECK_OK(stompws_client_subscribe(client, "/queue/in", STOMPWS_ACK_MODE_AUTO, NULL, 0,
                                          &sub));
        CHECK_OK(stompws_client_send(client, "/queue/bye", NULL, 0, (const uint8_t *)"b", 1));
        WAIT_UNTIL(atomic_load(&saw_disconnected), 5000);
        CHECK(atomic_load(&saw_disconnected));
        CHECK(!stompws_client_is_connected(client));
        CHECK_RESULT(stompws_client_send(client, "/queue/after", NULL, 0, (const uint8_t *)"a", 1),
                     STOMPWS_RESULT_DISCONNECTED);
        const char *text = last_error();
        printf("    text: %s\n", text);
        CHECK_CONTAINS(text, "shutting down for maintenance");
        check_disconnected_text(client, text);
        /* A receive on the closed connection says the same. */
        stompws_message *message = UNTOUCHED(stompws_message);
        CHECK_RESULT(stompws_subscription_receive(sub, 100, &message),
                     STOMPWS_RESULT_DISCONNECTED);
        check_disconnected_text(client, last_error());
        CHECK(message == UNTOUCHED(stompws_message));
    }
    stompws_subscription_free(sub);
    stompws_client_free(client);
    stompws_config_free(config);
    fake_stop(&f);
}

/* The server just closes the connection (a FIN): the text carries that reason. */
static void test_disconnected_after_close_carries_the_reason(void)
{
    struct fake_server f;
    memset(&f, 0, sizeof f);
    f.accept = 1;
    f.reply = connected;
    f.hold_ms = 200; /* then it closes */
    if (!CHECK(fake_start(&f) == 0))
        return;
    stompws_config *config = quiet_config(2000, 2000);
    stompws_client *client = NULL;
    atomic_store(&saw_disconnected, 0);
    if (config)
        CHECK_OK(stompws_config_set_event_callback(config, on_event, NULL));
    if (config && CHECK_OK(stompws_client_connect(fake_url(&f, "tcp"), config, &client))) {
        WAIT_UNTIL(atomic_load(&saw_disconnected), 5000);
        CHECK(atomic_load(&saw_disconnected));
        CHECK(!stompws_client_is_connected(client));
        stompws_transaction *tx = UNTOUCHED(stompws_transaction);
        CHECK_RESULT(stompws_client_begin(client, NULL, &tx), STOMPWS_RESULT_DISCONNECTED);
        const char *text = last_error();
        printf("    text: %s\n", text);
        check_disconnected_text(client, text);
        CHECK(tx == UNTOUCHED(stompws_transaction));
    }
    stompws_client_free(client);
    stompws_config_free(config);
    fake_stop(&f);
}

static void test_unhandled_and_unsubscribe_argument_rules(void)
{
    struct fake_server f;
    stompws_client *client = connect_to_silent(&f, 5000, 5000);
    stompws_subscription *unhandled = NULL;
    if (client && CHECK_OK(stompws_client_subscribe_unhandled(client, &unhandled))) {
        CHECK_STR(stompws_subscription_id(unhandled), "*");

        stompws_subscription *second = UNTOUCHED(stompws_subscription);
        CHECK_RESULT(stompws_client_subscribe_unhandled(client, &second),
                     STOMPWS_RESULT_INVALID_ARGUMENT);
        printf("    text: %s\n", last_error());
        CHECK_CONTAINS(last_error(), "already open");
        CHECK(second == UNTOUCHED(stompws_subscription));

        const stompws_header star[] = { { "id", "*" } };
        CHECK_RESULT(stompws_client_subscribe(client, "/queue/a", STOMPWS_ACK_MODE_AUTO, star, 1,
                                              &second),
                     STOMPWS_RESULT_INVALID_ARGUMENT);
        printf("    text: %s\n", last_error());
        CHECK_CONTAINS(last_error(), "reserved");
        CHECK(second == UNTOUCHED(stompws_subscription));

        CHECK_RESULT(stompws_client_unsubscribe(client, "*", NULL, 0),
                     STOMPWS_RESULT_INVALID_ARGUMENT);
        printf("    text: %s\n", last_error());
        CHECK_CONTAINS(last_error(), "subscribe_unhandled");

        CHECK_RESULT(stompws_client_unsubscribe(client, "", NULL, 0),
                     STOMPWS_RESULT_INVALID_ARGUMENT);
        printf("    text: %s\n", last_error());
        CHECK_CONTAINS(last_error(), "empty");

        CHECK_RESULT(stompws_client_unsubscribe(client, NULL, NULL, 0),
                     STOMPWS_RESULT_NULL_PARAMETER);
        printf("    text: %s\n", last_error());
        CHECK_STR(last_error(), "id is NULL");

        const stompws_header own_id[] = { { "id", "other" } };
        CHECK_RESULT(stompws_client_unsubscribe(client, "x", own_id, 1),
                     STOMPWS_RESULT_INVALID_ARGUMENT);
        printf("    text: %s\n", last_error());
        CHECK_CONTAINS(last_error(), "\"id\" header");

        CHECK_RESULT(stompws_client_unsubscribe(NULL, "x", NULL, 0), STOMPWS_RESULT_NULL_PARAMETER);
        CHECK_RESULT(stompws_client_subscribe_unhandled(client, NULL),
                     STOMPWS_RESULT_NULL_PARAMETER);

        /* By id with no subscription of ours: sent as asked. */
        const stompws_header name[] = { { "activemq.subscriptionName", "gone" } };
        CHECK_OK(stompws_client_unsubscribe(client, "gone-1", name, 1));

        /* Closing it sends nothing; then a new one may open. */
        CHECK_OK(stompws_subscription_unsubscribe(unhandled, NULL, 0));
        stompws_subscription_free(unhandled);
        unhandled = NULL;
        CHECK_OK(stompws_client_subscribe_unhandled(client, &unhandled));
        CHECK_OK(stompws_client_disconnect(client, 2000));
    }
    stompws_subscription_free(unhandled);
    stompws_client_free(client);
    fake_stop(&f);
    CHECK(fake_find(f.received, f.received_len, "DISCONNECT\n") != NULL);
    CHECK(fake_find(f.received, f.received_len,
                    "UNSUBSCRIBE\nid:gone-1\nactivemq.subscriptionName:gone\n") != NULL);
    CHECK(fake_find(f.received, f.received_len, "id:*") == NULL);
    CHECK(frame_at(&f, "SUBSCRIBE", 0) == NULL);
    CHECK(frame_at(&f, "UNSUBSCRIBE", 1) == NULL); /* only gone-1's */
}

int main(void)
{
    RUN(test_receive_timeout_names_subscription_and_wait);
    RUN(test_subscribe_receipt_timeout_names_frame_and_unsubscribes);
    RUN(test_send_buffer_full_names_frame_and_wait);
    RUN(test_disconnected_after_error_carries_the_reason);
    RUN(test_disconnected_after_close_carries_the_reason);
    RUN(test_unhandled_and_unsubscribe_argument_rules);
    return check_report();
}
