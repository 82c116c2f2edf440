/*
 * The C API's contract where no broker is needed: NULL handling of every function,
 * argument validation, the stompws_last_error contract, and connection failures,
 * using the scripted peer of fake_server.h.
 *
 * Usage: test_api            (prints "N passed, N failed" last; exit status 1 on failure)
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "fake_server.h"

#include <math.h>


static const char connected_12[] =
    "CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:fake/1.0\nsession:session-12\n\n";
static const char connected_10[] = "CONNECTED\nsession:session-10\nserver:fake/1.0\n\n";

/* ---- callbacks that record what they saw ---- */

struct events {
    atomic_uint seen; /* bit (1 << event) per event seen */
};

static void record_event(void *userdata, stompws_event event, const char *detail)
{
    struct events *events = userdata;
    (void)detail;
    if ((unsigned)event < 32)
        atomic_fetch_or(&events->seen, 1u << (unsigned)event);
}

static int event_seen(struct events *events, stompws_event event)
{
    return (atomic_load(&events->seen) & (1u << (unsigned)event)) != 0;
}

struct debug_log {
    pthread_mutex_t lock; /* the debug callback may run on several threads at once */
    char text[16384];
    size_t len;
};

static void record_debug(void *userdata, const char *line)
{
    struct debug_log *log = userdata;
    pthread_mutex_lock(&log->lock);
    int n = snprintf(log->text + log->len, sizeof log->text - log->len, "%s\n", line);
    if (n > 0 && (size_t)n < sizeof log->text - log->len)
        log->len += (size_t)n;
    pthread_mutex_unlock(&log->lock);
}

static void ignore_message(void *userdata, const stompws_message *message)
{
    (void)userdata;
    (void)message;
}

static void ignore_debug(void *userdata, const char *line)
{
    (void)userdata;
    (void)line;
}

/* ---- the tests ---- */

static void test_version(void)
{
    CHECK_STR(stompws_version(), STOMPWS_VERSION);
}

static void test_result_str(void)
{
    const char *texts[STOMPWS_RESULT_PANIC + 1];
    for (int r = STOMPWS_RESULT_OK; r <= STOMPWS_RESULT_PANIC; r++) {
        texts[r] = stompws_result_str((stompws_result)r);
        if (!CHECK(texts[r] != NULL && texts[r][0] != '\0'))
            return;
        for (int earlier = 0; earlier < r; earlier++)
            CHECK(strcmp(texts[earlier], texts[r]) != 0);
    }
    CHECK_CONTAINS(stompws_result_str(STOMPWS_RESULT_TIMEOUT), "timeout");
    /* A value the header does not know (a newer library, a corrupted variable). */
    CHECK(stompws_result_str((stompws_result)99) != NULL);
}

/* Every function given NULL for its handle: NULL_PARAMETER, or NULL/0/false from a
 * getter; never a crash. */
static void test_null_handles(void)
{
    stompws_header header = { "name", "value" };
    const uint8_t body[] = "x";
    char buf[16] = "unchanged";
    const char *name = "unchanged", *value = "unchanged";
    stompws_client *client = UNTOUCHED(stompws_client);
    stompws_subscription *sub = UNTOUCHED(stompws_subscription);
    stompws_message *message = UNTOUCHED(stompws_message);
    stompws_transaction *tx = UNTOUCHED(stompws_transaction);

    CHECK_RESULT(stompws_config_set_login(NULL, "a", "b"), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_host(NULL, "/"), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_heartbeat(NULL, 1, 1), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_versions(NULL, "1.2"), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_subprotocols(NULL, "v12.stomp"),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_binary_frames(NULL, true), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_add_connect_header(NULL, "a", "b"),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_add_http_header(NULL, "a", "b"), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_connect_timeout(NULL, 1), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_receipt_timeout(NULL, 1), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_send_timeout(NULL, 1), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_heartbeat_tolerance(NULL, 2.0),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_max_frame_size(NULL, 1024), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_queue_limit(NULL, 1, 1024), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_auto_content_length(NULL, true),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_tls_ca_file(NULL, "/ca.pem"), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_tls_client_cert(NULL, "/c.pem", "/k.pem"),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_tls_insecure(NULL, false), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_reconnect(NULL, 100, 1000, 0),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_add_failover_url(NULL, "ws://127.0.0.1:1/ws"),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_debug(NULL, ignore_debug, NULL),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_set_event_callback(NULL, record_event, NULL),
                 STOMPWS_RESULT_NULL_PARAMETER);

    CHECK_RESULT(stompws_client_connect(NULL, NULL, &client), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK(client == UNTOUCHED(stompws_client));
    CHECK_RESULT(stompws_client_connect("ws://127.0.0.1:1/ws", NULL, NULL),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK(stompws_client_version(NULL) == NULL);
    CHECK(stompws_client_server(NULL) == NULL);
    CHECK(stompws_client_session(NULL) == NULL);
    CHECK(!stompws_client_is_connected(NULL));
    strcpy(buf, "stale text");
    CHECK_SIZE(stompws_client_close_reason(NULL, buf, sizeof buf), 0);
    CHECK_STR(buf, ""); /* 0 returned: "" written, nothing stale left */
    strcpy(buf, "stale text");
    CHECK_SIZE(stompws_client_close_reason(NULL, buf, 1), 0);
    CHECK_STR(buf, "");
    CHECK_SIZE(stompws_client_close_reason(NULL, NULL, 0), 0);
    CHECK_RESULT(stompws_config_set_ws_message_limit(NULL, 16000), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_disconnect(NULL, 0), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_send(NULL, "/queue/a", &header, 1, body, 1),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_send_with_receipt(NULL, "/queue/a", NULL, 0, body, 1),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_subscribe(NULL, "/queue/a", STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_subscribe_callback(NULL, "/queue/a", STOMPWS_ACK_MODE_AUTO, NULL,
                                                   0, ignore_message, NULL, &sub),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK(sub == UNTOUCHED(stompws_subscription));
    CHECK_RESULT(stompws_client_begin(NULL, NULL, &tx), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK(tx == UNTOUCHED(stompws_transaction));

    CHECK(stompws_subscription_id(NULL) == NULL);
    CHECK_RESULT(stompws_subscription_receive(NULL, 0, &message), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK(message == UNTOUCHED(stompws_message));
    stompws_message *batch[2] = { UNTOUCHED(stompws_message), UNTOUCHED(stompws_message) };
    size_t taken = 99;
    CHECK_RESULT(stompws_subscription_receive_many(NULL, 0, batch, 2, &taken),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_SIZE(taken, 0); /* written even when failing */
    CHECK(batch[0] == UNTOUCHED(stompws_message));
    CHECK_RESULT(stompws_subscription_receive_many(NULL, 0, batch, 2, NULL),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_subscription_unsubscribe(NULL, NULL, 0), STOMPWS_RESULT_NULL_PARAMETER);

    CHECK(stompws_message_command(NULL) == NULL);
    CHECK(stompws_message_destination(NULL) == NULL);
    CHECK(stompws_message_header(NULL, "name") == NULL);
    CHECK_SIZE(stompws_message_header_count(NULL), 0);
    CHECK_RESULT(stompws_message_header_at(NULL, 0, &name, &value),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK(strcmp(name, "unchanged") == 0 && strcmp(value, "unchanged") == 0);
    size_t len = 42;
    CHECK(stompws_message_body(NULL, &len) == NULL);
    CHECK(stompws_message_body(NULL, NULL) == NULL);
    CHECK(stompws_message_clone(NULL) == NULL);
    CHECK_RESULT(stompws_message_ack(NULL, NULL, 0), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_message_nack(NULL, NULL, 0), STOMPWS_RESULT_NULL_PARAMETER);

    CHECK(stompws_transaction_id(NULL) == NULL);
    CHECK_RESULT(stompws_transaction_commit(NULL), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_transaction_abort(NULL), STOMPWS_RESULT_NULL_PARAMETER);
}

static void test_free_null(void)
{
    stompws_config_free(NULL);
    stompws_client_free(NULL);
    stompws_subscription_free(NULL);
    stompws_message_free(NULL);
    stompws_transaction_free(NULL);
    CHECK(1); /* got here */
}

/* NULL for a required string argument of a config setter. */
static void test_config_null_arguments(void)
{
    stompws_config *config = stompws_config_new();
    if (!CHECK(config != NULL))
        return;
    CHECK_RESULT(stompws_config_set_login(config, NULL, "passcode"),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_add_connect_header(config, NULL, "value"),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_add_connect_header(config, "name", NULL),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_add_http_header(config, NULL, "value"),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_add_http_header(config, "name", NULL),
                 STOMPWS_RESULT_NULL_PARAMETER);
    /* A NULL function pointer removes the callback: that is allowed. */
    CHECK_OK(stompws_config_set_debug(config, NULL, NULL));
    CHECK_OK(stompws_config_set_event_callback(config, NULL, NULL));
    stompws_config_free(config);
}

static void test_config_validation(void)
{
    stompws_config *config = stompws_config_new();
    if (!CHECK(config != NULL))
        return;

    CHECK_RESULT(stompws_config_set_connect_timeout(config, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    CHECK_RESULT(stompws_config_set_receipt_timeout(config, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    CHECK_RESULT(stompws_config_set_send_timeout(config, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    CHECK_RESULT(stompws_config_set_heartbeat_tolerance(config, NAN),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_config_set_heartbeat_tolerance(config, -1.0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);

    /* Invalid UTF-8 (a lone continuation byte, an overlong encoding). */
    CHECK_RESULT(stompws_config_set_login(config, "gu\x80st", "guest"),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    CHECK_RESULT(stompws_config_set_login(config, "guest", "\xc0\xafguest"),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_config_add_connect_header(config, "client-id", "\xff"),
                 STOMPWS_RESULT_INVALID_ARGUMENT);

    /* An empty host would be refused by the broker at CONNECT: refused here. */
    CHECK_RESULT(stompws_config_set_host(config, ""), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "host") != NULL);
    /* A WebSocket message limit: 0 (one frame per message) or at least 1024. */
    CHECK_RESULT(stompws_config_set_ws_message_limit(config, 1), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_config_set_ws_message_limit(config, 1023),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "1024") != NULL);

    /* Values in range are taken. */
    CHECK_OK(stompws_config_set_ws_message_limit(config, 0));
    CHECK_OK(stompws_config_set_ws_message_limit(config, 1024));
    CHECK_OK(stompws_config_set_ws_message_limit(config, 16000));
    CHECK_OK(stompws_config_set_login(config, "guest", "guest"));
    CHECK_OK(stompws_config_set_login(config, "gr\xc3\xbc\xc3\x9f", "p\xc3\xa4ss")); /* UTF-8 */
    CHECK_OK(stompws_config_set_host(config, "/"));
    CHECK_OK(stompws_config_set_heartbeat(config, 0, 0));
    CHECK_OK(stompws_config_set_heartbeat(config, 5000, 20000));
    CHECK_OK(stompws_config_set_versions(config, "1.2,1.1"));
    CHECK_OK(stompws_config_set_subprotocols(config, "v12.stomp,v11.stomp"));
    CHECK_OK(stompws_config_set_binary_frames(config, true));
    CHECK_OK(stompws_config_add_connect_header(config, "client-id", "c-1"));
    CHECK_OK(stompws_config_add_http_header(config, "Origin", "http://localhost"));
    CHECK_OK(stompws_config_set_connect_timeout(config, 1));
    CHECK_OK(stompws_config_set_receipt_timeout(config, 1000));
    CHECK_OK(stompws_config_set_send_timeout(config, UINT32_MAX));
    CHECK_OK(stompws_config_set_heartbeat_tolerance(config, 2.5));
    CHECK_OK(stompws_config_set_max_frame_size(config, 1 << 20));
    CHECK_OK(stompws_config_set_queue_limit(config, 10, 1 << 20));
    CHECK_OK(stompws_config_set_auto_content_length(config, false));
    CHECK_OK(stompws_config_set_tls_insecure(config, false));
    CHECK_OK(stompws_config_set_debug(config, ignore_debug, NULL));
    CHECK_OK(stompws_config_set_event_callback(config, record_event, NULL));
    stompws_config_free(config);
}

/* The setters' own checks; test_reconnect.c covers what they do. */
static void test_reconnect_and_failover_setters(void)
{
    stompws_config *config = stompws_config_new();
    if (!CHECK(config != NULL))
        return;
    CHECK_RESULT(stompws_config_set_reconnect(config, 100, 1000, 0), STOMPWS_RESULT_OK);
    CHECK_RESULT(stompws_config_set_reconnect(config, 1000, 100, 0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_config_add_failover_url(config, "ws://127.0.0.1:15674/ws"),
                 STOMPWS_RESULT_OK);
    CHECK_RESULT(stompws_config_add_failover_url(config, "http://127.0.0.1:15674/ws"),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    stompws_config_free(config);
}

static void test_connect_bad_urls(void)
{
    static const char *const urls[] = {
        "",
        "not a url",
        "http://127.0.0.1:15674/ws",
        "ftp://127.0.0.1/",
        "stomp://127.0.0.1:61613",
        "ws://",
        "ws://127.0.0.1:99999/ws",
        "ws://127.0.0.1:15674/w\xff",
        "tcp://\xc3(:61613",
    };
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        stompws_client *client = UNTOUCHED(stompws_client);
        if (!CHECK_RESULT(stompws_client_connect(urls[i], NULL, &client),
                          STOMPWS_RESULT_INVALID_ARGUMENT))
            printf("    url: \"%s\"\n", urls[i]);
        CHECK(last_error()[0] != '\0');
        CHECK(client == UNTOUCHED(stompws_client));
    }
}

/* A port nobody listens on: bind one, then close it. */
static unsigned short closed_port(void)
{
    struct fake_server f = { 0 };
    if (fake_start(&f) != 0)
        return 1;
    fake_stop(&f);
    return f.port;
}

static void test_connect_refused(void)
{
    char url[64], peer[32];
    unsigned short port = closed_port();
    snprintf(url, sizeof url, "tcp://127.0.0.1:%u", (unsigned)port);
    snprintf(peer, sizeof peer, "%u", (unsigned)port);
    stompws_client *client = UNTOUCHED(stompws_client);
    CHECK_RESULT(stompws_client_connect(url, NULL, &client), STOMPWS_RESULT_IO);
    CHECK(client == UNTOUCHED(stompws_client));
    /* The detail names the peer. */
    const char *detail = last_error();
    CHECK_CONTAINS(detail, "127.0.0.1");
    CHECK_CONTAINS(detail, peer);

    snprintf(url, sizeof url, "ws://127.0.0.1:%u/ws", (unsigned)port);
    CHECK_RESULT(stompws_client_connect(url, NULL, &client), STOMPWS_RESULT_IO);
    CHECK(client == UNTOUCHED(stompws_client));
}

/* stompws_last_error works like snprintf. */
static void test_last_error_contract(void)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%u", (unsigned)closed_port());
    stompws_client *client = NULL;
    if (!CHECK_RESULT(stompws_client_connect(url, NULL, &client), STOMPWS_RESULT_IO))
        return;

    size_t full = stompws_last_error(NULL, 0); /* just the length, like snprintf(NULL, 0) */
    if (!CHECK(full > 4 && full < 1000))
        return;
    char whole[1024];
    memset(whole, 'x', sizeof whole);
    CHECK_SIZE(stompws_last_error(whole, sizeof whole), full);
    CHECK_SIZE(strlen(whole), full);

    /* Truncated, still NUL-terminated, still returning the full length. */
    char small[5];
    memset(small, 'x', sizeof small);
    CHECK_SIZE(stompws_last_error(small, sizeof small), full);
    CHECK(small[4] == '\0' && memcmp(small, whole, 4) == 0);
    char one[1] = { 'x' };
    CHECK_SIZE(stompws_last_error(one, 1), full);
    CHECK(one[0] == '\0');
    char exact[1024];
    CHECK_SIZE(stompws_last_error(exact, full), full); /* one byte short: loses the last char */
    CHECK_SIZE(strlen(exact), full - 1);
    /* buf_len 0: nothing written, even through a NULL... or a real buffer. */
    char untouched = 'x';
    CHECK_SIZE(stompws_last_error(&untouched, 0), full);
    CHECK(untouched == 'x');
    /* Reading it does not clear it. */
    CHECK_SIZE(stompws_last_error(NULL, 0), full);

    /* A fallible call that succeeds clears it. */
    stompws_config *config = stompws_config_new();
    if (!CHECK(config != NULL))
        return;
    CHECK_OK(stompws_config_set_heartbeat(config, 1000, 1000));
    char after[16] = "not cleared";
    CHECK_SIZE(stompws_last_error(after, sizeof after), 0);
    CHECK(after[0] == '\0');

    /* And a failure after a success sets it again. */
    CHECK_RESULT(stompws_config_set_connect_timeout(config, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(stompws_last_error(NULL, 0) > 0);
    stompws_config_free(config);
}

static void *read_last_error(void *arg)
{
    size_t *len = arg;
    *len = stompws_last_error(NULL, 0);
    return NULL;
}

/* The detail belongs to the thread whose call failed. */
static void test_last_error_per_thread(void)
{
    stompws_config *config = stompws_config_new();
    if (!CHECK(config != NULL))
        return;
    CHECK_RESULT(stompws_config_set_connect_timeout(config, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
    size_t other = 12345;
    pthread_t thread;
    if (CHECK(pthread_create(&thread, NULL, read_last_error, &other) == 0)) {
        pthread_join(thread, NULL);
        CHECK_SIZE(other, 0);
    }
    CHECK(stompws_last_error(NULL, 0) > 0);
    stompws_config_free(config);
}

/* TCP is up but nothing ever answers: the connect timeout covers it. */
static void test_connect_timeout_silent_peer(void)
{
    static const char *const schemes[] = { "tcp", "ws" };
    for (size_t i = 0; i < 2; i++) {
        struct fake_server f = { 0 }; /* listens, never accepts */
        if (!CHECK(fake_start(&f) == 0))
            return;
        stompws_config *config = stompws_config_new();
        CHECK_OK(stompws_config_set_connect_timeout(config, 300));
        stompws_client *client = UNTOUCHED(stompws_client);
        unsigned long long start = now_ms();
        CHECK_RESULT(stompws_client_connect(fake_url(&f, schemes[i]), config, &client),
                     STOMPWS_RESULT_TIMEOUT);
        unsigned long long took = now_ms() - start;
        if (!CHECK(took >= 250 && took < 5000))
            printf("    %s: took %llu ms for a 300 ms connect timeout\n", schemes[i], took);
        CHECK(client == UNTOUCHED(stompws_client));
        stompws_config_free(config);
        fake_stop(&f);
    }
}

static void test_handshake_refused(void)
{
    struct fake_server f = { 0 };
    f.accept = 1;
    f.reply = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    f.reply_len = strlen(f.reply);
    f.hold_ms = 100;
    if (!CHECK(fake_start(&f) == 0))
        return;
    stompws_client *client = UNTOUCHED(stompws_client);
    CHECK_RESULT(stompws_client_connect(fake_url(&f, "ws"), NULL, &client),
                 STOMPWS_RESULT_HANDSHAKE);
    CHECK_CONTAINS(last_error(), "403"); /* the status line */
    CHECK(client == UNTOUCHED(stompws_client));
    fake_stop(&f);
    /* What we offered: the three STOMP subprotocols (ActiveMQ answers "stomp" otherwise). */
    CHECK_CONTAINS(f.received, "v12.stomp");
    CHECK_CONTAINS(f.received, "v10.stomp");
}

/* An ERROR frame instead of CONNECTED: SERVER_ERROR, and the detail holds the ERROR's
 * message header, then its body. */
static void test_connect_error_frame(void)
{
    struct fake_server f = { 0 };
    f.accept = 1;
    f.reply = "ERROR\nmessage:Bad CONNECT\ncontent-type:text/plain\n\nAccess refused for user 'x'";
    f.hold_ms = 2000;
    if (!CHECK(fake_start(&f) == 0))
        return;
    stompws_config *config = stompws_config_new();
    CHECK_OK(stompws_config_set_login(config, "x", "wrong"));
    stompws_client *client = UNTOUCHED(stompws_client);
    CHECK_RESULT(stompws_client_connect(fake_url(&f, "tcp"), config, &client),
                 STOMPWS_RESULT_SERVER_ERROR);
    const char *detail = last_error();
    const char *message = strstr(detail, "Bad CONNECT");
    const char *body = strstr(detail, "Access refused for user 'x'");
    CHECK_CONTAINS(detail, "Bad CONNECT");
    CHECK_CONTAINS(detail, "Access refused for user 'x'");
    CHECK(message && body && message < body);
    CHECK(client == UNTOUCHED(stompws_client));
    stompws_config_free(config);
    fake_stop(&f); /* the library must have closed: RabbitMQ would not */
}

/* A whole session with the scripted peer: getters, debug and event callbacks, argument
 * checks that need a live client, and a clean disconnect. */
static void test_fake_session(void)
{
    struct fake_server f = { 0 };
    f.accept = 1;
    f.reply = connected_10;
    f.hold_ms = 10000;
    f.answer_disconnect = 1;
    if (!CHECK(fake_start(&f) == 0))
        return;

    struct events events;
    atomic_init(&events.seen, 0);
    struct debug_log *log = calloc(1, sizeof *log);
    pthread_mutex_init(&log->lock, NULL);
    stompws_config *config = stompws_config_new();
    CHECK_OK(stompws_config_set_login(config, "user", "s3cret"));
    CHECK_OK(stompws_config_add_connect_header(config, "client-id", "c-42"));
    CHECK_OK(stompws_config_set_debug(config, record_debug, log));
    CHECK_OK(stompws_config_set_event_callback(config, record_event, &events));
    stompws_client *client = NULL;
    if (!CHECK_OK(stompws_client_connect(fake_url(&f, "tcp"), config, &client)))
        goto out;
    stompws_config_free(config); /* only read during connect */
    config = NULL;

    CHECK_STR(stompws_client_version(client), "1.0");
    CHECK_STR(stompws_client_server(client), "fake/1.0");
    CHECK_STR(stompws_client_session(client), "session-10");
    CHECK(stompws_client_is_connected(client));
    char reason[64] = "unchanged";
    CHECK_SIZE(stompws_client_close_reason(client, reason, sizeof reason), 0);
    CHECK_STR(reason, ""); /* connected: no reason, and "" rather than what was there */
    WAIT_UNTIL(event_seen(&events, STOMPWS_EVENT_CONNECTED), 2000);
    CHECK(event_seen(&events, STOMPWS_EVENT_CONNECTED));

    /* NULL where a pointer is required, with a live client. */
    stompws_header null_name = { NULL, "v" }, null_value = { "n", NULL };
    stompws_subscription *sub = UNTOUCHED(stompws_subscription);
    stompws_message *message = UNTOUCHED(stompws_message);
    CHECK_RESULT(stompws_client_send(client, NULL, NULL, 0, NULL, 0),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_send(client, "/queue/a", NULL, 1, NULL, 0),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_send(client, "/queue/a", NULL, 0, NULL, 3),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_send(client, "/queue/a", &null_name, 1, NULL, 0),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_send_with_receipt(client, "/queue/a", &null_value, 1, NULL, 0),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_subscribe(client, NULL, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_subscribe(client, "/queue/a", STOMPWS_ACK_MODE_AUTO, NULL, 0,
                                          NULL),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_subscribe_callback(client, "/queue/a", STOMPWS_ACK_MODE_AUTO,
                                                   NULL, 0, NULL, NULL, &sub),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_client_begin(client, NULL, NULL), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK(sub == UNTOUCHED(stompws_subscription));

    /* Arguments the library must refuse before anything is sent. */
    const stompws_header content_length = { "content-length", "3" };
    const stompws_header destination = { "destination", "/queue/b" };
    const stompws_header newline_value = { "x-note", "two\nlines" };
    const stompws_header colon_name = { "x:note", "v" };
    const stompws_header bad_utf8 = { "x-note", "caf\xe9" };
    CHECK_RESULT(stompws_client_send(client, "/queue/a", &content_length, 1, NULL, 0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_client_send(client, "/queue/a", &destination, 1, NULL, 0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_client_send(client, "/queue/\xff", NULL, 0, NULL, 0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_client_send(client, "/queue/a", &bad_utf8, 1, NULL, 0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    /* STOMP 1.0 has no escapes: a newline in a value, a colon in a name cannot be sent. */
    CHECK_RESULT(stompws_client_send(client, "/queue/a", &newline_value, 1, NULL, 0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    CHECK_RESULT(stompws_client_send(client, "/queue/a", &colon_name, 1, NULL, 0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_client_subscribe(client, "/queue/a", 3, NULL, 0, &sub),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_RESULT(stompws_client_subscribe(client, "/queue/a", UINT32_MAX, NULL, 0, &sub),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    CHECK_RESULT(stompws_client_subscribe_callback(client, "/queue/a", 3, NULL, 0,
                                                   ignore_message, NULL, &sub),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(sub == UNTOUCHED(stompws_subscription));

    /* headers NULL with count 0, body NULL with length 0: fine. */
    CHECK_OK(stompws_client_send(client, "/queue/a", NULL, 0, NULL, 0));

    /* A pull subscription (no receipt asked, so the silent peer does not matter). */
    sub = NULL;
    const stompws_header id = { "id", "my-sub" };
    if (CHECK_OK(stompws_client_subscribe(client, "/queue/a", STOMPWS_ACK_MODE_CLIENT, &id, 1,
                                          &sub))) {
        CHECK_STR(stompws_subscription_id(sub), "my-sub");
        CHECK_RESULT(stompws_subscription_receive(sub, 0, NULL), STOMPWS_RESULT_NULL_PARAMETER);
        /* Timeout: TIMEOUT, *out untouched, and it really waited. */
        unsigned long long start = now_ms();
        CHECK_RESULT(stompws_subscription_receive(sub, 0, &message), STOMPWS_RESULT_TIMEOUT);
        CHECK(message == UNTOUCHED(stompws_message));
        CHECK(now_ms() - start < 100);
        start = now_ms();
        CHECK_RESULT(stompws_subscription_receive(sub, 200, &message), STOMPWS_RESULT_TIMEOUT);
        unsigned long long took = now_ms() - start;
        CHECK(took >= 190 && took < 2000);
        CHECK(message == UNTOUCHED(stompws_message));
        stompws_subscription_free(sub);
    }

    /* A callback subscription cannot be received from. */
    sub = NULL;
    if (CHECK_OK(stompws_client_subscribe_callback(client, "/queue/c", STOMPWS_ACK_MODE_AUTO,
                                                   NULL, 0, ignore_message, NULL, &sub))) {
        CHECK(stompws_subscription_id(sub) != NULL);
        CHECK_RESULT(stompws_subscription_receive(sub, 0, &message),
                     STOMPWS_RESULT_INVALID_ARGUMENT);
        CHECK(message == UNTOUCHED(stompws_message));
        stompws_subscription_free(sub);
    }

    /* The peer answers DISCONNECT's receipt. */
    CHECK_OK(stompws_client_disconnect(client, 2000));
    CHECK(!stompws_client_is_connected(client));
    CHECK_OK(stompws_client_disconnect(client, 2000)); /* again: OK */
    CHECK_RESULT(stompws_client_send(client, "/queue/a", NULL, 0, NULL, 0),
                 STOMPWS_RESULT_DISCONNECTED);
    /* Getters keep answering after the connection closed. */
    CHECK_STR(stompws_client_version(client), "1.0");
    WAIT_UNTIL(event_seen(&events, STOMPWS_EVENT_DISCONNECTED), 2000);
    CHECK(event_seen(&events, STOMPWS_EVENT_DISCONNECTED));

out:
    stompws_client_free(client);
    stompws_config_free(config);
    fake_stop(&f);

    /* What went over the wire, and what the debug callback showed of it. */
    CHECK_CONTAINS(f.received, "passcode:s3cret");
    CHECK_CONTAINS(f.received, "client-id:c-42");
    CHECK(strstr(f.received, "\nhost:") == NULL); /* not sent unless set */
    CHECK_CONTAINS(f.received, "accept-version:1.2,1.1,1.0");
    CHECK_CONTAINS(log->text, ">>> CONNECT");
    CHECK_CONTAINS(log->text, "<<< CONNECTED");
    CHECK_CONTAINS(log->text, ">>> SEND");
    CHECK(strstr(log->text, "s3cret") == NULL); /* the passcode is never shown */
    pthread_mutex_destroy(&log->lock);
    free(log);
}

struct waiter {
    stompws_subscription *sub;
    stompws_result result;
    unsigned long long took_ms;
};

static void *receive_long(void *arg)
{
    struct waiter *w = arg;
    stompws_message *message = NULL;
    unsigned long long start = now_ms();
    w->result = stompws_subscription_receive(w->sub, 20000, &message);
    w->took_ms = now_ms() - start;
    stompws_message_free(message);
    return NULL;
}

/* The peer hangs up mid-session: every waiting call wakes up at once with DISCONNECTED,
 * and nothing crashes afterwards (writes to the dead socket included: no SIGPIPE). */
static void test_connection_lost_wakes_waiters(void)
{
    struct fake_server f = { 0 };
    f.accept = 1;
    f.reply = connected_12;
    f.hold_ms = 500; /* then the peer closes */
    if (!CHECK(fake_start(&f) == 0))
        return;
    struct events events;
    atomic_init(&events.seen, 0);
    stompws_config *config = stompws_config_new();
    CHECK_OK(stompws_config_set_event_callback(config, record_event, &events));
    CHECK_OK(stompws_config_set_receipt_timeout(config, 20000));
    stompws_client *client = NULL;
    stompws_transaction *tx = NULL;
    struct waiter w = { NULL, STOMPWS_RESULT_OK, 0 };
    pthread_t thread;
    int started = 0;
    if (!CHECK_OK(stompws_client_connect(fake_url(&f, "tcp"), config, &client)))
        goto out;
    CHECK_STR(stompws_client_version(client), "1.2");
    if (!CHECK_OK(stompws_client_subscribe(client, "/queue/a", STOMPWS_ACK_MODE_AUTO, NULL, 0,
                                           &w.sub)))
        goto out;
    started = CHECK(pthread_create(&thread, NULL, receive_long, &w) == 0);

    /* Commit waits for a receipt that never comes; the hang-up ends the wait. */
    if (CHECK_OK(stompws_client_begin(client, "tx-1", &tx))) {
        CHECK_STR(stompws_transaction_id(tx), "tx-1");
        unsigned long long start = now_ms();
        CHECK_RESULT(stompws_transaction_commit(tx), STOMPWS_RESULT_DISCONNECTED);
        CHECK(now_ms() - start < 5000);
    }
    if (started) {
        pthread_join(thread, NULL);
        CHECK_RESULT(w.result, STOMPWS_RESULT_DISCONNECTED);
        CHECK(w.took_ms < 5000);
    }
    WAIT_UNTIL(!stompws_client_is_connected(client), 2000);
    CHECK(!stompws_client_is_connected(client));
    char reason[256];
    CHECK(stompws_client_close_reason(client, reason, sizeof reason) > 0);
    WAIT_UNTIL(event_seen(&events, STOMPWS_EVENT_CONNECTION_LOST), 2000);
    CHECK(event_seen(&events, STOMPWS_EVENT_CONNECTION_LOST));
    CHECK_RESULT(stompws_client_send(client, "/queue/a", NULL, 0, (const uint8_t *)"x", 1),
                 STOMPWS_RESULT_DISCONNECTED);
    stompws_message *message = UNTOUCHED(stompws_message);
    CHECK_RESULT(stompws_subscription_receive(w.sub, 0, &message), STOMPWS_RESULT_DISCONNECTED);
    CHECK(message == UNTOUCHED(stompws_message));
    CHECK_OK(stompws_client_disconnect(client, 1000)); /* already closed: OK */

out:
    stompws_transaction_free(tx);
    stompws_subscription_free(w.sub);
    stompws_client_free(client);
    stompws_config_free(config);
    fake_stop(&f);
}

int main(void)
{
    RUN(test_version);
    RUN(test_result_str);
    RUN(test_null_handles);
    RUN(test_free_null);
    RUN(test_config_null_arguments);
    RUN(test_config_validation);
    RUN(test_reconnect_and_failover_setters);
    RUN(test_connect_bad_urls);
    RUN(test_connect_refused);
    RUN(test_last_error_contract);
    RUN(test_last_error_per_thread);
    RUN(test_connect_timeout_silent_peer);
    RUN(test_handshake_refused);
    RUN(test_connect_error_frame);
    RUN(test_fake_session);
    RUN(test_connection_lost_wakes_waiters);
    return check_report();
}
