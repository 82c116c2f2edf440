/*
 * Built by tests/install/CMakeLists.txt against an installed stompws (find_package).
 *
 * Usage: app_c URL QUEUE   connects as guest/guest, subscribes to QUEUE, sends a message
 *                          there and prints the one it receives back.
 * Exits 0 when the message came back intact, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include <stompws.h>

static int fail(const char *what, stompws_result r)
{
    char detail[256] = "";
    stompws_last_error(detail, sizeof detail);
    fprintf(stderr, "%s: %s: %s\n", what, stompws_result_str(r), detail);
    return 1;
}

int main(int argc, char **argv)
{
    static const char text[] = "installed through CMake";
    if (argc != 3) {
        fprintf(stderr, "usage: app_c URL QUEUE\n");
        return 2;
    }
    printf("stompws %s\n", stompws_version());

    int status = 1;
    stompws_config *config = stompws_config_new();
    stompws_client *client = NULL;
    stompws_subscription *sub = NULL;
    stompws_message *msg = NULL;
    stompws_result r = stompws_config_set_login(config, "guest", "guest");
    if (r != STOMPWS_RESULT_OK) {
        fail("login", r);
        goto out;
    }
    if ((r = stompws_client_connect(argv[1], config, &client)) != STOMPWS_RESULT_OK) {
        fail("connect", r);
        goto out;
    }
    printf("connected (STOMP %s)\n", stompws_client_version(client));
    r = stompws_client_subscribe(client, argv[2], STOMPWS_ACK_MODE_AUTO, NULL, 0, &sub);
    if (r != STOMPWS_RESULT_OK) {
        fail("subscribe", r);
        goto out;
    }
    r = stompws_client_send_with_receipt(client, argv[2], NULL, 0, (const uint8_t *)text,
                                         strlen(text));
    if (r != STOMPWS_RESULT_OK) {
        fail("send", r);
        goto out;
    }
    if ((r = stompws_subscription_receive(sub, 10000, &msg)) != STOMPWS_RESULT_OK) {
        fail("receive", r);
        goto out;
    }
    size_t len = 0;
    const uint8_t *body = stompws_message_body(msg, &len);
    if (len != strlen(text) || memcmp(body, text, len) != 0) {
        fprintf(stderr, "received a different body (%zu bytes)\n", len);
        goto out;
    }
    printf("received: %s\n", (const char *)body);
    if ((r = stompws_client_disconnect(client, 5000)) != STOMPWS_RESULT_OK) {
        fail("disconnect", r);
        goto out;
    }
    status = 0;

out:
    stompws_message_free(msg);
    stompws_subscription_free(sub);
    stompws_client_free(client);
    stompws_config_free(config);
    return status;
}
