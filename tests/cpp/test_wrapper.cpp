// The C++ wrapper (include/stompws.hpp) against a real broker: getters, bodies with NUL
// bytes, headers, receive timeouts, errors, callbacks and who owns them, exceptions in
// callbacks, transactions, message copies and moves.
//
// Usage: test_wrapper URL        (RabbitMQ, ws:// or tcp://)
// Login from $STOMPWS_LOGIN/$STOMPWS_PASSCODE (default guest/guest). Destinations carry
// the process id, so runs against the same broker do not meet. tests/cpp_api.rs builds
// it with -std=c++17 -Wall -Wextra -Werror -pedantic and runs it plainly and under
// AddressSanitizer + UndefinedBehaviorSanitizer.
#include "check.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

using namespace std::chrono_literals;
using stompws::Client;
using stompws::Config;
using stompws::Error;
using stompws::Message;
using stompws::Subscription;
using stompws::Transaction;

// What the wrapper promises about its types.
static_assert(std::is_base_of_v<std::runtime_error, Error>);
static_assert(!std::is_copy_constructible_v<Client> && !std::is_copy_assignable_v<Client>);
static_assert(std::is_nothrow_move_constructible_v<Client> &&
              std::is_nothrow_move_assignable_v<Client>);
static_assert(!std::is_copy_constructible_v<Subscription> &&
              std::is_nothrow_move_constructible_v<Subscription> &&
              std::is_nothrow_move_assignable_v<Subscription>);
static_assert(!std::is_copy_constructible_v<Transaction> &&
              std::is_nothrow_move_constructible_v<Transaction>);
static_assert(!std::is_copy_constructible_v<Config> &&
              std::is_nothrow_move_constructible_v<Config>);
static_assert(std::is_copy_constructible_v<Message> && std::is_copy_assignable_v<Message> &&
              std::is_nothrow_move_constructible_v<Message>);
static_assert(std::is_same_v<stompws::Headers,
                             std::vector<std::pair<std::string, std::string>>>);

namespace {

std::string url;
std::string login = "guest";
std::string passcode = "guest";

/// A destination of this run: /queue/stompws-cpp-PID-NAME.
std::string queue(const std::string &name)
{
    return "/queue/stompws-cpp-" + std::to_string(getpid()) + "-" + name;
}

/// The test config. No outgoing heart-beats: RabbitMQ 3.10 can drop a publishing client
/// that sends them during flow control (see tests/c/test_broker.c).
Config config()
{
    Config c;
    c.login(login, passcode).heartbeat(0, 10000);
    return c;
}

Client connect() { return Client::connect(url, config()); }

/// 1024 bytes: every byte value four times, so NULs at 0, 256, 512, 768, and bytes that
/// are not UTF-8.
std::string binary_body()
{
    std::string body(1024, '\0');
    for (size_t i = 0; i < body.size(); i++)
        body[i] = static_cast<char>(i & 0xff);
    return body;
}

/// Lines given to a debug hook, from any thread.
struct Lines {
    std::mutex mutex;
    std::vector<std::string> lines;

    void add(std::string_view line)
    {
        std::lock_guard<std::mutex> lock(mutex);
        lines.emplace_back(line);
    }
    bool any_contains(std::string_view text)
    {
        std::lock_guard<std::mutex> lock(mutex);
        for (const auto &line : lines)
            if (line.find(text) != std::string::npos)
                return true;
        return false;
    }
};

/// Events given to an event hook.
struct Events {
    std::mutex mutex;
    std::vector<std::pair<stompws_event, std::string>> events;

    void add(stompws_event event, std::string_view detail)
    {
        std::lock_guard<std::mutex> lock(mutex);
        events.emplace_back(event, std::string(detail));
    }
    size_t count(stompws_event event)
    {
        std::lock_guard<std::mutex> lock(mutex);
        size_t n = 0;
        for (const auto &e : events)
            n += e.first == event;
        return n;
    }
    std::string detail_of(stompws_event event)
    {
        std::lock_guard<std::mutex> lock(mutex);
        for (const auto &e : events)
            if (e.first == event)
                return e.second;
        return "(none)";
    }
};

/// Captured by a callback: records, when it is destroyed, whether the callback that
/// owns it was still running, and lets a test see when that happened.
struct Tracker {
    std::atomic<bool> in_call{false};
    std::atomic<int> calls{0};
    std::shared_ptr<std::atomic<int>> destroyed_during_call;
    std::shared_ptr<std::atomic<bool>> destroyed;

    Tracker()
        : destroyed_during_call(std::make_shared<std::atomic<int>>(0)),
          destroyed(std::make_shared<std::atomic<bool>>(false))
    {
    }
    ~Tracker()
    {
        if (in_call.load())
            (*destroyed_during_call)++;
        destroyed->store(true);
    }
};

// ---- tests ----

void test_errors_carry_code_and_detail()
{
    // Another scheme: refused by the library, with a detail.
    std::string what = CHECK_THROWS(Client::connect("http://127.0.0.1:15674/ws", config()),
                                    STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_CONTAINS(what, "Client::connect: ");
    CHECK_CONTAINS(what, stompws::result_str(STOMPWS_RESULT_INVALID_ARGUMENT));
    try {
        Client::connect("http://127.0.0.1:15674/ws", config());
    } catch (const Error &e) {
        CHECK(!e.detail().empty());
        CHECK_CONTAINS(std::string(e.what()), e.detail());
        const std::runtime_error &base = e; // catchable as a std::exception too
        CHECK_EQ(std::string(base.what()), std::string(e.what()));
    }

    // Nobody listens on port 1: an I/O error whose detail names the peer.
    Config refused = config();
    refused.connect_timeout(5s);
    what = CHECK_THROWS(Client::connect("tcp://127.0.0.1:1", refused), STOMPWS_RESULT_IO);
    CHECK_CONTAINS(what, stompws::result_str(STOMPWS_RESULT_IO));
    CHECK_CONTAINS(what, "127.0.0.1:1");

    // Values the library refuses throw at the setter.
    Config c;
    CHECK_THROWS(c.connect_timeout(0ms), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_THROWS(c.connect_timeout(-5ms), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_THROWS(c.reconnect(1000ms, 10ms, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_THROWS(c.versions("9.9"), STOMPWS_RESULT_INVALID_ARGUMENT);
    // A NUL byte inside a string argument cannot reach C: refused, not cut short.
    CHECK_THROWS(c.host(std::string("vhost\0x", 7)), STOMPWS_RESULT_INVALID_ARGUMENT);
    c.connect_timeout(std::chrono::seconds(3)).receipt_timeout(3s).send_timeout(3s);
}

void test_connect_and_getters()
{
    Client client = connect();
    CHECK_EQ(client.version(), std::string_view("1.2"));
    CHECK(!client.server().empty());
    CHECK_CONTAINS(client.server(), "RabbitMQ");
    CHECK(!client.session().empty());
    CHECK(client.is_connected());
    CHECK(static_cast<bool>(client));
    CHECK_EQ(client.close_reason(), std::string());
    CHECK(client.native_handle() != nullptr);
    CHECK_EQ(stompws::library_version(), std::string_view(STOMPWS_VERSION));

    client.disconnect(5s);
    CHECK(!client.is_connected());
    client.disconnect(); // again: nothing to do
    CHECK_THROWS(client.send(queue("nowhere"), "x"), STOMPWS_RESULT_DISCONNECTED);

    // STOMP 1.0 through the config; the getters still work.
    Config c10 = config();
    c10.versions("1.0");
    Client old = Client::connect(url, c10);
    CHECK_EQ(old.version(), std::string_view("1.0"));
    CHECK(!old.session().empty());

    // A subscription outlives its client: it answers, it does not crash.
    Subscription orphan = old.subscribe(queue("orphan"));
    old.reset();
    CHECK(!old);
    CHECK(!orphan.id().empty());
    CHECK_THROWS(orphan.receive(100ms), STOMPWS_RESULT_DISCONNECTED);
    CHECK_THROWS(orphan.unsubscribe(), STOMPWS_RESULT_DISCONNECTED);
}

void test_round_trip_binary_body_and_headers()
{
    const std::string q = queue("round-trip");
    Client client = connect();
    Subscription sub = client.subscribe(q);
    CHECK(!sub.id().empty());

    const std::string binary = binary_body();
    const std::string nul_inside("a\0b", 3);
    const stompws::Headers headers = {
        {"x-colon", "a:b:c"},
        {"x-newline", "line 1\nline 2"},
        {"x-backslash", "C:\\dir\\file"},
    };
    client.send(q, binary, headers);
    client.send(q, nul_inside);
    client.send(q, "");
    client.send_with_receipt(q, "text body", {{"content-type", "text/plain"}});

    std::optional<Message> m = sub.receive(5s);
    if (CHECK(m.has_value())) {
        CHECK_EQ(m->command(), std::string_view("MESSAGE"));
        CHECK_EQ(m->destination(), std::string_view(q));
        CHECK_EQ(m->body().size(), binary.size());
        CHECK(m->body() == binary);
        CHECK_EQ(m->header("x-colon").value_or("(absent)"), std::string_view("a:b:c"));
        CHECK_EQ(m->header("x-newline").value_or("(absent)"), std::string_view("line 1\nline 2"));
        CHECK_EQ(m->header("x-backslash").value_or("(absent)"), std::string_view("C:\\dir\\file"));
        CHECK_EQ(m->header("subscription").value_or("(absent)"), sub.id());
        CHECK(!m->header("no-such-header").has_value());
        CHECK(!m->header(std::string_view("x-colon\0", 8)).has_value());
        CHECK_EQ(m->header("content-length").value_or("(absent)"), std::string_view("1024"));
        // headers() walks them all: ours are among them.
        stompws::Headers ours;
        for (const auto &[name, value] : m->headers())
            if (name.substr(0, 2) == "x-")
                ours.emplace_back(name, value);
        // (RabbitMQ does not keep their order.)
        std::sort(ours.begin(), ours.end());
        stompws::Headers sent = headers;
        std::sort(sent.begin(), sent.end());
        CHECK(ours == sent);
        CHECK(m->headers().size() >= headers.size() + 3); // destination, message-id, ...
    }
    m = sub.receive(5s);
    if (CHECK(m.has_value()))
        CHECK(m->body() == nul_inside);
    m = sub.receive(5s);
    if (CHECK(m.has_value())) {
        CHECK(m->body().empty());
        CHECK(m->body().data() != nullptr); // the library's terminating NUL is there
    }
    m = sub.receive(5s);
    if (CHECK(m.has_value())) {
        CHECK_EQ(m->body(), std::string_view("text body"));
        CHECK_EQ(m->header("content-type").value_or("(absent)"), std::string_view("text/plain"));
    }
    // Headers that STOMP cannot carry or that are the library's are refused.
    CHECK_THROWS(client.send(q, "x", {{"destination", "/queue/other"}}),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_THROWS(client.send(q, "x", {{std::string("x-nul\0", 6), "v"}}),
                 STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK(client.is_connected());
}

// receive_many: the first message waited for, the rest of what is queued taken at once,
// never more than max, in order; empty on timeout.
void test_receive_many()
{
    Client client = connect();
    std::string q = queue("many");
    Subscription sub = client.subscribe(q);
    for (int i = 0; i < 5; i++)
        client.send(q, "m" + std::to_string(i));
    client.send_with_receipt(q, "m5");
    std::vector<std::string> bodies;
    long long start = check::now_ms();
    while (bodies.size() < 6 && check::now_ms() - start < 10000) {
        std::vector<Message> batch = sub.receive_many(1s, 4);
        CHECK(batch.size() <= 4);
        for (const Message &m : batch)
            bodies.emplace_back(m.body());
    }
    CHECK(bodies == std::vector<std::string>({"m0", "m1", "m2", "m3", "m4", "m5"}));
    CHECK(sub.receive_many(300ms, 4).empty());
    CHECK(sub.receive_many(0ms, 4).empty());
    CHECK_THROWS(sub.receive_many(0ms, 0), STOMPWS_RESULT_INVALID_ARGUMENT);
    sub.unsubscribe();
    CHECK_THROWS(sub.receive_many(100ms, 4), STOMPWS_RESULT_DISCONNECTED);
}

void test_receive_timeout_is_nullopt()
{
    Client client = connect();
    Subscription sub = client.subscribe(queue("timeout"));
    long long start = check::now_ms();
    std::optional<Message> m = sub.receive(300ms);
    long long took = check::now_ms() - start;
    CHECK(!m.has_value());
    CHECK(took >= 290 && took < 3000);
    CHECK(!sub.receive(0ms).has_value());
    CHECK(!sub.receive(-5ms).has_value()); // negative: do not wait
    // After unsubscribing and with nothing queued: DISCONNECTED is an error, not nullopt.
    sub.unsubscribe();
    CHECK_THROWS(sub.receive(100ms), STOMPWS_RESULT_DISCONNECTED);
    CHECK_THROWS(sub.unsubscribe(), STOMPWS_RESULT_INVALID_ARGUMENT);
}

void test_callback_subscription()
{
    const std::string q = queue("callback");
    Client client = connect();
    Client sender = connect();
    struct State {
        std::mutex mutex;
        std::vector<std::string> bodies;
        std::vector<Message> kept;
    };
    auto state = std::make_shared<State>();
    Subscription sub = client.subscribe(
        q,
        [state](const Message &m) {
            m.ack();
            std::lock_guard<std::mutex> lock(state->mutex);
            state->bodies.emplace_back(m.body());
            state->kept.push_back(m); // a copy outlives the callback's message
        },
        STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL, {{"receipt", "cpp-callback-subscribed"}});
    // A pull-only call on a push subscription.
    CHECK_THROWS(sub.receive(10ms), STOMPWS_RESULT_INVALID_ARGUMENT);
    for (int i = 0; i < 5; i++)
        sender.send(q, "callback " + std::to_string(i));
    CHECK(check::wait_until(
        [&] {
            std::lock_guard<std::mutex> lock(state->mutex);
            return state->bodies.size() >= 5;
        },
        10000));
    sub.reset();
    CHECK(!sub);
    std::lock_guard<std::mutex> lock(state->mutex);
    if (CHECK_EQ(state->bodies.size(), 5u)) {
        for (int i = 0; i < 5; i++) {
            CHECK_EQ(state->bodies[i], "callback " + std::to_string(i));
            CHECK_EQ(state->kept[i].body(), std::string_view(state->bodies[i]));
            // Acked in the callback: the copy shares that one ack.
            CHECK_THROWS(state->kept[i].ack(), STOMPWS_RESULT_INVALID_ARGUMENT);
        }
    }
    // An empty function is refused before anything is sent.
    CHECK_THROWS(client.subscribe(q, std::function<void(const Message &)>()),
                 STOMPWS_RESULT_NULL_PARAMETER);
}

void test_subscription_destroyed_inside_its_callback()
{
    const std::string q = queue("self-destroy");
    Client client = connect();
    Client sender = connect();
    auto tracker = std::make_shared<Tracker>();
    auto destroyed = tracker->destroyed;
    auto destroyed_during_call = tracker->destroyed_during_call;
    std::atomic<int> calls{0};
    std::atomic<bool> alive_after_reset{false};
    std::optional<Subscription> sub;
    std::atomic<bool> ready{false};
    sub = client.subscribe(
        q,
        [tracker, &sub, &calls, &alive_after_reset, &ready](const Message &) {
            tracker->in_call = true;
            calls++;
            if (ready.load()) {
                // Frees the subscription, its callback included, from inside it.
                sub.reset();
                // Still here: what the callback captured lives until it returns.
                alive_after_reset = !tracker->destroyed->load();
            }
            tracker->in_call = false;
        },
        STOMPWS_ACK_MODE_AUTO, {{"receipt", "cpp-self-destroy-subscribed"}});
    tracker.reset(); // only the callback holds it now
    ready = true;
    for (int i = 0; i < 3; i++)
        sender.send(q, "x");
    CHECK(check::wait_until([&] { return calls.load() >= 1; }, 10000));
    // Released once the call returned, not before, and never called again.
    CHECK(check::wait_until([&] { return destroyed->load(); }, 5000));
    CHECK(alive_after_reset.load());
    CHECK_EQ(destroyed_during_call->load(), 0);
    std::this_thread::sleep_for(300ms);
    CHECK_EQ(calls.load(), 1);
    CHECK(!sub.has_value());
    CHECK(client.is_connected());
}

void test_client_destroyed_inside_its_callback()
{
    // A message callback frees its own subscription and then its client: nothing but
    // the call in progress holds the client's hooks any more, and the library runs them
    // again after the call (DISCONNECT, the DISCONNECTED event).
    const std::string q = queue("client-destroy");
    auto tracker = std::make_shared<Tracker>();
    auto destroyed = tracker->destroyed;
    auto destroyed_during_call = tracker->destroyed_during_call;
    auto events = std::make_shared<Events>();
    auto lines = std::make_shared<Lines>();
    Config c = config();
    c.on_event([tracker, events](stompws_event event, std::string_view detail) {
         tracker->in_call = true;
         events->add(event, detail);
         tracker->in_call = false;
     }).debug([lines](std::string_view line) { lines->add(line); });
    std::optional<Client> client = Client::connect(url, c);
    c = Config(); // the hooks now live on through the client alone
    tracker.reset();
    Client sender = connect();

    std::atomic<int> calls{0};
    std::atomic<bool> freed{false};
    std::optional<Subscription> sub;
    sub = client->subscribe(
        q,
        [&client, &sub, &calls, &freed](const Message &) {
            if (calls++ == 0) {
                sub.reset();
                client.reset(); // takes effect when this returns
                freed = true;
            }
        },
        STOMPWS_ACK_MODE_AUTO, {{"receipt", "cpp-client-destroy-subscribed"}});
    sender.send(q, "first");
    sender.send(q, "second");
    CHECK(check::wait_until([&] { return freed.load(); }, 10000));
    // After the callback returned the library disconnected the client and reported it
    // through the hooks, which were still there.
    CHECK(check::wait_until([&] { return events->count(STOMPWS_EVENT_DISCONNECTED) == 1; }, 10000));
    CHECK(lines->any_contains(">>> DISCONNECT"));
    CHECK_EQ(events->count(STOMPWS_EVENT_CONNECTED), 1u);
    // Once the client's threads are gone the hooks are released.
    CHECK(check::wait_until([&] { return destroyed->load(); }, 10000));
    CHECK_EQ(destroyed_during_call->load(), 0);
    CHECK_EQ(calls.load(), 1);
    CHECK(!client.has_value() && !sub.has_value());

    // The event callback frees its client when the broker's ERROR arrives; the events
    // that follow (the loss, DISCONNECTED) still reach it.
    auto tracker2 = std::make_shared<Tracker>();
    auto destroyed2 = tracker2->destroyed;
    auto events2 = std::make_shared<Events>();
    std::atomic<bool> sent{false};
    std::atomic<bool> freed2{false};
    std::optional<Client> doomed;
    Config c2 = config();
    c2.on_event([tracker2, events2, &doomed, &sent, &freed2](stompws_event event,
                                                              std::string_view detail) {
        events2->add(event, detail);
        if (event == STOMPWS_EVENT_SERVER_ERROR && !freed2.load()) {
            // The main thread's send must have returned: a free may not race a call.
            check::wait_until([&] { return sent.load(); }, 10000);
            doomed.reset();
            freed2 = true;
            // What this call captured is still there.
            events2->add(STOMPWS_EVENT_SERVER_ERROR, tracker2->destroyed->load() ? "gone" : "kept");
        }
    });
    doomed = Client::connect(url, c2);
    c2 = Config();
    tracker2.reset();
    // RabbitMQ answers an unknown destination kind with an ERROR frame and closes.
    doomed->send("/no-such-kind/x", "x");
    sent = true;
    CHECK(check::wait_until([&] { return freed2.load(); }, 10000));
    CHECK(check::wait_until([&] { return events2->count(STOMPWS_EVENT_DISCONNECTED) == 1; }, 10000));
    CHECK(check::wait_until([&] { return destroyed2->load(); }, 10000));
    CHECK_EQ(events2->count(STOMPWS_EVENT_SERVER_ERROR), 2u);
    std::lock_guard<std::mutex> lock(events2->mutex);
    CHECK(std::find(events2->events.begin(), events2->events.end(),
                    std::make_pair(STOMPWS_EVENT_SERVER_ERROR, std::string("kept"))) !=
          events2->events.end());
}

void test_temporary_config_with_on_event()
{
    auto events = std::make_shared<Events>();
    // The Config is a temporary: gone when connect returns, its function is not.
    Client client = Client::connect(
        url, Config().login(login, passcode).heartbeat(0, 10000).on_event(
                 [events](stompws_event event, std::string_view detail) { events->add(event, detail); }));
    CHECK(check::wait_until([&] { return events->count(STOMPWS_EVENT_CONNECTED) == 1; }, 5000));
    CHECK_EQ(events->detail_of(STOMPWS_EVENT_CONNECTED), url);
    client.disconnect(5s);
    CHECK(check::wait_until([&] { return events->count(STOMPWS_EVENT_DISCONNECTED) == 1; }, 5000));

    // A config reused after connect: the first client keeps the hooks it was given.
    auto first = std::make_shared<Events>();
    auto second = std::make_shared<Events>();
    Config c = config();
    c.on_event([first](stompws_event e, std::string_view d) { first->add(e, d); });
    Client a = Client::connect(url, c);
    c.on_event([second](stompws_event e, std::string_view d) { second->add(e, d); });
    Client b = Client::connect(url, c);
    c.on_event(nullptr); // removed: a third client would get no events
    a.disconnect(5s);
    b.disconnect(5s);
    CHECK(check::wait_until([&] { return first->count(STOMPWS_EVENT_DISCONNECTED) == 1; }, 5000));
    CHECK(check::wait_until([&] { return second->count(STOMPWS_EVENT_DISCONNECTED) == 1; }, 5000));
    CHECK_EQ(first->count(STOMPWS_EVENT_CONNECTED), 1u);
    CHECK_EQ(second->count(STOMPWS_EVENT_CONNECTED), 1u);
}

void test_exceptions_in_callbacks_reach_debug_hook()
{
    const std::string q = queue("throwing");
    auto lines = std::make_shared<Lines>();
    Config c = config();
    c.debug([lines](std::string_view line) { lines->add(line); })
        .on_event([](stompws_event event, std::string_view) {
            if (event == STOMPWS_EVENT_CONNECTED)
                throw std::runtime_error("event hook says no");
        });
    Client client = Client::connect(url, c);
    Client sender = connect();
    std::atomic<int> calls{0};
    Subscription sub = client.subscribe(
        q,
        [&calls](const Message &m) {
            int n = ++calls;
            if (m.body() == "std")
                throw std::runtime_error("boom from callback " + std::to_string(n));
            if (m.body() == "other")
                throw 42;
        },
        STOMPWS_ACK_MODE_AUTO, {{"receipt", "cpp-throwing-subscribed"}});
    sender.send(q, "std");
    sender.send(q, "other");
    sender.send(q, "fine");
    // The subscription went on after both exceptions.
    CHECK(check::wait_until([&] { return calls.load() == 3; }, 10000));
    CHECK(check::wait_until([&] { return lines->any_contains("boom from callback 1"); }, 5000));
    CHECK(lines->any_contains("stompws.hpp: a message callback threw: boom from callback 1"));
    CHECK(lines->any_contains("not derived from std::exception"));
    CHECK(lines->any_contains("stompws.hpp: the event callback threw: event hook says no"));
    CHECK(client.is_connected());
    // The session is fine: a round trip still works.
    Subscription pull = client.subscribe(queue("throwing-after"));
    client.send(queue("throwing-after"), "still here");
    auto m = pull.receive(5s);
    if (CHECK(m.has_value()))
        CHECK_EQ(m->body(), std::string_view("still here"));

    // Without a debug hook the exception is dropped, and nothing else happens.
    const std::string quiet_q = queue("throwing-quiet");
    Client quiet = connect();
    std::atomic<int> quiet_calls{0};
    Subscription s2 = quiet.subscribe(
        quiet_q,
        [&quiet_calls](const Message &) {
            quiet_calls++;
            throw std::logic_error("nobody listens");
        },
        STOMPWS_ACK_MODE_AUTO, {{"receipt", "cpp-quiet-subscribed"}});
    sender.send(quiet_q, "a");
    sender.send(quiet_q, "b");
    CHECK(check::wait_until([&] { return quiet_calls.load() == 2; }, 10000));
    CHECK(quiet.is_connected());
}

void test_transactions()
{
    const std::string q = queue("tx");
    Client client = connect();
    Subscription sub = client.subscribe(q);

    Transaction committed = client.begin();
    CHECK(!committed.id().empty());
    client.send(q, "committed", {{"transaction", std::string(committed.id())}});
    CHECK(!sub.receive(300ms).has_value()); // not before the commit
    committed.commit();
    auto m = sub.receive(5s);
    if (CHECK(m.has_value()))
        CHECK_EQ(m->body(), std::string_view("committed"));
    CHECK_THROWS(committed.commit(), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_THROWS(committed.abort(), STOMPWS_RESULT_INVALID_ARGUMENT);

    Transaction aborted = client.begin("cpp-tx-" + std::to_string(getpid()));
    CHECK_EQ(aborted.id(), "cpp-tx-" + std::to_string(getpid()));
    client.send(q, "aborted", {{"transaction", std::string(aborted.id())}});
    aborted.abort();

    {
        Transaction dropped = client.begin();
        client.send(q, "dropped", {{"transaction", std::string(dropped.id())}});
        // The destructor aborts it.
    }
    // A later frame with a receipt: the broker has handled everything before it.
    client.send_with_receipt(q, "marker");
    m = sub.receive(5s);
    if (CHECK(m.has_value()))
        CHECK_EQ(m->body(), std::string_view("marker"));
    CHECK(!sub.receive(500ms).has_value());

    // Moving a transaction moves the obligation: only one ABORT, from the new owner.
    Transaction moved_from = client.begin();
    Transaction owner = std::move(moved_from);
    CHECK(moved_from.id().empty());
    CHECK(moved_from.native_handle() == nullptr);
    CHECK_THROWS(moved_from.commit(), STOMPWS_RESULT_NULL_PARAMETER);
    client.send(q, "moved", {{"transaction", std::string(owner.id())}});
    owner.commit();
    m = sub.receive(5s);
    if (CHECK(m.has_value()))
        CHECK_EQ(m->body(), std::string_view("moved"));
}

void test_message_copies_outlive_original()
{
    const std::string q = queue("copies");
    const std::string binary = binary_body();
    std::optional<Message> copy;
    std::optional<Message> assigned;
    {
        Client client = connect();
        Subscription sub = client.subscribe(q, STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL);
        client.send(q, binary, {{"x-kept", "yes"}});
        client.send(q, "second");
        std::optional<Message> original = sub.receive(5s);
        std::optional<Message> second = sub.receive(5s);
        if (!CHECK(original.has_value() && second.has_value()))
            return;
        copy = *original; // stompws_message_clone: a counted reference, freed on its own
        CHECK(copy->native_handle() != nullptr);
        assigned = *second;
        assigned = *original; // copy assignment replaces (and frees) the held message
        CHECK_EQ(assigned->body().size(), binary.size());
        // One ack between a message and its copies.
        original->ack();
        CHECK_THROWS(copy->ack(), STOMPWS_RESULT_INVALID_ARGUMENT);
        second->ack({{"receipt", "cpp-copies-acked"}});
        original.reset(); // the original goes first...
        // ...then the subscription and the client.
    }
    if (!CHECK(copy.has_value()))
        return;
    CHECK(copy->body() == binary);
    CHECK_EQ(copy->header("x-kept").value_or("(absent)"), std::string_view("yes"));
    CHECK_EQ(copy->destination(), std::string_view(q));
    CHECK(assigned->body() == binary);
    // Moving leaves an empty message whose getters give empty views, never NULL ones.
    Message moved = std::move(*copy);
    CHECK(moved.body() == binary);
    CHECK(copy->native_handle() == nullptr);
    CHECK(copy->body().empty());
    CHECK(copy->command().empty());
    CHECK(copy->destination().empty());
    CHECK(!copy->header("x-kept").has_value());
    CHECK(copy->headers().empty());
    CHECK_THROWS(copy->ack(), STOMPWS_RESULT_NULL_PARAMETER);
    Message copy_of_empty = *copy; // copying an empty message gives an empty message
    CHECK(copy_of_empty.native_handle() == nullptr);
    // The client is gone: acking answers DISCONNECTED or INVALID_ARGUMENT, never crashes.
    try {
        moved.ack();
        check::fail(__FILE__, __LINE__, "ack after the client was freed did not throw");
    } catch (const Error &e) {
        CHECK(e.code() == STOMPWS_RESULT_DISCONNECTED ||
              e.code() == STOMPWS_RESULT_INVALID_ARGUMENT);
    }
}

void test_move_semantics()
{
    const std::string q = queue("moves");
    Client first = connect();
    std::string session(first.session());
    Client second = std::move(first);
    CHECK(!first);
    CHECK(first.native_handle() == nullptr);
    CHECK(first.version().empty());
    CHECK(first.server().empty());
    CHECK(first.session().empty());
    CHECK(!first.is_connected());
    CHECK_EQ(first.close_reason(), std::string());
    CHECK_THROWS(first.send(q, "x"), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_THROWS(first.subscribe(q), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_THROWS(first.begin(), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_EQ(second.session(), std::string_view(session));
    CHECK(second.is_connected());

    // Move assignment frees the client it replaces.
    Client third = connect();
    third = std::move(second);
    CHECK_EQ(third.session(), std::string_view(session));

    // Subscriptions in a container move with it.
    std::vector<Subscription> subs;
    for (int i = 0; i < 4; i++)
        subs.push_back(third.subscribe(q + "-" + std::to_string(i)));
    for (int i = 0; i < 4; i++)
        third.send(q + "-" + std::to_string(i), "to " + std::to_string(i));
    for (int i = 0; i < 4; i++) {
        auto m = subs[i].receive(5s);
        if (CHECK(m.has_value()))
            CHECK_EQ(m->body(), "to " + std::to_string(i));
    }
    Subscription taken = std::move(subs[0]);
    CHECK(!subs[0]);
    CHECK(subs[0].id().empty());
    CHECK_THROWS(subs[0].receive(10ms), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK(!taken.id().empty());
    Subscription empty;
    CHECK(!empty);
    empty = std::move(taken);
    CHECK(static_cast<bool>(empty));

    // A callback subscription moved keeps its callback.
    std::atomic<int> calls{0};
    Subscription pushed = third.subscribe(
        q + "-push", [&calls](const Message &) { calls++; }, STOMPWS_ACK_MODE_AUTO,
        {{"receipt", "cpp-moves-subscribed"}});
    Subscription moved_push = std::move(pushed);
    third.send(q + "-push", "x");
    CHECK(check::wait_until([&] { return calls.load() == 1; }, 10000));

    Config a = config();
    Config b = std::move(a);
    CHECK(a.native_handle() == nullptr);
    CHECK_THROWS(a.host("/"), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_THROWS(a.on_event([](stompws_event, std::string_view) {}), STOMPWS_RESULT_NULL_PARAMETER);
    CHECK_THROWS(Client::connect(url, a), STOMPWS_RESULT_NULL_PARAMETER);
    Client via_moved_config = Client::connect(url, b);
    CHECK(via_moved_config.is_connected());
}

void test_unhandled_and_unsubscribe_by_id()
{
    // RabbitMQ delivers replies to reply-to:/temp-queue/NAME on a subscription it made
    // itself; the client's unhandled subscription takes them.
    const std::string q = queue("requests");
    Client requester = connect();
    Client responder = connect();
    Subscription requests = responder.subscribe(q);
    Subscription unhandled = requester.subscribe_unhandled();
    CHECK_EQ(unhandled.id(), std::string_view("*"));
    CHECK_THROWS(requester.subscribe_unhandled(), STOMPWS_RESULT_INVALID_ARGUMENT);
    requester.send(q, "question", {{"reply-to", "/temp-queue/cpp-replies"}});
    auto request = requests.receive(5s);
    if (CHECK(request.has_value())) {
        auto reply_to = request->header("reply-to");
        if (CHECK(reply_to.has_value()))
            responder.send(*reply_to, "answer");
    }
    auto reply = unhandled.receive(5s);
    if (CHECK(reply.has_value()))
        CHECK_EQ(reply->body(), std::string_view("answer"));

    // UNSUBSCRIBE by id ends the open subscription with that id; its own unsubscribe
    // then sends nothing and does not throw.
    Subscription by_id = requester.subscribe(queue("by-id"), STOMPWS_ACK_MODE_AUTO,
                                             {{"id", "cpp-by-id"}});
    CHECK_EQ(by_id.id(), std::string_view("cpp-by-id"));
    requester.unsubscribe("cpp-by-id", {{"receipt", "cpp-by-id-gone"}});
    by_id.unsubscribe();
    CHECK_THROWS(requester.unsubscribe("*"), STOMPWS_RESULT_INVALID_ARGUMENT);
    // An id this client never subscribed: sent anyway (the broker's answer is its own).
    requester.unsubscribe("cpp-not-mine");
    CHECK(requester.is_connected() || !requester.close_reason().empty());
}

void test_ws_message_limit()
{
    Config c = config();
    CHECK_THROWS(c.ws_message_limit(1), STOMPWS_RESULT_INVALID_ARGUMENT);
    CHECK_THROWS(c.ws_message_limit(1023), STOMPWS_RESULT_INVALID_ARGUMENT);
    c.ws_message_limit(0).ws_message_limit(16640);
    // Frames under the limit go out as before.
    const std::string q = queue("ws-limit");
    Client client = Client::connect(url, c);
    Subscription sub = client.subscribe(q);
    client.send_with_receipt(q, "small");
    auto m = sub.receive(5s);
    if (CHECK(m.has_value()))
        CHECK_EQ(m->body(), std::string_view("small"));
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s URL\n", argv[0]);
        return 2;
    }
    url = argv[1];
    if (const char *l = std::getenv("STOMPWS_LOGIN"))
        login = l;
    if (const char *p = std::getenv("STOMPWS_PASSCODE"))
        passcode = p;

    RUN(test_errors_carry_code_and_detail);
    RUN(test_connect_and_getters);
    RUN(test_round_trip_binary_body_and_headers);
    RUN(test_receive_timeout_is_nullopt);
    RUN(test_receive_many);
    RUN(test_callback_subscription);
    RUN(test_subscription_destroyed_inside_its_callback);
    RUN(test_client_destroyed_inside_its_callback);
    RUN(test_temporary_config_with_on_event);
    RUN(test_exceptions_in_callbacks_reach_debug_hook);
    RUN(test_transactions);
    RUN(test_message_copies_outlive_original);
    RUN(test_move_semantics);
    RUN(test_unhandled_and_unsubscribe_by_id);
    RUN(test_ws_message_limit);
    return check::report();
}
