/*
 * binary: a body that is not text, NUL bytes included, arrives byte for byte.
 *
 * Bodies are (pointer, length) pairs both ways; the library sends content-length so
 * the broker does not stop at the first NUL, and over WebSocket it uses a binary
 * message for a frame that is not valid UTF-8.
 */
#define _POSIX_C_SOURCE 200809L
#include "example.h"

int main(int argc, char **argv)
{
    struct example_options o;
    if (example_options(argc, argv, &o,
                        "Sends every byte value 0..255, COUNT times over (default 4), to\n"
                        "DESTINATION (default /queue/stompws-binary) and checks that the same\n"
                        "bytes come back within MILLISECONDS (default 5000).",
                        "/queue/stompws-binary", 4, 5000) != 0)
        return 2;

    int status = 1;
    stompws_config *config = NULL;
    stompws_client *client = NULL;
    stompws_subscription *subscription = NULL;
    stompws_message *message = NULL;
    uint8_t *sent = NULL;
    size_t sent_len = 256 * (o.count ? o.count : 1);
    stompws_result r;

    sent = malloc(sent_len);
    if (!sent) {
        fprintf(stderr, "out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < sent_len; i++)
        sent[i] = (uint8_t)i; /* starts with a NUL, holds one NUL every 256 bytes */

    if (example_config(&o, &config) != STOMPWS_RESULT_OK)
        goto out;
    r = stompws_client_connect(o.url, config, &client);
    if (r != STOMPWS_RESULT_OK) {
        example_fail(o.url, r);
        goto out;
    }
    r = stompws_client_subscribe(client, o.destination, STOMPWS_ACK_MODE_AUTO, NULL, 0,
                                 &subscription);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("subscribe", r);
        goto out;
    }
    const stompws_header headers[] = { { "content-type", "application/octet-stream" } };
    r = stompws_client_send(client, o.destination, headers, 1, sent, sent_len);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("send", r);
        goto out;
    }
    r = stompws_subscription_receive(subscription, (uint32_t)o.timeout_ms, &message);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("receive", r);
        goto out;
    }

    size_t len = 0;
    const uint8_t *body = stompws_message_body(message, &len);
    if (len != sent_len) {
        printf("length differs: sent %zu bytes, received %zu\n", sent_len, len);
        goto out;
    }
    if (memcmp(body, sent, len) != 0) {
        printf("the %zu bytes received differ from those sent\n", len);
        goto out;
    }
    printf("%zu bytes with %zu NULs came back exactly\n", len, sent_len / 256);
    status = 0;

out:
    stompws_message_free(message);
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
    free(sent);
    return status;
}
