/*
 * transaction: frames sent in a transaction reach the queue only when it commits.
 *
 * Two messages are sent in a transaction that commits, one in a transaction that
 * aborts; a subscription on the queue then shows that exactly the two committed ones
 * arrive, and nothing arrives before the commit.
 */
#define _POSIX_C_SOURCE 200809L
#include "example.h"

/* Sends `text` to the queue inside `transaction`. */
static stompws_result send_in(stompws_client *client, const char *destination,
                              stompws_transaction *transaction, const char *text)
{
    const stompws_header headers[] = { { "transaction", stompws_transaction_id(transaction) } };
    stompws_result r = stompws_client_send(client, destination, headers, 1,
                                           (const uint8_t *)text, strlen(text));
    if (r != STOMPWS_RESULT_OK)
        example_fail("send", r);
    return r;
}

int main(int argc, char **argv)
{
    struct example_options o;
    if (example_options(argc, argv, &o,
                        "Commits two messages to DESTINATION (default /queue/stompws-transaction),\n"
                        "aborts a third, and checks that only the committed two arrive within\n"
                        "MILLISECONDS (default 1000) of each other.",
                        "/queue/stompws-transaction", 0, 1000) != 0)
        return 2;

    int status = 1;
    stompws_config *config = NULL;
    stompws_client *client = NULL;
    stompws_subscription *subscription = NULL;
    stompws_transaction *committed = NULL, *aborted = NULL;
    stompws_message *message = NULL;
    unsigned long arrived = 0, unexpected = 0;
    stompws_result r;

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

    r = stompws_client_begin(client, NULL, &committed);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("begin", r);
        goto out;
    }
    if (send_in(client, o.destination, committed, "committed 1") != STOMPWS_RESULT_OK ||
        send_in(client, o.destination, committed, "committed 2") != STOMPWS_RESULT_OK)
        goto out;

    /* Nothing may arrive while the transaction is open. */
    r = stompws_subscription_receive(subscription, (uint32_t)o.timeout_ms, &message);
    if (r == STOMPWS_RESULT_OK) {
        example_print_body("arrived before the commit: ", message);
        goto out;
    }
    if (r != STOMPWS_RESULT_TIMEOUT) {
        example_fail("receive", r);
        goto out;
    }

    /* Commit and abort wait for the broker's receipt. */
    r = stompws_transaction_commit(committed);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("commit", r);
        goto out;
    }
    printf("committed %s\n", stompws_transaction_id(committed));

    r = stompws_client_begin(client, "stompws-example-aborted", &aborted);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("begin", r);
        goto out;
    }
    if (send_in(client, o.destination, aborted, "aborted") != STOMPWS_RESULT_OK)
        goto out;
    r = stompws_transaction_abort(aborted);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("abort", r);
        goto out;
    }
    printf("aborted %s\n", stompws_transaction_id(aborted));

    while ((r = stompws_subscription_receive(subscription, (uint32_t)o.timeout_ms, &message)) ==
           STOMPWS_RESULT_OK) {
        size_t len;
        const uint8_t *body = stompws_message_body(message, &len);
        example_print_body("received: ", message);
        if (len == 11 && memcmp(body, "committed ", 10) == 0)
            arrived++;
        else
            unexpected++;
        stompws_message_free(message);
        message = NULL;
    }
    if (r != STOMPWS_RESULT_TIMEOUT) {
        example_fail("receive", r);
        goto out;
    }
    if (arrived == 2 && unexpected == 0) {
        printf("only the 2 committed messages arrived\n");
        status = 0;
    } else {
        printf("expected the 2 committed messages only, got %lu committed and %lu others\n",
               arrived, unexpected);
    }

out:
    stompws_message_free(message);
    /* A transaction freed before commit or abort was tried is aborted. */
    stompws_transaction_free(committed);
    stompws_transaction_free(aborted);
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
