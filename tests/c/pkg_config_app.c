/*
 * A program from outside the source tree, built only with what pkg-config says
 * (tests/c_api.rs builds it against an installed prefix, shared and static).
 *
 * Usage: pkg_config_app [URL]   prints the version; with a URL also connects as
 *                               guest/guest and disconnects.
 */
#include <stdio.h>

#include <stompws.h>

int main(int argc, char **argv)
{
    printf("stompws %s\n", stompws_version());
    if (argc < 2)
        return 0;

    stompws_config *config = stompws_config_new();
    stompws_client *client = NULL;
    stompws_result r = stompws_config_set_login(config, "guest", "guest");
    if (r == STOMPWS_RESULT_OK)
        r = stompws_client_connect(argv[1], config, &client);
    if (r == STOMPWS_RESULT_OK) {
        printf("connected (STOMP %s)\n", stompws_client_version(client));
        r = stompws_client_disconnect(client, 5000);
    }
    if (r != STOMPWS_RESULT_OK) {
        char detail[256] = "";
        stompws_last_error(detail, sizeof detail);
        fprintf(stderr, "%s: %s\n", stompws_result_str(r), detail);
    }
    stompws_client_free(client);
    stompws_config_free(config);
    return r == STOMPWS_RESULT_OK ? 0 : 1;
}
