/*
 * producer: sends COUNT text messages to a queue.
 *
 * stompws_client_send returns once the frame is queued for the socket, not when the
 * broker has it. Brokers handle a connection's frames in order, so one receipt on the
 * last message confirms the whole batch: that one goes with
 * stompws_client_send_with_receipt.
 */
#define _POSIX_C_SOURCE 200809L
#include "example.h"

int main(int argc, char **argv)
{
    struct example_options o;
    if (example_options(argc, argv, &o,
                        "Sends COUNT (default 10) messages to DESTINATION (default\n"
                        "/queue/stompws-example); the broker has confirmed them all when it exits 0.",
                        "/queue/stompws-example", 10, 0) != 0)
        return 2;

    int status = 1;
    stompws_config *config = NULL;
    stompws_client *client = NULL;
    stompws_result r;
    const stompws_header headers[] = { { "content-type", "text/plain" } };

    if (example_config(&o, &config) != STOMPWS_RESULT_OK)
        goto out;
    r = stompws_client_connect(o.url, config, &client);
    if (r != STOMPWS_RESULT_OK) {
        example_fail(o.url, r);
        goto out;
    }

    for (unsigned long i = 1; i <= o.count; i++) {
        char body[64];
        int len = snprintf(body, sizeof body, "message %lu of %lu", i, o.count);
        if (i < o.count)
            r = stompws_client_send(client, o.destination, headers, 1, (const uint8_t *)body,
                                    (size_t)len);
        else
            r = stompws_client_send_with_receipt(client, o.destination, headers, 1,
                                                 (const uint8_t *)body, (size_t)len);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("send", r);
            goto out;
        }
    }
    printf("sent %lu messages to %s\n", o.count, o.destination);
    status = 0;

out:
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
