/*
 * What every example needs and none of them is about: reading the command line and
 * the environment, building the configuration, and reporting a failed call.
 *
 * Each example includes this file first, after defining _POSIX_C_SOURCE (for getopt
 * and clock_gettime, which strict -std=c11 hides).
 */
#ifndef STOMPWS_EXAMPLE_H
#define STOMPWS_EXAMPLE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stompws.h>

/* The local RabbitMQ of the project's test brokers (tests/brokers/rabbitmq.sh). */
#define EXAMPLE_DEFAULT_URL "ws://127.0.0.1:15674/ws"

struct example_options {
    const char *url;
    const char *login;
    const char *passcode;
    const char *destination;
    const char *ca_file;      /* for wss:// and ssl:// with a private CA */
    unsigned long count;      /* -n: how many messages */
    unsigned long timeout_ms; /* -t: how long to wait */
};

/* Reports a failed call. Call it right after the failure: the next fallible stompws
 * call on this thread replaces the error detail. */
static inline void example_fail(const char *what, stompws_result result)
{
    char detail[512] = "";
    stompws_last_error(detail, sizeof detail);
    fprintf(stderr, "%s: %s%s%s\n", what, stompws_result_str(result), detail[0] ? ": " : "",
            detail);
}

static inline const char *example_env(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value && value[0] ? value : fallback;
}

static inline int example_number(const char *text, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long value = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-')
        return -1;
    *out = value;
    return 0;
}

/* Fills *o from the environment, then from the options -u -l -p -d -n -t -c. `usage`
 * describes the program; the defaults given apply when neither sets a value.
 * `operands` names what may follow the options in the usage line (e.g. "[URL...]"); NULL
 * allows none. *first_operand (may be NULL when operands is NULL) gets the index in argv
 * of the first one (argc when none came). Returns 0, or -1 after printing the usage. */
static inline int example_options_operands(int argc, char **argv, struct example_options *o,
                                           const char *usage, const char *destination,
                                           unsigned long count, unsigned long timeout_ms,
                                           const char *operands, int *first_operand)
{
    o->url = example_env("STOMPWS_URL", EXAMPLE_DEFAULT_URL);
    o->login = example_env("STOMPWS_LOGIN", "guest");
    o->passcode = example_env("STOMPWS_PASSCODE", "guest");
    o->ca_file = example_env("STOMPWS_TLS_CA_FILE", NULL);
    o->destination = destination;
    o->count = count;
    o->timeout_ms = timeout_ms;

    int opt;
    while ((opt = getopt(argc, argv, "u:l:p:d:n:t:c:h")) != -1) {
        switch (opt) {
        case 'u': o->url = optarg; break;
        case 'l': o->login = optarg; break;
        case 'p': o->passcode = optarg; break;
        case 'd': o->destination = optarg; break;
        case 'c': o->ca_file = optarg; break;
        case 'n':
            if (example_number(optarg, &o->count) == 0)
                break;
            goto bad;
        case 't':
            if (example_number(optarg, &o->timeout_ms) == 0 && o->timeout_ms <= UINT32_MAX)
                break;
            goto bad;
        default:
            goto bad;
        }
    }
    if (optind == argc || operands) {
        if (first_operand)
            *first_operand = optind;
        return 0;
    }
bad:
    fprintf(stderr,
            "usage: %s [-u URL] [-l LOGIN] [-p PASSCODE] [-c CA_FILE] [-d DESTINATION] "
            "[-n COUNT] [-t MILLISECONDS]%s%s\n%s\n"
            "URL, LOGIN, PASSCODE and CA_FILE default to $STOMPWS_URL, $STOMPWS_LOGIN,\n"
            "$STOMPWS_PASSCODE and $STOMPWS_TLS_CA_FILE, else %s as guest/guest.\n",
            argv[0], operands ? " " : "", operands ? operands : "", usage, EXAMPLE_DEFAULT_URL);
    return -1;
}

/* example_options_operands for a program that takes nothing after its options. */
static inline int example_options(int argc, char **argv, struct example_options *o,
                                  const char *usage, const char *destination,
                                  unsigned long count, unsigned long timeout_ms)
{
    return example_options_operands(argc, argv, o, usage, destination, count, timeout_ms, NULL,
                                    NULL);
}

/* A configuration with the login and, if one was given, the CA file. The caller frees it
 * with stompws_config_free; on failure *out is NULL and the error has been reported. */
static inline stompws_result example_config(const struct example_options *o, stompws_config **out)
{
    stompws_result r = STOMPWS_RESULT_OK;
    stompws_config *config = stompws_config_new();
    *out = NULL;
    if (!config) {
        fprintf(stderr, "stompws_config_new: out of memory\n");
        return STOMPWS_RESULT_PANIC;
    }
    r = stompws_config_set_login(config, o->login, o->passcode);
    if (r != STOMPWS_RESULT_OK) {
        example_fail("stompws_config_set_login", r);
        goto fail;
    }
    if (o->ca_file) {
        r = stompws_config_set_tls_ca_file(config, o->ca_file);
        if (r != STOMPWS_RESULT_OK) {
            example_fail("stompws_config_set_tls_ca_file", r);
            goto fail;
        }
    }
    *out = config;
    return STOMPWS_RESULT_OK;
fail:
    stompws_config_free(config);
    return r;
}

/* Milliseconds on a clock that does not jump, for deadlines. */
static inline unsigned long long example_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000u + (unsigned long long)ts.tv_nsec / 1000000u;
}

static inline void example_sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000u, (long)(ms % 1000u) * 1000000L };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* Writes a body (which may hold NUL bytes and need not be text) followed by a newline. */
static inline void example_print_body(const char *prefix, const stompws_message *message)
{
    size_t len = 0;
    const uint8_t *body = stompws_message_body(message, &len);
    fputs(prefix, stdout);
    fwrite(body, 1, len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

#endif /* STOMPWS_EXAMPLE_H */
