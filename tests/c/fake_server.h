/*
 * A scripted peer on 127.0.0.1, for the tests that must not need a broker: a peer that
 * never answers, a refused WebSocket upgrade, an ERROR frame at CONNECT, a session that
 * is cut. It is deliberately dumb; the real protocol is tested against real brokers in
 * test_broker.c.
 *
 * Two ways to use it:
 * - one connection: set accept, reply, hold_ms, answer_disconnect (below);
 * - several connections, one after the other (a client that reconnects): point scripts
 *   at an array of struct fake_script and set script_count. Connection i follows
 *   scripts[i]; fake_cut() closes the connection being served, like a broker going away.
 */
#ifndef STOMPWS_FAKE_SERVER_H
#define STOMPWS_FAKE_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

#define FAKE_MAX_STEPS 4
#define FAKE_BUFFER 16384

/* What the server does after its reply: wait until the connection has sent a whole
 * frame containing `expect` (after the frame the previous step matched), then send
 * `send` (a frame as text; its terminating NUL is sent too; NULL sends nothing). */
struct fake_step {
    const char *expect;
    const char *send;
};

/* One connection of a multi-connection server. */
struct fake_script {
    /* set by the test before fake_start */
    const char *reply;     /* sent, with its NUL, once the first frame (CONNECT) is in */
    struct fake_step steps[FAKE_MAX_STEPS]; /* then these, in order; unused ones are { 0 } */
    unsigned hold_ms;      /* then keep the connection this long at most, or until fake_cut... */
    int answer_disconnect; /* ...or until a DISCONNECT, answered with its RECEIPT */

    /* set by the server thread; read them after fake_stop (the thread has ended) */
    char received[FAKE_BUFFER]; /* what the client sent on this connection, NUL-terminated */
    size_t received_len;
    int steps_done;             /* how many steps matched */
};

struct fake_server {
    /* set by the test before fake_start */
    int accept;         /* 0: listen only; the kernel still completes the TCP handshake */
    const char *reply;  /* sent once the request is in (a NUL for STOMP, a blank line for HTTP) */
    size_t reply_len;   /* 0: strlen(reply) + 1, i.e. the frame's NUL included */
    unsigned hold_ms;   /* then keep the connection this long at most... */
    int answer_disconnect; /* ...or until a DISCONNECT, answered with its RECEIPT */

    /* set by fake_start / the server thread */
    int listen_fd;
    unsigned short port;
    pthread_t thread;
    int started;
    char received[16384]; /* what the client sent (binary; NUL-terminated when read) */
    size_t received_len;
    atomic_int closed;    /* the server has closed the connection */
    atomic_int stop;      /* set by fake_stop: give up waiting */

    /* several connections instead (then accept, reply... above are not used) */
    struct fake_script *scripts; /* set by the test; served in order, one per connection */
    size_t script_count;
    atomic_int accepted;         /* connections accepted so far */
    atomic_int cut;              /* set by fake_cut, cleared when the server acts on it */
};

static inline const char *fake_find(const char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n <= len && i <= len - n; i++)
        if (memcmp(buf + i, needle, n) == 0)
            return buf + i;
    return NULL;
}

/* The bytes received so far hold a whole request: a STOMP frame or the HTTP head. */
static inline int fake_request_complete(const struct fake_server *f)
{
    return memchr(f->received, '\0', f->received_len) != NULL ||
           fake_find(f->received, f->received_len, "\r\n\r\n") != NULL;
}

/* Reads what is available on fd into received (of `size` bytes, kept NUL-terminated;
 * what does not fit is dropped); 0 once the client closed or failed. */
static inline int fake_read_into(char *received, size_t size, size_t *len, int fd,
                                 int timeout_ms)
{
    struct pollfd p = { fd, POLLIN, 0 };
    if (poll(&p, 1, timeout_ms) <= 0)
        return 1;
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
        return 0;
    size_t room = size - 1 - *len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(received + *len, buf, take);
    *len += take;
    received[*len] = '\0';
    return 1;
}

/* Reads what is available into f->received; 0 once the client closed or failed. */
static inline int fake_read(struct fake_server *f, int fd, int timeout_ms)
{
    return fake_read_into(f->received, sizeof f->received, &f->received_len, fd, timeout_ms);
}

static inline void fake_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        /* MSG_NOSIGNAL: a client that already left must not kill the test with SIGPIPE. */
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

/* If a whole DISCONNECT frame is in received[0..len), answers it with the RECEIPT it asks
 * for. */
static inline int fake_answer_disconnect_in(const char *received, size_t len, int fd)
{
    const char *end = received + len;
    const char *d = fake_find(received, len, "DISCONNECT\n");
    if (!d || !memchr(d, '\0', (size_t)(end - d)))
        return 0;
    const char *r = fake_find(d, (size_t)(end - d), "\nreceipt:");
    if (r) {
        r += strlen("\nreceipt:");
        size_t id_len = strcspn(r, "\n");
        char frame[512];
        int len = snprintf(frame, sizeof frame, "RECEIPT\nreceipt-id:%.*s\n\n", (int)id_len, r);
        if (len > 0 && (size_t)len < sizeof frame)
            fake_send(fd, frame, (size_t)len + 1); /* + the NUL ending the frame */
    }
    return 1;
}

/* If a whole DISCONNECT frame arrived, answers it with the RECEIPT it asks for. */
static inline int fake_answer_disconnect(const struct fake_server *f, int fd)
{
    return fake_answer_disconnect_in(f->received, f->received_len, fd);
}

static inline void *fake_run(void *arg)
{
    struct fake_server *f = arg;
    struct pollfd p = { f->listen_fd, POLLIN, 0 };
    if (poll(&p, 1, 10000) <= 0)
        goto out;
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0)
        goto out;
    unsigned long long deadline = now_ms() + 10000;
    while (!fake_request_complete(f) && now_ms() < deadline && !atomic_load(&f->stop))
        if (!fake_read(f, fd, 100))
            goto done;
    if (f->reply)
        fake_send(fd, f->reply, f->reply_len ? f->reply_len : strlen(f->reply) + 1);
    deadline = now_ms() + f->hold_ms;
    while (now_ms() < deadline && !atomic_load(&f->stop)) {
        if (!fake_read(f, fd, 20))
            break;
        if (f->answer_disconnect && fake_answer_disconnect(f, fd))
            break;
    }
done:
    close(fd);
out:
    atomic_store(&f->closed, 1);
    return NULL;
}

/* The server should drop the current connection now (fake_cut) or give up (fake_stop). */
static inline int fake_interrupted(struct fake_server *f)
{
    return atomic_load(&f->stop) || atomic_exchange(&f->cut, 0);
}

/* Serves one connection by its script; returns when the connection should close. */
static inline void fake_serve_script(struct fake_server *f, struct fake_script *s, int fd)
{
    char *buf = s->received;
    const size_t size = sizeof s->received;
    unsigned long long deadline = now_ms() + 10000;
    /* The first whole frame is the client's CONNECT (or STOMP). */
    while (!memchr(buf, '\0', s->received_len)) {
        if (now_ms() >= deadline || fake_interrupted(f) ||
            !fake_read_into(buf, size, &s->received_len, fd, 20))
            return;
    }
    if (s->reply)
        fake_send(fd, s->reply, strlen(s->reply) + 1);
    /* Where the next step looks from: just past the frame the last match was in. */
    size_t scan = (size_t)((const char *)memchr(buf, '\0', s->received_len) - buf) + 1;
    for (int i = 0; i < FAKE_MAX_STEPS && (s->steps[i].expect || s->steps[i].send); i++) {
        const struct fake_step *step = &s->steps[i];
        if (step->expect) {
            deadline = now_ms() + 10000;
            for (;;) {
                const char *hit =
                    fake_find(buf + scan, s->received_len - scan, step->expect);
                const char *nul =
                    hit ? memchr(hit, '\0', (size_t)(buf + s->received_len - hit)) : NULL;
                if (nul) {
                    scan = (size_t)(nul - buf) + 1;
                    break;
                }
                if (now_ms() >= deadline || fake_interrupted(f) ||
                    !fake_read_into(buf, size, &s->received_len, fd, 20))
                    return;
            }
        }
        if (step->send)
            fake_send(fd, step->send, strlen(step->send) + 1);
        s->steps_done = i + 1;
    }
    deadline = now_ms() + s->hold_ms;
    while (now_ms() < deadline && !fake_interrupted(f)) {
        if (!fake_read_into(buf, size, &s->received_len, fd, 20))
            break;
        if (s->answer_disconnect && fake_answer_disconnect_in(buf, s->received_len, fd))
            break;
    }
}

/* The server thread with scripts: accepts connections one after the other. */
static inline void *fake_run_scripts(void *arg)
{
    struct fake_server *f = arg;
    for (size_t i = 0; i < f->script_count && !atomic_load(&f->stop); i++) {
        struct pollfd p = { f->listen_fd, POLLIN, 0 };
        if (poll(&p, 1, 10000) <= 0 || atomic_load(&f->stop))
            break;
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0)
            break;
        atomic_store(&f->cut, 0); /* a cut asked for before this connection is not for it */
        atomic_fetch_add(&f->accepted, 1);
        fake_serve_script(f, &f->scripts[i], fd);
        /* A FIN, as a broker that goes away cleanly sends (an RST if data is unread). */
        shutdown(fd, SHUT_RDWR);
        close(fd);
    }
    atomic_store(&f->closed, 1);
    return NULL;
}

/* Closes the connection being served at once, as a broker that stops does; the server
 * then waits for the next connection of its scripts. */
static inline void fake_cut(struct fake_server *f)
{
    atomic_store(&f->cut, 1);
}

/* Listens on a free port of 127.0.0.1 and, if f->accept, serves one connection; with
 * f->scripts, serves f->script_count connections instead. */
static inline int fake_start(struct fake_server *f)
{
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->received_len = 0;
    f->received[0] = '\0';
    atomic_init(&f->closed, 0);
    atomic_init(&f->stop, 0);
    atomic_init(&f->accepted, 0);
    atomic_init(&f->cut, 0);
    for (size_t i = 0; f->scripts && i < f->script_count; i++) {
        f->scripts[i].received_len = 0;
        f->scripts[i].received[0] = '\0';
        f->scripts[i].steps_done = 0;
    }
    f->started = 0;
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(f->listen_fd, 4) != 0 ||
        getsockname(f->listen_fd, (struct sockaddr *)&addr, &addr_len) != 0) {
        perror("fake server");
        if (f->listen_fd >= 0)
            close(f->listen_fd);
        return -1;
    }
    f->port = ntohs(addr.sin_port);
    if (f->accept || f->scripts) {
        if (pthread_create(&f->thread, NULL, f->scripts ? fake_run_scripts : fake_run, f) != 0) {
            close(f->listen_fd);
            return -1;
        }
        f->started = 1;
    }
    return 0;
}

/* Ends the server: at once if it still waits for a connection or a request, else once
 * it has finished with the connection (bounded by hold_ms). */
static inline void fake_stop(struct fake_server *f)
{
    /* shutdown() wakes a poll() on a listening socket; the flag ends the read loops. */
    atomic_store(&f->stop, 1);
    shutdown(f->listen_fd, SHUT_RDWR);
    if (f->started)
        pthread_join(f->thread, NULL);
    f->started = 0;
    close(f->listen_fd);
}

/* scheme://127.0.0.1:PORT[/ws] for this server. */
static inline const char *fake_url(const struct fake_server *f, const char *scheme)
{
    static char url[64];
    snprintf(url, sizeof url, "%s://127.0.0.1:%u%s", scheme, (unsigned)f->port,
             strcmp(scheme, "ws") == 0 ? "/ws" : "");
    return url;
}

#endif /* STOMPWS_FAKE_SERVER_H */
