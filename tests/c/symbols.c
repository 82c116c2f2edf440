/*
 * References every function the header declares, so the linker has to find each one in
 * the library (like librdkafka's tests/0006-symbols.c). Linked once against the shared
 * library and once against the static one. tests/c_api.rs also checks that the names
 * listed here, the functions in include/stompws.h and the library's dynamic symbols are
 * the same set, so an export cannot be added without being listed here.
 *
 * Prints each name, then "N symbols" as its last line.
 */
#include <stdio.h>

#include <stompws.h>

/* Any function pointer converts to this one and back; none is called through it. */
typedef void (*any_fn)(void);

#define SYMBOL(name) { #name, (any_fn)name }

static const struct {
    const char *name;
    any_fn address;
} symbols[] = {
    SYMBOL(stompws_result_str),
    SYMBOL(stompws_last_error),
    SYMBOL(stompws_version),

    SYMBOL(stompws_config_new),
    SYMBOL(stompws_config_free),
    SYMBOL(stompws_config_set_login),
    SYMBOL(stompws_config_set_host),
    SYMBOL(stompws_config_set_heartbeat),
    SYMBOL(stompws_config_set_versions),
    SYMBOL(stompws_config_set_subprotocols),
    SYMBOL(stompws_config_set_binary_frames),
    SYMBOL(stompws_config_add_connect_header),
    SYMBOL(stompws_config_add_http_header),
    SYMBOL(stompws_config_set_connect_timeout),
    SYMBOL(stompws_config_set_receipt_timeout),
    SYMBOL(stompws_config_set_send_timeout),
    SYMBOL(stompws_config_set_heartbeat_tolerance),
    SYMBOL(stompws_config_set_max_frame_size),
    SYMBOL(stompws_config_set_queue_limit),
    SYMBOL(stompws_config_set_auto_content_length),
    SYMBOL(stompws_config_set_tls_ca_file),
    SYMBOL(stompws_config_set_tls_client_cert),
    SYMBOL(stompws_config_set_tls_insecure),
    SYMBOL(stompws_config_set_reconnect),
    SYMBOL(stompws_config_add_failover_url),
    SYMBOL(stompws_config_set_ws_message_limit),
    SYMBOL(stompws_config_set_debug),
    SYMBOL(stompws_config_set_event_callback),

    SYMBOL(stompws_client_connect),
    SYMBOL(stompws_client_version),
    SYMBOL(stompws_client_server),
    SYMBOL(stompws_client_session),
    SYMBOL(stompws_client_is_connected),
    SYMBOL(stompws_client_close_reason),
    SYMBOL(stompws_client_disconnect),
    SYMBOL(stompws_client_free),
    SYMBOL(stompws_client_send),
    SYMBOL(stompws_client_send_with_receipt),
    SYMBOL(stompws_client_subscribe),
    SYMBOL(stompws_client_subscribe_callback),
    SYMBOL(stompws_client_subscribe_unhandled),
    SYMBOL(stompws_client_unsubscribe),
    SYMBOL(stompws_client_begin),

    SYMBOL(stompws_subscription_id),
    SYMBOL(stompws_subscription_receive),
    SYMBOL(stompws_subscription_receive_many),
    SYMBOL(stompws_subscription_unsubscribe),
    SYMBOL(stompws_subscription_free),

    SYMBOL(stompws_message_command),
    SYMBOL(stompws_message_destination),
    SYMBOL(stompws_message_header),
    SYMBOL(stompws_message_header_count),
    SYMBOL(stompws_message_header_at),
    SYMBOL(stompws_message_body),
    SYMBOL(stompws_message_clone),
    SYMBOL(stompws_message_ack),
    SYMBOL(stompws_message_nack),
    SYMBOL(stompws_message_free),

    SYMBOL(stompws_transaction_id),
    SYMBOL(stompws_transaction_commit),
    SYMBOL(stompws_transaction_abort),
    SYMBOL(stompws_transaction_free),
};

int main(void)
{
    size_t count = sizeof symbols / sizeof symbols[0];
    int missing = 0;
    for (size_t i = 0; i < count; i++) {
        printf("%s\n", symbols[i].name);
        if (!symbols[i].address) {
            printf("missing: %s\n", symbols[i].name);
            missing = 1;
        }
    }
    printf("%zu symbols\n", count);
    return missing;
}
