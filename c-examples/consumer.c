/*
 * consumer: takes messages from a queue with client acknowledgement.
 *
 * A pull subscription: messages wait in the subscription's own queue until
 * stompws_subscription_receive takes them. Each one is acknowledged after it has been
 * handled, so a consumer that dies midway leaves the rest for the next one. It stops
 * after COUNT messages, or when none came for MILLISECONDS.
 */
#define _POSIX_C_SOURCE 200809L
#include "example.h"

int main(int argc, char **argv)
{
    struct example_options o;
    if (example_options(argc, argv, &o,
                        "Receives from DESTINATION (default /queue/stompws-example) and acks\n"
                        "each message; stops after COUNT messages (default 0: no limit) or when\n"
                        "none arrived for MILLISECONDS (default 5000). Exits 1 if fewer than\n"
                        "COUNT arrived.",
                        "/queue/stompws-example", 0, 5000) != 0)
        return 2;

    int status = 1;
    stompws_config *config = NULL;
    stompws_client *client = NULL;
    stompws_subscription *subscription = NULL;
    stompws_message *message = NULL;
    unsigned long received = 0;
    stompws_result r;

    if (example_config(&o, &config) != STOMPWS_RESULT_OK)
        goto out;
    r = stompws_client_connect(o.url, config, &client);
    if (r != STOMPWS_RESULT_OK) {
        example_fail(o.url, r);
        goto out;
    }

    /* The broker would otherwise push the whole queue ahead of our acks: bound what it
     * sends unacknowledged. Each broker reads its own header and ignores the other's. */
    const stompws_header subscribe_headers[] = {
        { "prefetch-count", "100" },        /* RabbitMQ */
        { "activemq.prefetchSize", "100" }, /* ActiveMQ */
    };
    r = stompws_client_subscribe(client, o.destination, STOMPWS_ACK_MODE_CLIENT,
                                 subscribe_headers, 2, &subscription);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("subscribe", r);
        goto out;
    }

    while (o.count == 0 || received < o.count) {
        r = stompws_subscription_receive(subscription, (uint32_t)o.timeout_ms, &message);
        if (r == STOMPWS_RESULT_TIMEOUT)
            break;
        if (r != STOMPWS_RESULT_OK) {
            example_fail("receive", r);
            goto out;
        }
        received++;
        example_print_body("received: ", message);

        /* The last ack asks for a receipt, so the broker has recorded every ack before
         * we disconnect. */
        const stompws_header receipt[] = { { "receipt", "last-ack" } };
        int last = o.count != 0 && received == o.count;
        r = stompws_message_ack(message, last ? receipt : NULL, last ? 1 : 0);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("ack", r);
            goto out;
        }
        stompws_message_free(message);
        message = NULL;
    }
    printf("received %lu messages from %s\n", received, o.destination);
    status = o.count == 0 || received == o.count ? 0 : 1;

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
    return status;
}
