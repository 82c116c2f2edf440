/*
 * TLS from C: wss:// and ssl:// work when the broker's CA is trusted, fail with
 * STOMPWS_RESULT_TLS when it is not, and work unchecked only when asked for.
 *
 * Usage: test_tls CA_FILE URL...   (e.g. the test brokers' wss://localhost:15673/ws,
 *                                   ssl://localhost:61614, ssl://localhost:61625)
 * Login from $STOMPWS_LOGIN/$STOMPWS_PASSCODE, default guest/guest.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <unistd.h>

static const char *ca_file;
static const char *login = "guest", *passcode = "guest";
static const char *current_url;


/* trust: 0 nothing extra, 1 the CA file, 2 no verification at all. */
static stompws_result connect_tls(int trust, stompws_client **client)
{
    stompws_config *config = stompws_config_new();
    CHECK_OK(stompws_config_set_login(config, login, passcode));
    CHECK_OK(stompws_config_set_connect_timeout(config, 10000));
    if (trust == 1)
        CHECK_OK(stompws_config_set_tls_ca_file(config, ca_file));
    if (trust == 2)
        CHECK_OK(stompws_config_set_tls_insecure(config, true));
    stompws_result r = stompws_client_connect(current_url, config, client);
    stompws_config_free(config);
    return r;
}

/* With the CA: connect, and a body that is not text goes out and comes back exact. */
static void test_trusted_ca(void)
{
    static const uint8_t body[] = { 'a', 0, 'b', 0xff, 0xfe, 0 };
    char q[128];
    snprintf(q, sizeof q, "/queue/stompws-c-%ld-tls", (long)getpid());
    stompws_client *client = NULL;
    stompws_subscription *sub = NULL;
    stompws_message *message = NULL;
    if (!CHECK_OK(connect_tls(1, &client)))
        return;
    CHECK(stompws_client_is_connected(client));
    if (CHECK_OK(stompws_client_subscribe(client, q, STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub)) &&
        CHECK_OK(stompws_client_send_with_receipt(client, q, NULL, 0, body, sizeof body)) &&
        CHECK_OK(stompws_subscription_receive(sub, 5000, &message))) {
        size_t len = 0;
        const uint8_t *got = stompws_message_body(message, &len);
        CHECK(len == sizeof body && memcmp(got, body, len) == 0);
    }
    stompws_message_free(message);
    stompws_subscription_free(sub);
    CHECK_OK(stompws_client_disconnect(client, 5000));
    stompws_client_free(client);
}

/* Without it the certificate cannot be verified: TLS, with a detail saying why. */
static void test_untrusted_ca(void)
{
    stompws_client *client = UNTOUCHED(stompws_client);
    CHECK_RESULT(connect_tls(0, &client), STOMPWS_RESULT_TLS);
    CHECK(last_error()[0] != '\0');
    CHECK(client == UNTOUCHED(stompws_client));
}

/* Verification off, on request only. */
static void test_insecure(void)
{
    stompws_client *client = NULL;
    if (CHECK_OK(connect_tls(2, &client)))
        CHECK_OK(stompws_client_disconnect(client, 5000));
    stompws_client_free(client);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CA_FILE URL...\n", argv[0]);
        return 2;
    }
    ca_file = argv[1];
    if (getenv("STOMPWS_LOGIN"))
        login = getenv("STOMPWS_LOGIN");
    if (getenv("STOMPWS_PASSCODE"))
        passcode = getenv("STOMPWS_PASSCODE");
    for (int i = 2; i < argc; i++) {
        current_url = argv[i];
        printf("test_tls: %s\n", current_url);
        RUN(test_trusted_ca);
        RUN(test_untrusted_ca);
        RUN(test_insecure);
    }
    return check_report();
}
