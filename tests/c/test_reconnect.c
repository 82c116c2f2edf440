/*
 * Reconnect and failover from C (API.md "Reconnect and failover"), against the scripted
 * peer of fake_server.h, which serves one connection after another and drops the
 * current one on fake_cut(), as a broker that stops does:
 * - one loss and one successful reconnect give CONNECTED, CONNECTION_LOST, RECONNECTING,
 *   CONNECTED (detail: the URL), and DISCONNECTED at the end;
 * - a message received on the lost session cannot be acked after the reconnect
 *   (DISCONNECTED, and no ACK goes out); its redelivery on the new session can;
 * - the subscription is replayed with the same id and headers, first thing;
 * - the setters check their arguments; connect walks the endpoint list once.
 *
 * Usage: test_reconnect      (prints "N passed, N failed" last; exit status 1 on failure)
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "fake_server.h"

#include <pthread.h>

static const char connected[] =
    "CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:fake/1.0\nsession:s\n\n";

/* The initial reconnect delay the tests use: short, so a run stays quick. */
#define INITIAL_DELAY_MS 100u
#define MAX_DELAY_MS 1000u

/* ---- the events, in order, with their details ---- */

#define MAX_EVENTS 32

struct event_log {
    pthread_mutex_t lock; /* the callback runs on the dispatch thread */
    size_t count;
    stompws_event events[MAX_EVENTS];
    char details[MAX_EVENTS][256];
};

static void record_event(void *userdata, stompws_event event, const char *detail)
{
    struct event_log *log = userdata;
    pthread_mutex_lock(&log->lock);
    if (log->count < MAX_EVENTS) {
        log->events[log->count] = event;
        snprintf(log->details[log->count], sizeof log->details[0], "%s", detail ? detail : "");
        log->count++;
    }
    pthread_mutex_unlock(&log->lock);
}

/* How many events of this kind came so far. */
static size_t events_of(struct event_log *log, stompws_event event)
{
    size_t n = 0;
    pthread_mutex_lock(&log->lock);
    for (size_t i = 0; i < log->count; i++)
        n += log->events[i] == event;
    pthread_mutex_unlock(&log->lock);
    return n;
}

static const char *event_name(stompws_event event)
{
    switch (event) {
    case STOMPWS_EVENT_CONNECTED: return "CONNECTED";
    case STOMPWS_EVENT_CONNECTION_LOST: return "CONNECTION_LOST";
    case STOMPWS_EVENT_RECONNECTING: return "RECONNECTING";
    case STOMPWS_EVENT_SERVER_ERROR: return "SERVER_ERROR";
    case STOMPWS_EVENT_DISCONNECTED: return "DISCONNECTED";
    case STOMPWS_EVENT_SUBSCRIPTION_CLOSED: return "SUBSCRIPTION_CLOSED";
    default: return "?";
    }
}

/* Prints the log (read it once the client is freed: no callback runs any more). */
static void print_events(const struct event_log *log)
{
    for (size_t i = 0; i < log->count; i++)
        printf("   event %zu: %s \"%s\"\n", i, event_name(log->events[i]), log->details[i]);
    fflush(stdout);
}

/* A config with reconnect on, this log as its event callback, and short timeouts so a
 * failed test does not hang. */
static stompws_config *reconnect_config(struct event_log *log)
{
    stompws_config *config = stompws_config_new();
    CHECK_OK(stompws_config_set_reconnect(config, INITIAL_DELAY_MS, MAX_DELAY_MS, 5));
    CHECK_OK(stompws_config_set_heartbeat(config, 0, 0));
    CHECK_OK(stompws_config_set_connect_timeout(config, 2000));
    CHECK_OK(stompws_config_set_receipt_timeout(config, 5000));
    CHECK_OK(stompws_config_set_event_callback(config, record_event, log));
    return config;
}

/* ---- what the server received ---- */

/* How many whole frames a connection received with this command whose text (command
 * and headers and body) holds `text` (NULL: any). Heart-beat EOLs between frames are
 * skipped. */
static size_t frames_where(const struct fake_script *s, const char *command, const char *text)
{
    size_t n = 0, cmd_len = strlen(command);
    const char *p = s->received, *end = s->received + s->received_len;
    while (p < end) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (!nul)
            break;
        while (p < nul && (*p == '\n' || *p == '\r'))
            p++;
        /* The frame [p, nul) is a C string: its own NUL ends it. */
        if (strncmp(p, command, cmd_len) == 0 && (p[cmd_len] == '\n' || p[cmd_len] == '\r') &&
            (!text || strstr(p, text)))
            n++;
        p = nul + 1;
    }
    return n;
}

/* The second whole frame a connection received (the first is CONNECT), or "". */
static const char *second_frame(const struct fake_script *s)
{
    const char *first_end = memchr(s->received, '\0', s->received_len);
    if (!first_end)
        return "";
    const char *p = first_end + 1;
    while (*p == '\n' || *p == '\r')
        p++;
    return p;
}

/* ---- (a) one loss, one reconnect: the events ---- */

static void test_loss_and_reconnect_events(void)
{
    static struct fake_script scripts[2];
    memset(scripts, 0, sizeof scripts);
    scripts[0].reply = connected;
    scripts[0].hold_ms = 20000; /* until fake_cut */
    scripts[1].reply = connected;
    scripts[1].hold_ms = 20000;
    scripts[1].answer_disconnect = 1;
    static struct fake_server f;
    memset(&f, 0, sizeof f);
    f.scripts = scripts;
    f.script_count = 2;
    if (!CHECK(fake_start(&f) == 0))
        return;
    char url[64];
    snprintf(url, sizeof url, "%s", fake_url(&f, "tcp"));

    struct event_log log = { .count = 0 };
    pthread_mutex_init(&log.lock, NULL);
    stompws_config *config = reconnect_config(&log);
    stompws_client *client = NULL;
    if (!CHECK_OK(stompws_client_connect(url, config, &client)))
        goto out;
    WAIT_UNTIL(events_of(&log, STOMPWS_EVENT_CONNECTED) == 1, 2000);

    unsigned long long cut_at = now_ms();
    fake_cut(&f);
    WAIT_UNTIL(events_of(&log, STOMPWS_EVENT_CONNECTED) == 2, 10000);
    unsigned long long took = now_ms() - cut_at;
    if (CHECK(events_of(&log, STOMPWS_EVENT_CONNECTED) == 2)) {
        printf("   reconnected %llu ms after the cut (initial delay %u ms)\n", took,
               INITIAL_DELAY_MS);
        CHECK(stompws_client_is_connected(client));
        CHECK(atomic_load(&f.accepted) == 2);
        /* The new session works: a send goes out on it. */
        CHECK_OK(stompws_client_send(client, "/queue/after", NULL, 0, (const uint8_t *)"x", 1));
    }
    CHECK_OK(stompws_client_disconnect(client, 2000));
    WAIT_UNTIL(events_of(&log, STOMPWS_EVENT_DISCONNECTED) == 1, 2000);

out:
    stompws_client_free(client); /* no callback runs after this */
    stompws_config_free(config);
    fake_stop(&f);

    print_events(&log);
    /* Exactly these, in this order. */
    static const stompws_event expected[] = {
        STOMPWS_EVENT_CONNECTED,    STOMPWS_EVENT_CONNECTION_LOST, STOMPWS_EVENT_RECONNECTING,
        STOMPWS_EVENT_CONNECTED,    STOMPWS_EVENT_DISCONNECTED,
    };
    size_t n = sizeof expected / sizeof expected[0];
    CHECK_SIZE(log.count, n);
    for (size_t i = 0; i < n && i < log.count; i++)
        CHECK_STR(event_name(log.events[i]), event_name(expected[i]));
    if (log.count == n) {
        /* CONNECTED names the endpoint, as given to connect. */
        CHECK_STR(log.details[0], url);
        CHECK_STR(log.details[3], url);
        /* CONNECTION_LOST says why. */
        CHECK(log.details[1][0] != '\0');
        /* RECONNECTING: "attempt 1: waiting M ms", M the initial delay +-20%. */
        unsigned attempt = 0, wait_ms = 0;
        CHECK(sscanf(log.details[2], "attempt %u: waiting %u ms", &attempt, &wait_ms) == 2);
        CHECK(attempt == 1);
        CHECK(wait_ms >= INITIAL_DELAY_MS * 8 / 10 && wait_ms <= INITIAL_DELAY_MS * 12 / 10);
    }
    /* The second connection saw only CONNECT, the SEND made after the reconnect, and
     * DISCONNECT. */
    CHECK_SIZE(frames_where(&scripts[1], "SEND", "destination:/queue/after"), 1);
    CHECK_SIZE(frames_where(&scripts[1], "DISCONNECT", NULL), 1);
    pthread_mutex_destroy(&log.lock);
}

/* ---- (b) a stale ack ---- */

static void test_stale_ack_refused(void)
{
    static struct fake_script scripts[2];
    memset(scripts, 0, sizeof scripts);
    /* Session 1 delivers m-1 (ack id a-1) and goes away before it is acked. */
    scripts[0].reply = connected;
    scripts[0].steps[0].expect = "SUBSCRIBE\n";
    scripts[0].steps[0].send = "MESSAGE\nsubscription:sub-1\nmessage-id:m-1\nack:a-1\n"
                               "destination:/queue/r\n\nfirst";
    scripts[0].hold_ms = 20000; /* until fake_cut */
    /* Session 2: the broker redelivers m-1, under a new ack id, once resubscribed. */
    scripts[1].reply = connected;
    scripts[1].steps[0].expect = "SUBSCRIBE\n";
    scripts[1].steps[0].send = "MESSAGE\nsubscription:sub-1\nmessage-id:m-1\nack:b-1\n"
                               "redelivered:true\ndestination:/queue/r\n\nfirst";
    scripts[1].hold_ms = 20000;
    scripts[1].answer_disconnect = 1;
    static struct fake_server f;
    memset(&f, 0, sizeof f);
    f.scripts = scripts;
    f.script_count = 2;
    if (!CHECK(fake_start(&f) == 0))
        return;

    struct event_log log = { .count = 0 };
    pthread_mutex_init(&log.lock, NULL);
    stompws_config *config = reconnect_config(&log);
    stompws_client *client = NULL;
    stompws_subscription *sub = NULL;
    stompws_message *old = NULL, *again = NULL;
    if (!CHECK_OK(stompws_client_connect(fake_url(&f, "tcp"), config, &client)))
        goto out;
    const stompws_header headers[] = { { "id", "sub-1" }, { "prefetch-count", "1" } };
    if (!CHECK_OK(stompws_client_subscribe(client, "/queue/r", STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL,
                                           headers, 2, &sub)))
        goto out;
    if (!CHECK_OK(stompws_subscription_receive(sub, 5000, &old)))
        goto out;
    CHECK_STR(stompws_message_header(old, "ack"), "a-1");

    fake_cut(&f);
    WAIT_UNTIL(events_of(&log, STOMPWS_EVENT_CONNECTED) == 2, 10000);
    if (!CHECK(events_of(&log, STOMPWS_EVENT_CONNECTED) == 2))
        goto out;

    /* The old session's message: refused, nothing sent, and the refusal does not use up
     * its one ack (a second try is refused the same way, not INVALID_ARGUMENT). */
    CHECK_RESULT(stompws_message_ack(old, NULL, 0), STOMPWS_RESULT_DISCONNECTED);
    CHECK(last_error()[0] != '\0');
    CHECK_RESULT(stompws_message_ack(old, NULL, 0), STOMPWS_RESULT_DISCONNECTED);
    CHECK_RESULT(stompws_message_nack(old, NULL, 0), STOMPWS_RESULT_DISCONNECTED);

    /* Its redelivery on the new session is acked normally, once. */
    if (CHECK_OK(stompws_subscription_receive(sub, 5000, &again))) {
        CHECK_STR(stompws_message_header(again, "ack"), "b-1");
        CHECK_STR(stompws_message_header(again, "redelivered"), "true");
        CHECK_OK(stompws_message_ack(again, NULL, 0));
        CHECK_RESULT(stompws_message_ack(again, NULL, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
    }
    /* DISCONNECT's receipt comes after the server read every earlier frame. */
    CHECK_OK(stompws_client_disconnect(client, 2000));

out:
    stompws_message_free(old);
    stompws_message_free(again);
    stompws_subscription_free(sub);
    stompws_client_free(client);
    stompws_config_free(config);
    fake_stop(&f);
    print_events(&log);

    /* Session 1 got no ACK or NACK; session 2 exactly one ACK, for b-1. */
    CHECK_SIZE(frames_where(&scripts[0], "ACK", NULL), 0);
    CHECK_SIZE(frames_where(&scripts[0], "NACK", NULL), 0);
    CHECK_SIZE(frames_where(&scripts[1], "ACK", NULL), 1);
    CHECK_SIZE(frames_where(&scripts[1], "ACK", "\nid:b-1\n"), 1);
    CHECK_SIZE(frames_where(&scripts[1], "NACK", NULL), 0);
    CHECK(strstr(scripts[1].received, "a-1") == NULL);
    /* The subscription was replayed first thing on the new session: same id, ack mode,
     * caller headers, and no receipt. */
    const char *replayed = second_frame(&scripts[1]);
    CHECK(strncmp(replayed, "SUBSCRIBE\n", 10) == 0);
    CHECK_CONTAINS(replayed, "\nid:sub-1\n");
    CHECK_CONTAINS(replayed, "\ndestination:/queue/r\n");
    CHECK_CONTAINS(replayed, "\nack:client-individual\n");
    CHECK_CONTAINS(replayed, "\nprefetch-count:1\n");
    CHECK(strstr(replayed, "\nreceipt:") == NULL);
    CHECK_SIZE(frames_where(&scripts[1], "SUBSCRIBE", NULL), 1);
    pthread_mutex_destroy(&log.lock);
}

/* ---- (c) the setters' argument checks ---- */

static void test_setter_arguments(void)
{
    CHECK_RESULT(stompws_config_set_reconnect(NULL, 100, 5000, 0), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_RESULT(stompws_config_add_failover_url(NULL, "tcp://127.0.0.1:61613"),
                 STOMPWS_RESULT_NULL_PARAMETER);
    stompws_config *config = stompws_config_new();
    if (!CHECK(config != NULL))
        return;
    CHECK_RESULT(stompws_config_add_failover_url(config, NULL), STOMPWS_RESULT_NULL_PARAMETER);

    /* max_delay_ms < initial_delay_ms */
    CHECK_RESULT(stompws_config_set_reconnect(config, 1000, 999, 0),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    /* URLs connect would refuse */
    const char *bad[] = { "http://127.0.0.1:15674/ws", "ftp://127.0.0.1:21", "not a url", "",
                          "ws://127.0.0.1:15674/\xff" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!CHECK_RESULT(stompws_config_add_failover_url(config, bad[i]),
                          STOMPWS_RESULT_INVALID_ARGUMENT))
            printf("    (url %zu: \"%s\")\n", i, bad[i]);
    }

    /* Valid values. */
    CHECK_OK(stompws_config_set_reconnect(config, 100, 5000, 0));
    CHECK(last_error()[0] == '\0');
    CHECK_OK(stompws_config_set_reconnect(config, 250, 250, 3)); /* max == initial */
    CHECK_OK(stompws_config_set_reconnect(config, 1, UINT32_MAX, UINT32_MAX));
    CHECK_OK(stompws_config_add_failover_url(config, "tcp://127.0.0.1:61613"));
    CHECK_OK(stompws_config_add_failover_url(config, "ws://127.0.0.1:15674/ws"));
    CHECK_OK(stompws_config_add_failover_url(config, "wss://localhost:15673/ws"));
    CHECK_OK(stompws_config_add_failover_url(config, "ssl://localhost:61614"));
    stompws_config_free(config);
}

/* ---- (d) connect walks the endpoint list once ---- */

/* A 127.0.0.1 port where nothing listens (it was free a moment ago): connect is refused. */
static unsigned short dead_port(void)
{
    struct fake_server f = { 0 };
    if (fake_start(&f) != 0)
        return 1;
    unsigned short port = f.port;
    fake_stop(&f);
    return port;
}

static void test_connect_fails_over(void)
{
    static struct fake_script scripts[1];
    memset(scripts, 0, sizeof scripts);
    scripts[0].reply = connected;
    scripts[0].hold_ms = 20000;
    scripts[0].answer_disconnect = 1;
    static struct fake_server f;
    memset(&f, 0, sizeof f);
    f.scripts = scripts;
    f.script_count = 1;
    if (!CHECK(fake_start(&f) == 0))
        return;
    char live[64], dead1[64], dead2[64];
    snprintf(live, sizeof live, "%s", fake_url(&f, "tcp"));
    unsigned short port1 = dead_port(), port2 = dead_port();
    for (int i = 0; i < 10 && port2 == port1; i++)
        port2 = dead_port();
    snprintf(dead1, sizeof dead1, "tcp://127.0.0.1:%u", (unsigned)port1);
    snprintf(dead2, sizeof dead2, "tcp://127.0.0.1:%u", (unsigned)port2);
    const char *dead1_host = dead1 + strlen("tcp://"), *dead2_host = dead2 + strlen("tcp://");

    struct event_log log = { .count = 0 };
    pthread_mutex_init(&log.lock, NULL);

    /* Every endpoint refused: the last one's result, and the detail names each. */
    stompws_config *config = stompws_config_new();
    CHECK_OK(stompws_config_set_connect_timeout(config, 2000));
    CHECK_OK(stompws_config_add_failover_url(config, dead2));
    stompws_client *client = UNTOUCHED(stompws_client);
    unsigned long long start = now_ms();
    CHECK_RESULT(stompws_client_connect(dead1, config, &client), STOMPWS_RESULT_IO);
    CHECK(now_ms() - start < 2000); /* once each, no backoff */
    const char *detail = last_error(); /* names each endpoint (its URL, or host:port) */
    CHECK_CONTAINS(detail, dead1_host);
    CHECK_CONTAINS(detail, dead2_host);
    CHECK(client == UNTOUCHED(stompws_client));

    /* A dead first endpoint, then the live one: connected there. */
    CHECK_OK(stompws_config_add_failover_url(config, live));
    CHECK_OK(stompws_config_set_event_callback(config, record_event, &log));
    client = NULL;
    if (CHECK_OK(stompws_client_connect(dead1, config, &client))) {
        CHECK(last_error()[0] == '\0');
        WAIT_UNTIL(events_of(&log, STOMPWS_EVENT_CONNECTED) == 1, 2000);
        pthread_mutex_lock(&log.lock);
        if (CHECK(log.count >= 1 && log.events[0] == STOMPWS_EVENT_CONNECTED))
            CHECK_STR(log.details[0], live);
        pthread_mutex_unlock(&log.lock);
        CHECK_OK(stompws_client_disconnect(client, 2000));
    }
    stompws_client_free(client);
    stompws_config_free(config);
    fake_stop(&f);
    CHECK(atomic_load(&f.accepted) == 1);
    pthread_mutex_destroy(&log.lock);
}

int main(void)
{
    RUN(test_setter_arguments);
    RUN(test_loss_and_reconnect_events);
    RUN(test_stale_ack_refused);
    RUN(test_connect_fails_over);
    return check_report();
}
