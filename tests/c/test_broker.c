/*
 * The C API against a real broker: bodies and headers exact, acks per STOMP version,
 * transactions, callbacks that call back into the library, handles that outlive their
 * client, several threads on one client.
 *
 * Usage: test_broker URL rabbitmq|activemq
 * Login from $STOMPWS_LOGIN/$STOMPWS_PASSCODE (default guest/guest); the read-only user
 * stompro/stompro must exist (the scripts in tests/brokers create it); $STOMPWS_TLS_CA_FILE is
 * used for wss:// and ssl:// URLs. Destinations carry the process id, so runs against
 * the same broker do not meet.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <pthread.h>
#include <unistd.h>

static const char *url;
static int rabbitmq; /* else ActiveMQ: the brokers differ where NOTES.md says so */
static const char *login = "guest", *passcode = "guest", *ca_file;


/* A destination of this run: /queue/stompws-c-PID-NAME (or /topic/...). */
static const char *dest(char *buf, size_t size, const char *kind, const char *name)
{
    snprintf(buf, size, "/%s/stompws-c-%ld-%s", kind, (long)getpid(), name);
    return buf;
}

/* RabbitMQ 3.10's Web STOMP drops the connection when its flow control blocks and
 * unblocks a publishing client between two SENDs while the client sends heart-beats:
 * it resumes a heart-beat monitor it never paused, which dies with
 * {unexpected_message,resume} (rabbit_heartbeat), and the connection with it. Bursts of
 * sends (test_threads_share_client) hit it most runs. So on RabbitMQ the tests send no
 * heart-beats (they still ask for the broker's); test_session keeps the defaults. */
static int send_heartbeats = 1;

static stompws_config *new_config(const char *user, const char *pass, const char *versions)
{
    stompws_config *config = stompws_config_new();
    if (!CHECK(config != NULL))
        return NULL;
    CHECK_OK(stompws_config_set_login(config, user, pass));
    if (!send_heartbeats)
        CHECK_OK(stompws_config_set_heartbeat(config, 0, 10000));
    if (versions)
        CHECK_OK(stompws_config_set_versions(config, versions));
    if (ca_file)
        CHECK_OK(stompws_config_set_tls_ca_file(config, ca_file));
    return config;
}

/* A client of the default user; versions NULL = the library's default. NULL on failure. */
static stompws_client *connect_as(const char *user, const char *pass, const char *versions)
{
    stompws_client *client = NULL;
    stompws_config *config = new_config(user, pass, versions);
    if (config && !CHECK_OK(stompws_client_connect(url, config, &client)))
        client = NULL;
    stompws_config_free(config);
    return client;
}

static stompws_client *connect_version(const char *versions)
{
    return connect_as(login, passcode, versions);
}

static int body_equals(const stompws_message *message, const void *expected, size_t len)
{
    size_t got_len = 0;
    const uint8_t *got = stompws_message_body(message, &got_len);
    return got && got_len == len && memcmp(got, expected, len) == 0;
}

static int body_is(const stompws_message *message, const char *text)
{
    return body_equals(message, text, strlen(text));
}

static stompws_result send_text(stompws_client *client, const char *destination, const char *text)
{
    return stompws_client_send(client, destination, NULL, 0, (const uint8_t *)text, strlen(text));
}

/* Takes whatever is left on a queue, so a test that leaves messages unacked on purpose
 * does not leave them in the broker. */
static void drain(const char *queue)
{
    stompws_client *client = connect_version(NULL);
    stompws_subscription *sub = NULL;
    stompws_message *message = NULL;
    if (client &&
        CHECK_OK(stompws_client_subscribe(client, queue, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub)))
        while (stompws_subscription_receive(sub, 300, &message) == STOMPWS_RESULT_OK)
            stompws_message_free(message);
    stompws_subscription_free(sub);
    stompws_client_free(client);
}

/* ---- tests ---- */

/* With the library's defaults (heart-beats included), then each version. */
static void test_session(void)
{
    static const char *const versions[] = { NULL, "1.2", "1.1", "1.0" };
    static const char *const negotiated[] = { "1.2", "1.2", "1.1", "1.0" };
    int saved = send_heartbeats;
    for (size_t i = 0; i < 4; i++) {
        send_heartbeats = i == 0 ? 1 : saved;
        stompws_client *client = connect_version(versions[i]);
        if (!client)
            continue;
        CHECK_STR(stompws_client_version(client), negotiated[i]);
        if (i < 3) /* the `server` header is STOMP 1.1's */
            CHECK(stompws_client_server(client) != NULL);
        CHECK(stompws_client_session(client) != NULL);
        CHECK(stompws_client_is_connected(client));
        CHECK_SIZE(stompws_client_close_reason(client, NULL, 0), 0);

        /* RabbitMQ over ws never sends DISCONNECT's receipt but closes cleanly: still OK,
         * and without waiting for the timeout. */
        unsigned long long start = now_ms();
        CHECK_OK(stompws_client_disconnect(client, 10000));
        CHECK(now_ms() - start < 5000);
        CHECK(!stompws_client_is_connected(client));
        CHECK_OK(stompws_client_disconnect(client, 10000));
        CHECK_RESULT(send_text(client, "/queue/nowhere", "x"), STOMPWS_RESULT_DISCONNECTED);
        stompws_client_free(client);
    }
    send_heartbeats = saved;
}

static void test_bad_login(void)
{
    stompws_config *config = new_config(login, "wrong-passcode", NULL);
    stompws_client *client = UNTOUCHED(stompws_client);
    CHECK_RESULT(stompws_client_connect(url, config, &client), STOMPWS_RESULT_SERVER_ERROR);
    /* The broker's own words (brokers/NOTES.md has the exact ERROR frames). */
    CHECK_CONTAINS(last_error(), rabbitmq ? "Access refused" : "password is invalid");
    CHECK(client == UNTOUCHED(stompws_client));
    stompws_config_free(config);
}

static void test_bodies_exact(void)
{
    char q[128];
    dest(q, sizeof q, "queue", "bodies");
    stompws_client *client = connect_version(NULL);
    stompws_subscription *sub = NULL;
    stompws_message *message = NULL;
    size_t big_len = 1u << 20;
    uint8_t *big = malloc(big_len);
    uint8_t binary[1024];
    if (!client || !CHECK(big != NULL))
        goto out;
    for (size_t i = 0; i < sizeof binary; i++)
        binary[i] = (uint8_t)i; /* NULs at 0, 256, 512, 768; bytes that are not UTF-8 */
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)(i * 7919u >> 3);
    if (!CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub)))
        goto out;

    CHECK_OK(stompws_client_send(client, q, NULL, 0, binary, sizeof binary));
    CHECK_OK(stompws_client_send(client, q, NULL, 0, NULL, 0));
    CHECK_OK(stompws_client_send(client, q, NULL, 0, (const uint8_t *)"a\0b", 3));
    CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0, big, big_len));

    size_t len = 0;
    const uint8_t *body;
    if (CHECK_OK(stompws_subscription_receive(sub, 5000, &message))) {
        CHECK(body_equals(message, binary, sizeof binary));
        body = stompws_message_body(message, &len);
        CHECK_SIZE(len, sizeof binary);
        CHECK(body && body[len] == 0); /* the NUL the library puts after every body */
        CHECK(stompws_message_body(message, NULL) == body); /* len may be NULL */
        stompws_message_free(message);
    }
    if (CHECK_OK(stompws_subscription_receive(sub, 5000, &message))) {
        body = stompws_message_body(message, &len);
        CHECK_SIZE(len, 0);
        CHECK(body && body[0] == 0);
        stompws_message_free(message);
    }
    if (CHECK_OK(stompws_subscription_receive(sub, 5000, &message))) {
        CHECK(body_equals(message, "a\0b", 3));
        body = stompws_message_body(message, &len);
        CHECK(body && body[3] == 0);
        stompws_message_free(message);
    }
    if (CHECK_OK(stompws_subscription_receive(sub, 5000, &message))) {
        CHECK(body_equals(message, big, big_len));
        body = stompws_message_body(message, &len);
        CHECK(body && body[big_len] == 0);
        stompws_message_free(message);
    }
out:
    free(big);
    stompws_subscription_free(sub);
    stompws_client_free(client);
}

/* Values holding ':', '\n' and '\\' are escaped on the wire (1.1, 1.2) and come back
 * unescaped; the message's getters all agree. */
static void test_header_escapes(void)
{
    static const char *const versions[] = { "1.2", "1.1" };
    const stompws_header headers[] = {
        { "x-colon", "a:b:c" },
        { "x-newline", "line 1\nline 2" },
        { "x-backslash", "C:\\dir\\file" },
        { "x-all", "\\n is not \n, and : is \\c" },
    };
    const size_t count = sizeof headers / sizeof headers[0];
    for (size_t v = 0; v < 2; v++) {
        char q[128], name[32];
        snprintf(name, sizeof name, "escapes-%s", versions[v]);
        dest(q, sizeof q, "queue", name);
        stompws_client *client = connect_version(versions[v]);
        stompws_subscription *sub = NULL;
        stompws_message *message = NULL;
        if (!client)
            continue;
        if (!CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub)))
            goto next;
        CHECK_OK(stompws_client_send(client, q, headers, count, (const uint8_t *)"h", 1));
        if (!CHECK_OK(stompws_subscription_receive(sub, 5000, &message)))
            goto next;

        CHECK_STR(stompws_message_command(message), "MESSAGE");
        CHECK_STR(stompws_message_destination(message), q);
        CHECK_STR(stompws_message_header(message, "subscription"), stompws_subscription_id(sub));
        CHECK(stompws_message_header(message, "no-such-header") == NULL);
        CHECK(stompws_message_header(message, NULL) == NULL);
        for (size_t i = 0; i < count; i++)
            CHECK_STR(stompws_message_header(message, headers[i].name), headers[i].value);

        /* header_at walks the same headers, in order, and stops at the end. */
        size_t n = stompws_message_header_count(message);
        size_t found = 0;
        CHECK(n >= count + 3); /* destination, message-id, subscription and ours */
        for (size_t i = 0; i < n; i++) {
            const char *hname = NULL, *hvalue = NULL;
            if (!CHECK_OK(stompws_message_header_at(message, i, &hname, &hvalue)))
                break;
            CHECK(hname != NULL && hvalue != NULL);
            for (size_t k = 0; hname && hvalue && k < count; k++)
                if (strcmp(hname, headers[k].name) == 0 && strcmp(hvalue, headers[k].value) == 0)
                    found++;
        }
        CHECK_SIZE(found, count);
        const char *hname = "unchanged", *hvalue = "unchanged";
        CHECK_RESULT(stompws_message_header_at(message, n, &hname, &hvalue),
                     STOMPWS_RESULT_INVALID_ARGUMENT);
        CHECK(strcmp(hname, "unchanged") == 0 && strcmp(hvalue, "unchanged") == 0);
        CHECK_RESULT(stompws_message_header_at(message, 0, NULL, &hvalue),
                     STOMPWS_RESULT_NULL_PARAMETER);
        CHECK_RESULT(stompws_message_header_at(message, 0, &hname, NULL),
                     STOMPWS_RESULT_NULL_PARAMETER);
    next:
        stompws_message_free(message);
        stompws_subscription_free(sub);
        stompws_client_free(client);
    }
}

/* STOMP 1.0 has no header escapes, so a newline in a value cannot be carried. */
static void test_header_newline_on_10(void)
{
    char q[128];
    dest(q, sizeof q, "queue", "newline-10");
    stompws_client *client = connect_version("1.0");
    if (!client)
        return;
    CHECK_STR(stompws_client_version(client), "1.0");
    const stompws_header newline = { "x-note", "line 1\nline 2" };
    CHECK_RESULT(stompws_client_send(client, q, &newline, 1, (const uint8_t *)"x", 1),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    /* Not sent, and the session is fine. */
    CHECK(stompws_client_is_connected(client));
    CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0, (const uint8_t *)"y", 1));
    stompws_subscription *sub = NULL;
    stompws_message *message = NULL;
    if (CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub)) &&
        CHECK_OK(stompws_subscription_receive(sub, 5000, &message)))
        CHECK(body_is(message, "y"));
    stompws_message_free(message);
    stompws_subscription_free(sub);
    stompws_client_free(client);
}

static void test_out_of_range_ack_mode(void)
{
    char q[128];
    stompws_client *client = connect_version(NULL);
    stompws_subscription *sub = UNTOUCHED(stompws_subscription);
    if (!client)
        return;
    dest(q, sizeof q, "queue", "ack-mode");
    CHECK_RESULT(stompws_client_subscribe(client, q, 3, NULL, 0, &sub),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(last_error()[0] != '\0');
    CHECK_RESULT(stompws_client_subscribe(client, q, 0x80000000u, NULL, 0, &sub),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(sub == UNTOUCHED(stompws_subscription));
    stompws_client_free(client);
}

static void test_receive_timeout(void)
{
    char q[128];
    stompws_client *client = connect_version(NULL);
    stompws_subscription *sub = NULL;
    if (!client)
        return;
    dest(q, sizeof q, "queue", "timeout");
    if (CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub))) {
        stompws_message *message = UNTOUCHED(stompws_message);
        unsigned long long start = now_ms();
        CHECK_RESULT(stompws_subscription_receive(sub, 300, &message), STOMPWS_RESULT_TIMEOUT);
        unsigned long long took = now_ms() - start;
        CHECK(took >= 290 && took < 3000);
        CHECK(message == UNTOUCHED(stompws_message));
        CHECK_RESULT(stompws_subscription_receive(sub, 0, &message), STOMPWS_RESULT_TIMEOUT);
        CHECK(message == UNTOUCHED(stompws_message));
    }
    stompws_subscription_free(sub);
    stompws_client_free(client);
}

/* receive_many: the first message waited for, then what is queued, at most max, in
 * order, each owned by the caller (freed here on another thread than it was taken on,
 * half of them); *n always written, out untouched unless OK. */
struct to_free {
    stompws_message *messages[8];
    size_t count;
};

static void *free_messages(void *arg)
{
    struct to_free *f = arg;
    for (size_t i = 0; i < f->count; i++)
        stompws_message_free(f->messages[i]);
    return NULL;
}

static void test_receive_many(void)
{
    char q[128];
    stompws_client *client = connect_version(NULL);
    stompws_subscription *sub = NULL;
    if (!client)
        return;
    dest(q, sizeof q, "queue", "many");
    if (!CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub)))
        goto out;
    stompws_message *batch[4] = { 0 };
    size_t n = 99;
    CHECK_RESULT(stompws_subscription_receive_many(sub, 0, NULL, 4, &n),
                 STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_SIZE(n, 0);
    n = 99;
    CHECK_RESULT(stompws_subscription_receive_many(sub, 0, batch, 0, &n),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_SIZE(n, 0);
    CHECK(last_error()[0] != '\0');
    batch[0] = UNTOUCHED(stompws_message);
    unsigned long long start = now_ms();
    CHECK_RESULT(stompws_subscription_receive_many(sub, 200, batch, 4, &n),
                 STOMPWS_RESULT_TIMEOUT);
    unsigned long long took = now_ms() - start;
    CHECK(took >= 190 && took < 3000);
    CHECK_SIZE(n, 0);
    CHECK(batch[0] == UNTOUCHED(stompws_message));

    for (int i = 0; i < 6; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        if (i < 5)
            CHECK_OK(send_text(client, q, body));
        else
            CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0,
                                                      (const uint8_t *)body, strlen(body)));
    }
    struct to_free later = { .count = 0 };
    int got = 0, calls = 0;
    start = now_ms();
    while (got < 6 && now_ms() - start < 10000) {
        stompws_result r = stompws_subscription_receive_many(sub, 1000, batch, 4, &n);
        calls++;
        if (r == STOMPWS_RESULT_TIMEOUT) {
            CHECK_SIZE(n, 0);
            continue;
        }
        if (!CHECK_OK(r))
            break;
        CHECK(n >= 1 && n <= 4);
        for (size_t i = 0; i < n; i++, got++) {
            char expected[16];
            snprintf(expected, sizeof expected, "m%d", got);
            CHECK(body_is(batch[i], expected));
            if (got % 2 == 0)
                stompws_message_free(batch[i]);
            else
                later.messages[later.count++] = batch[i];
        }
    }
    CHECK(got == 6);
    CHECK(calls >= 2); /* at most 4 at a time */
    pthread_t t;
    if (CHECK(pthread_create(&t, NULL, free_messages, &later) == 0))
        pthread_join(t, NULL);

    CHECK_OK(stompws_subscription_unsubscribe(sub, NULL, 0));
    CHECK_RESULT(stompws_subscription_receive_many(sub, 100, batch, 4, &n),
                 STOMPWS_RESULT_DISCONNECTED);
    CHECK_SIZE(n, 0);
out:
    stompws_subscription_free(sub);
    stompws_client_free(client);
}

/* ACK carries the headers its version needs (1.2: id; 1.1: message-id + subscription;
 * 1.0: message-id). Proof: with a receipt the broker confirms it, and a new session
 * gets nothing back. A message (or a clone) is acked at most once. */
static void test_ack_per_version(void)
{
    static const char *const versions[] = { "1.0", "1.1", "1.2" };
    for (size_t v = 0; v < 3; v++) {
        char q[128], name[32];
        snprintf(name, sizeof name, "ack-%s", versions[v]);
        dest(q, sizeof q, "queue", name);
        stompws_client *client = connect_version(versions[v]);
        stompws_subscription *sub = NULL;
        stompws_message *message = NULL, *clone = NULL;
        if (!client)
            continue;
        CHECK_STR(stompws_client_version(client), versions[v]);
        if (!CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_CLIENT, NULL, 0, &sub)))
            goto next;
        CHECK_OK(send_text(client, q, "ack me"));
        if (!CHECK_OK(stompws_subscription_receive(sub, 5000, &message)))
            goto next;
        CHECK(body_is(message, "ack me"));
        clone = stompws_message_clone(message);
        /* A counted reference: it may be the same pointer, and each is freed once. */
        CHECK(clone != NULL && body_is(clone, "ack me"));
        const stompws_header receipt = { "receipt", "ack-receipt" };
        CHECK_OK(stompws_message_ack(message, &receipt, 1));
        CHECK_RESULT(stompws_message_ack(message, NULL, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
        CHECK(last_error()[0] != '\0');
        CHECK_RESULT(stompws_message_ack(clone, NULL, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
        /* (On 1.0 NACK is UNSUPPORTED anyway: test_nack_on_10.) */
        if (v > 0)
            CHECK_RESULT(stompws_message_nack(clone, NULL, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
        stompws_subscription_free(sub);
        sub = NULL;
        stompws_client_free(client);

        /* A new session: the acked message is gone. */
        client = connect_version(versions[v]);
        if (client &&
            CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_CLIENT, NULL, 0, &sub))) {
            stompws_message *again = UNTOUCHED(stompws_message);
            CHECK_RESULT(stompws_subscription_receive(sub, 500, &again), STOMPWS_RESULT_TIMEOUT);
            if (again != UNTOUCHED(stompws_message))
                stompws_message_free(again);
        }
    next:
        stompws_message_free(clone);
        stompws_message_free(message);
        stompws_subscription_free(sub);
        stompws_client_free(client);
    }
}

/* NACK does not exist in STOMP 1.0. */
static void test_nack_on_10(void)
{
    char q[128];
    dest(q, sizeof q, "queue", "nack-10");
    stompws_client *client = connect_version("1.0");
    stompws_subscription *sub = NULL;
    stompws_message *message = NULL;
    if (!client)
        return;
    /* Client ack: acking or nacking an ack:auto message is refused for its own reason. */
    if (CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_CLIENT, NULL, 0, &sub)) &&
        CHECK_OK(send_text(client, q, "nack me")) &&
        CHECK_OK(stompws_subscription_receive(sub, 5000, &message))) {
        CHECK_RESULT(stompws_message_nack(message, NULL, 0), STOMPWS_RESULT_UNSUPPORTED);
        CHECK(last_error()[0] != '\0');
        CHECK(stompws_client_is_connected(client));
    }
    stompws_message_free(message);
    stompws_subscription_free(sub);
    stompws_client_free(client);
    drain(q);
}

/* NACK on 1.1 and 1.2. RabbitMQ requeues a NACKed message at once (redelivered:true);
 * ActiveMQ discards a non-persistent one. */
static void test_nack(void)
{
    static const char *const versions[] = { "1.1", "1.2" };
    for (size_t v = 0; v < 2; v++) {
        char q[128], name[32];
        snprintf(name, sizeof name, "nack-%s", versions[v]);
        dest(q, sizeof q, "queue", name);
        stompws_client *client = connect_version(versions[v]);
        stompws_subscription *sub = NULL;
        stompws_message *message = NULL, *again = NULL;
        if (!client)
            continue;
        if (!CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL,
                                               NULL, 0, &sub)) ||
            !CHECK_OK(send_text(client, q, "nack me")) ||
            !CHECK_OK(stompws_subscription_receive(sub, 5000, &message)))
            goto next;
        const stompws_header receipt = { "receipt", "nack-receipt" };
        CHECK_OK(stompws_message_nack(message, &receipt, 1));
        CHECK_RESULT(stompws_message_nack(message, NULL, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
        CHECK_RESULT(stompws_message_ack(message, NULL, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
        if (rabbitmq) {
            if (CHECK_OK(stompws_subscription_receive(sub, 5000, &again))) {
                CHECK(body_is(again, "nack me"));
                CHECK_STR(stompws_message_header(again, "redelivered"), "true");
                CHECK_OK(stompws_message_ack(again, &receipt, 1));
            }
        } else {
            again = UNTOUCHED(stompws_message);
            CHECK_RESULT(stompws_subscription_receive(sub, 500, &again), STOMPWS_RESULT_TIMEOUT);
            again = NULL;
        }
    next:
        stompws_message_free(again);
        stompws_message_free(message);
        stompws_subscription_free(sub);
        stompws_client_free(client);
    }
}

static void test_transactions(void)
{
    char q[128], tx_id[64];
    dest(q, sizeof q, "queue", "tx");
    snprintf(tx_id, sizeof tx_id, "tx-%ld", (long)getpid());
    stompws_client *client = connect_version(NULL);
    stompws_subscription *sub = NULL;
    stompws_transaction *t1 = NULL, *t2 = NULL, *t3 = NULL;
    stompws_message *message = UNTOUCHED(stompws_message);
    if (!client ||
        !CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub)))
        goto out;

    /* Committed: nothing before the commit, both after. */
    if (!CHECK_OK(stompws_client_begin(client, tx_id, &t1)))
        goto out;
    CHECK_STR(stompws_transaction_id(t1), tx_id);
    const stompws_header in_t1 = { "transaction", stompws_transaction_id(t1) };
    CHECK_OK(stompws_client_send(client, q, &in_t1, 1, (const uint8_t *)"c1", 2));
    CHECK_OK(stompws_client_send(client, q, &in_t1, 1, (const uint8_t *)"c2", 2));
    CHECK_RESULT(stompws_subscription_receive(sub, 300, &message), STOMPWS_RESULT_TIMEOUT);
    CHECK_OK(stompws_transaction_commit(t1));
    CHECK_RESULT(stompws_transaction_commit(t1), STOMPWS_RESULT_INVALID_ARGUMENT);
    for (int i = 1; i <= 2; i++) {
        char expected[3] = { 'c', (char)('0' + i), 0 };
        if (CHECK_OK(stompws_subscription_receive(sub, 5000, &message)))
            CHECK(body_is(message, expected));
        if (message != UNTOUCHED(stompws_message))
            stompws_message_free(message);
        message = UNTOUCHED(stompws_message);
    }

    /* Aborted: never arrives; commit afterwards is refused. */
    if (!CHECK_OK(stompws_client_begin(client, NULL, &t2)))
        goto out;
    const char *generated = stompws_transaction_id(t2);
    CHECK(generated != NULL && generated[0] != '\0' && strcmp(generated, tx_id) != 0);
    const stompws_header in_t2 = { "transaction", generated };
    CHECK_OK(stompws_client_send(client, q, &in_t2, 1, (const uint8_t *)"a1", 2));
    CHECK_OK(stompws_transaction_abort(t2));
    CHECK_RESULT(stompws_transaction_commit(t2), STOMPWS_RESULT_INVALID_ARGUMENT);

    /* Freed without commit or abort: aborted. */
    if (CHECK_OK(stompws_client_begin(client, NULL, &t3))) {
        const stompws_header in_t3 = { "transaction", stompws_transaction_id(t3) };
        CHECK_OK(stompws_client_send(client, q, &in_t3, 1, (const uint8_t *)"a2", 2));
        stompws_transaction_free(t3);
        t3 = NULL;
    }
    /* A frame after the aborts, with a receipt: once it is in, so would they be. */
    CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0, (const uint8_t *)"end", 3));
    if (CHECK_OK(stompws_subscription_receive(sub, 5000, &message))) {
        if (!CHECK(body_is(message, "end")))
            printf("    an aborted message arrived\n");
        stompws_message_free(message);
    }
    message = UNTOUCHED(stompws_message);
    CHECK_RESULT(stompws_subscription_receive(sub, 300, &message), STOMPWS_RESULT_TIMEOUT);
out:
    stompws_transaction_free(t1);
    stompws_transaction_free(t2);
    stompws_transaction_free(t3);
    stompws_subscription_free(sub);
    stompws_client_free(client);
}

/* Subscriptions, messages and transactions outlive their client: DISCONNECTED, no crash;
 * their getters keep working. */
static void test_handles_outlive_client(void)
{
    char q[128];
    dest(q, sizeof q, "queue", "outlive");
    stompws_client *client = connect_version(NULL);
    stompws_subscription *sub = NULL;
    stompws_message *m1 = NULL, *m2 = NULL;
    stompws_transaction *t1 = NULL, *t2 = NULL;
    /* Client acks: messages of an ack:auto subscription may not be acked at all. */
    if (!client ||
        !CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL, NULL, 0,
                                           &sub)) ||
        !CHECK_OK(send_text(client, q, "one")) || !CHECK_OK(send_text(client, q, "two")) ||
        !CHECK_OK(stompws_subscription_receive(sub, 5000, &m1)) ||
        !CHECK_OK(stompws_subscription_receive(sub, 5000, &m2)) ||
        !CHECK_OK(stompws_client_begin(client, "outlive-1", &t1)) ||
        !CHECK_OK(stompws_client_begin(client, "outlive-2", &t2))) {
        stompws_client_free(client);
        goto out;
    }
    const char *id = stompws_subscription_id(sub);
    stompws_client_free(client);

    stompws_message *message = UNTOUCHED(stompws_message);
    CHECK_RESULT(stompws_subscription_receive(sub, 0, &message), STOMPWS_RESULT_DISCONNECTED);
    CHECK_RESULT(stompws_subscription_receive(sub, 100, &message), STOMPWS_RESULT_DISCONNECTED);
    CHECK(message == UNTOUCHED(stompws_message));
    CHECK_RESULT(stompws_subscription_unsubscribe(sub, NULL, 0), STOMPWS_RESULT_DISCONNECTED);
    CHECK_RESULT(stompws_message_ack(m1, NULL, 0), STOMPWS_RESULT_DISCONNECTED);
    CHECK_RESULT(stompws_message_nack(m2, NULL, 0), STOMPWS_RESULT_DISCONNECTED);
    CHECK_RESULT(stompws_transaction_commit(t1), STOMPWS_RESULT_DISCONNECTED);
    CHECK_RESULT(stompws_transaction_abort(t2), STOMPWS_RESULT_DISCONNECTED);

    CHECK_STR(stompws_subscription_id(sub), id);
    CHECK_STR(stompws_transaction_id(t1), "outlive-1");
    CHECK(body_is(m1, "one"));
    CHECK_STR(stompws_message_destination(m2), q);
    stompws_message *clone = stompws_message_clone(m2);
    CHECK(clone != NULL && body_is(clone, "two"));
    stompws_message_free(clone);
out:
    /* In an order unlike creation, on purpose. */
    stompws_transaction_free(t1);
    stompws_message_free(m1);
    stompws_subscription_free(sub);
    stompws_transaction_free(t2);
    stompws_message_free(m2);
    drain(q); /* the two unacked messages went back to the queue */
}

struct replier {
    stompws_client *client;
    const char *reply_to;
    atomic_uint calls;
    atomic_uint failures;
    atomic_uint disconnect_refused;
    stompws_message *kept; /* a clone of the first message, for after the callback */
};

/* Acks, sends (with and without a receipt) and tries to disconnect, all from inside
 * the callback. */
static void reply_and_ack(void *userdata, const stompws_message *message)
{
    struct replier *r = userdata;
    size_t len = 0;
    const uint8_t *body = stompws_message_body(message, &len);
    if (!CHECK_OK(stompws_message_ack(message, NULL, 0)))
        atomic_fetch_add(&r->failures, 1);
    if (!CHECK_OK(stompws_client_send(r->client, r->reply_to, NULL, 0, body, len)))
        atomic_fetch_add(&r->failures, 1);
    if (!CHECK_OK(stompws_client_send_with_receipt(r->client, r->reply_to, NULL, 0, body, len)))
        atomic_fetch_add(&r->failures, 1);
    if (CHECK_RESULT(stompws_client_disconnect(r->client, 100), STOMPWS_RESULT_INVALID_ARGUMENT))
        atomic_fetch_add(&r->disconnect_refused, 1);
    if (atomic_fetch_add(&r->calls, 1) == 0)
        r->kept = stompws_message_clone(message);
}

static void test_callback_calls_library(void)
{
    char q[128], replies[128];
    dest(q, sizeof q, "queue", "callback-in");
    dest(replies, sizeof replies, "queue", "callback-out");
    struct replier r;
    r.client = connect_version(NULL);
    r.reply_to = replies;
    r.kept = NULL;
    atomic_init(&r.calls, 0);
    atomic_init(&r.failures, 0);
    atomic_init(&r.disconnect_refused, 0);
    stompws_subscription *pushed = NULL, *pulled = NULL;
    stompws_message *message = NULL;
    if (!r.client ||
        !CHECK_OK(stompws_client_subscribe(r.client, replies, STOMPWS_ACK_MODE_AUTO, NULL, 0,
                                           &pulled)) ||
        !CHECK_OK(stompws_client_subscribe_callback(r.client, q,
                                                    STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL, NULL, 0,
                                                    reply_and_ack, &r, &pushed)))
        goto out;
    CHECK_OK(send_text(r.client, q, "m1"));
    CHECK_OK(send_text(r.client, q, "m2"));
    CHECK_OK(send_text(r.client, q, "m3"));
    int got[3] = { 0, 0, 0 };
    for (int i = 0; i < 6; i++) {
        if (!CHECK_OK(stompws_subscription_receive(pulled, 5000, &message)))
            break;
        size_t len = 0;
        const uint8_t *body = stompws_message_body(message, &len);
        if (len == 2 && body[0] == 'm' && body[1] >= '1' && body[1] <= '3')
            got[body[1] - '1']++;
        stompws_message_free(message);
        message = NULL;
    }
    CHECK(got[0] == 2 && got[1] == 2 && got[2] == 2);
    /* In arrival order, one at a time, hence m1 first. */
    CHECK(r.kept != NULL && body_is(r.kept, "m1"));

    /* After free returns the callback never runs again. */
    stompws_subscription_free(pushed);
    pushed = NULL;
    unsigned calls = atomic_load(&r.calls);
    CHECK(calls == 3);
    CHECK(atomic_load(&r.failures) == 0);
    CHECK(atomic_load(&r.disconnect_refused) == calls);
    CHECK_OK(send_text(r.client, q, "m4"));
    sleep_ms(200);
    CHECK(atomic_load(&r.calls) == calls);
    /* Still connected: the refused disconnects did nothing. */
    CHECK(stompws_client_is_connected(r.client));

    /* The acks went through: a new session finds only m4, unacked, on the queue. */
    stompws_subscription_free(pulled);
    pulled = NULL;
    stompws_client_free(r.client);
    r.client = connect_version(NULL);
    if (r.client &&
        CHECK_OK(stompws_client_subscribe(r.client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &pulled)) &&
        CHECK_OK(stompws_subscription_receive(pulled, 5000, &message))) {
        CHECK(body_is(message, "m4"));
        stompws_message_free(message);
        message = UNTOUCHED(stompws_message);
        CHECK_RESULT(stompws_subscription_receive(pulled, 300, &message), STOMPWS_RESULT_TIMEOUT);
        message = NULL;
    }
out:
    stompws_message_free(message);
    stompws_message_free(r.kept);
    stompws_subscription_free(pushed);
    stompws_subscription_free(pulled);
    stompws_client_free(r.client);
}

struct self_free {
    stompws_client *client;
    atomic_int freed;
    atomic_int body_ok;
};

/* Frees its own client, then keeps using the borrowed message: the free takes effect
 * only when the callback returns. */
static void free_client_inside(void *userdata, const stompws_message *message)
{
    struct self_free *s = userdata;
    if (atomic_exchange(&s->freed, 1) != 0)
        return;
    stompws_client_free(s->client);
    atomic_store(&s->body_ok, body_is(message, "free now"));
}

static void test_free_client_inside_callback(void)
{
    char q[128], probe[128];
    dest(q, sizeof q, "topic", "free-client");
    dest(probe, sizeof probe, "queue", "free-client-probe");
    struct self_free s;
    atomic_init(&s.freed, 0);
    atomic_init(&s.body_ok, 0);
    s.client = connect_version(NULL);
    stompws_subscription *pushed = NULL, *pulled = NULL;
    if (!s.client)
        return;
    if (!CHECK_OK(stompws_client_subscribe(s.client, probe, STOMPWS_ACK_MODE_AUTO, NULL, 0,
                                           &pulled)) ||
        !CHECK_OK(stompws_client_subscribe_callback(s.client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0,
                                                    free_client_inside, &s, &pushed)) ||
        !CHECK_OK(send_text(s.client, q, "free now"))) {
        stompws_subscription_free(pushed);
        stompws_subscription_free(pulled);
        stompws_client_free(s.client);
        return;
    }
    /* From here on the client belongs to the callback. */
    WAIT_UNTIL(atomic_load(&s.freed), 5000);
    CHECK(atomic_load(&s.freed));
    stompws_message *message = UNTOUCHED(stompws_message);
    stompws_result r = STOMPWS_RESULT_TIMEOUT;
    unsigned long long deadline = now_ms() + 5000;
    while (r == STOMPWS_RESULT_TIMEOUT && now_ms() < deadline)
        r = stompws_subscription_receive(pulled, 50, &message);
    CHECK_RESULT(r, STOMPWS_RESULT_DISCONNECTED);
    CHECK(message == UNTOUCHED(stompws_message));
    CHECK(atomic_load(&s.body_ok));
    stompws_subscription_free(pushed);
    stompws_subscription_free(pulled);
}

struct self_unsubscribe {
    stompws_subscription *sub;
    atomic_uint calls;
};

static void free_subscription_inside(void *userdata, const stompws_message *message)
{
    struct self_unsubscribe *s = userdata;
    (void)message;
    if (atomic_fetch_add(&s->calls, 1) == 0)
        stompws_subscription_free(s->sub); /* from inside: does not wait for itself */
}

static void test_free_subscription_inside_callback(void)
{
    char q[128];
    dest(q, sizeof q, "topic", "free-sub");
    stompws_client *client = connect_version(NULL);
    struct self_unsubscribe s = { NULL, 0 };
    atomic_init(&s.calls, 0);
    if (!client)
        return;
    const stompws_header receipt = { "receipt", "sub-ready" };
    if (CHECK_OK(stompws_client_subscribe_callback(client, q, STOMPWS_ACK_MODE_AUTO, &receipt,
                                                   1, free_subscription_inside, &s, &s.sub))) {
        /* One message, and the rest only once the callback has unsubscribed: RabbitMQ
         * answers a delivery that crosses an UNSUBSCRIBE with an ERROR ("Subscription not
         * found"), which would end the session. */
        CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0, (const uint8_t *)"1", 1));
        WAIT_UNTIL(atomic_load(&s.calls) > 0, 5000);
        sleep_ms(100); /* let the UNSUBSCRIBE go out */
        CHECK_OK(send_text(client, q, "2"));
        CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0, (const uint8_t *)"3", 1));
        sleep_ms(300);
        CHECK(atomic_load(&s.calls) == 1);
        CHECK(stompws_client_is_connected(client));
    }
    stompws_client_free(client);
}

static void test_unsubscribe(void)
{
    char q[128];
    dest(q, sizeof q, "topic", "unsubscribe");
    stompws_client *client = connect_version(NULL);
    stompws_subscription *sub = NULL;
    if (!client)
        return;
    if (CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub))) {
        const stompws_header receipt = { "receipt", "unsubscribed" };
        CHECK_OK(stompws_subscription_unsubscribe(sub, &receipt, 1));
        CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0, (const uint8_t *)"x", 1));
        stompws_message *message = UNTOUCHED(stompws_message);
        CHECK_RESULT(stompws_subscription_receive(sub, 300, &message),
                     STOMPWS_RESULT_DISCONNECTED);
        CHECK(message == UNTOUCHED(stompws_message));
    }
    stompws_subscription_free(sub);
    stompws_client_free(client);
}

/* A `receipt` among the headers of a send makes it wait for the broker's RECEIPT. */
static void test_receipt_header(void)
{
    char q[128];
    dest(q, sizeof q, "topic", "receipt");
    stompws_client *client = connect_version(NULL);
    if (!client)
        return;
    const stompws_header receipt = { "receipt", "my-receipt-1" };
    CHECK_OK(stompws_client_send(client, q, &receipt, 1, (const uint8_t *)"x", 1));
    CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0, NULL, 0));
    stompws_client_free(client);
}

/* The read-only user may not publish. ActiveMQ answers the SEND's receipt with an ERROR
 * (and would stay connected); RabbitMQ's ERROR names no receipt and it closes the
 * connection. Either way an ERROR ends the session, and close_reason keeps why. */
static void test_refused_send(void)
{
    char q[128];
    dest(q, sizeof q, "queue", "refused");
    stompws_client *client = connect_as("stompro", "stompro", NULL);
    if (!client)
        return;
    if (rabbitmq) {
        CHECK_RESULT(stompws_client_send_with_receipt(client, q, NULL, 0, (const uint8_t *)"x", 1),
                     STOMPWS_RESULT_DISCONNECTED);
        WAIT_UNTIL(!stompws_client_is_connected(client), 2000);
        CHECK(!stompws_client_is_connected(client));
        CHECK(stompws_client_close_reason(client, NULL, 0) > 0);
    } else {
        CHECK_RESULT(stompws_client_send_with_receipt(client, q, NULL, 0, (const uint8_t *)"x", 1),
                     STOMPWS_RESULT_SERVER_ERROR);
        CHECK_CONTAINS(last_error(), "not authorized");
        WAIT_UNTIL(!stompws_client_is_connected(client), 2000);
        CHECK(!stompws_client_is_connected(client));
        char reason[512] = "";
        stompws_client_close_reason(client, reason, sizeof reason);
        CHECK_CONTAINS(reason, "not authorized");
    }
    stompws_client_free(client);
}

/* 8 threads send on one client while 2 threads receive on one subscription: every
 * message arrives exactly once. */
#define SENDERS 8
#define PER_SENDER 250
#define RECEIVERS 2

struct crowd {
    stompws_client *client;
    stompws_subscription *sub;
    const char *queue;
    pthread_mutex_t lock;
    unsigned char seen[SENDERS][PER_SENDER];
    unsigned total, duplicates, strangers;
};

struct sender {
    struct crowd *crowd;
    int index;
};

static void *send_many(void *arg)
{
    struct sender *s = arg;
    for (int i = 0; i < PER_SENDER; i++) {
        char body[32];
        int len = snprintf(body, sizeof body, "%d:%d", s->index, i);
        stompws_result r =
            i == PER_SENDER - 1
                ? stompws_client_send_with_receipt(s->crowd->client, s->crowd->queue, NULL, 0,
                                                   (const uint8_t *)body, (size_t)len)
                : stompws_client_send(s->crowd->client, s->crowd->queue, NULL, 0,
                                      (const uint8_t *)body, (size_t)len);
        if (!CHECK_OK(r))
            break;
    }
    return NULL;
}

static void *receive_many(void *arg)
{
    struct crowd *c = arg;
    stompws_message *message = NULL;
    unsigned long long idle_deadline = now_ms() + 10000;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        int done = c->total + c->strangers >= SENDERS * PER_SENDER;
        pthread_mutex_unlock(&c->lock);
        if (done || now_ms() > idle_deadline)
            break;
        /* Short waits, so this thread notices when the other one took the last message. */
        stompws_result r = stompws_subscription_receive(c->sub, 100, &message);
        if (r == STOMPWS_RESULT_TIMEOUT)
            continue;
        if (!CHECK_OK(r))
            break;
        idle_deadline = now_ms() + 10000;
        size_t len = 0;
        const uint8_t *body = stompws_message_body(message, &len);
        int sender = -1, index = -1;
        char text[32];
        if (len < sizeof text) {
            memcpy(text, body, len);
            text[len] = '\0';
            if (sscanf(text, "%d:%d", &sender, &index) != 2)
                sender = -1;
        }
        pthread_mutex_lock(&c->lock);
        if (sender >= 0 && sender < SENDERS && index >= 0 && index < PER_SENDER) {
            if (c->seen[sender][index]++)
                c->duplicates++;
            else
                c->total++;
        } else {
            c->strangers++;
        }
        pthread_mutex_unlock(&c->lock);
        stompws_message_free(message);
        message = NULL;
    }
    return NULL;
}

static void test_threads_share_client(void)
{
    char q[128];
    struct crowd *c = calloc(1, sizeof *c);
    if (!CHECK(c != NULL))
        return;
    c->queue = dest(q, sizeof q, "queue", "threads");
    pthread_mutex_init(&c->lock, NULL);
    c->client = connect_version(NULL);
    pthread_t senders[SENDERS], receivers[RECEIVERS];
    struct sender args[SENDERS];
    int started_senders = 0, started_receivers = 0;
    if (!c->client ||
        !CHECK_OK(stompws_client_subscribe(c->client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &c->sub)))
        goto out;
    for (; started_receivers < RECEIVERS; started_receivers++)
        if (!CHECK(pthread_create(&receivers[started_receivers], NULL, receive_many, c) == 0))
            break;
    for (; started_senders < SENDERS; started_senders++) {
        args[started_senders].crowd = c;
        args[started_senders].index = started_senders;
        if (!CHECK(pthread_create(&senders[started_senders], NULL, send_many,
                                  &args[started_senders]) == 0))
            break;
    }
    for (int i = 0; i < started_senders; i++)
        pthread_join(senders[i], NULL);
    for (int i = 0; i < started_receivers; i++)
        pthread_join(receivers[i], NULL);
    CHECK(c->total == SENDERS * PER_SENDER);
    CHECK(c->duplicates == 0);
    CHECK(c->strangers == 0);
    if (c->total != SENDERS * PER_SENDER)
        printf("    %u of %d arrived\n", c->total, SENDERS * PER_SENDER);
out:
    stompws_subscription_free(c->sub);
    stompws_client_free(c->client);
    pthread_mutex_destroy(&c->lock);
    free(c);
    drain(q); /* after a failure, the 2000 messages must not stay in the broker */
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[2], "rabbitmq") != 0 && strcmp(argv[2], "activemq") != 0)) {
        fprintf(stderr, "usage: %s URL rabbitmq|activemq\n", argv[0]);
        return 2;
    }
    url = argv[1];
    rabbitmq = strcmp(argv[2], "rabbitmq") == 0;
    send_heartbeats = !rabbitmq;
    if (getenv("STOMPWS_LOGIN"))
        login = getenv("STOMPWS_LOGIN");
    if (getenv("STOMPWS_PASSCODE"))
        passcode = getenv("STOMPWS_PASSCODE");
    ca_file = getenv("STOMPWS_TLS_CA_FILE");
    printf("test_broker: %s (%s)\n", url, argv[2]);

    RUN(test_session);
    RUN(test_bad_login);
    RUN(test_bodies_exact);
    RUN(test_header_escapes);
    RUN(test_header_newline_on_10);
    RUN(test_out_of_range_ack_mode);
    RUN(test_receive_timeout);
    RUN(test_receive_many);
    RUN(test_ack_per_version);
    RUN(test_nack_on_10);
    RUN(test_nack);
    RUN(test_transactions);
    RUN(test_handles_outlive_client);
    RUN(test_callback_calls_library);
    RUN(test_free_client_inside_callback);
    RUN(test_free_subscription_inside_callback);
    RUN(test_unsubscribe);
    RUN(test_receipt_header);
    RUN(test_refused_send);
    RUN(test_threads_share_client);
    return check_report();
}
