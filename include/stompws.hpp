/*
 * stompws.hpp: a header-only C++17 wrapper over stompws.h.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Everything lives in namespace `stompws`:
 *
 *   Error         what every failed call throws: the stompws_result code and the detail
 *   Headers       extra STOMP headers, a braced list works: {{"priority", "9"}}
 *   Config        connection settings, chainable setters
 *   Client        a connection; Client::connect(url, config)
 *   Subscription  a pull (receive) or push (callback) subscription
 *   Message       a received message; copyable
 *   Transaction   BEGIN ... COMMIT / ABORT
 *
 *     stompws::Config config;
 *     config.login("guest", "guest");
 *     auto client = stompws::Client::connect("ws://127.0.0.1:15674/ws", config);
 *     auto sub = client.subscribe("/queue/test");
 *     client.send("/queue/test", "Hello, STOMP", {{"priority", "9"}});
 *     if (auto message = sub.receive(std::chrono::seconds(5)))
 *         std::cout << message->body() << '\n';
 *
 * Ownership. Client, Subscription, Transaction and Config are move-only RAII handles:
 * the destructor frees the C handle (a Client disconnects, waiting at most 1 s for the
 * receipt; a Subscription unsubscribes; a Transaction that was neither committed nor
 * aborted is aborted). A moved-from handle is empty: its getters return empty views and
 * its other calls throw Error with STOMPWS_RESULT_NULL_PARAMETER. Message is copyable:
 * a copy is an independent owned message (stompws_message_clone) that shares the
 * original's single acknowledgement. Subscriptions, messages and transactions may
 * outlive their Client (they then throw STOMPWS_RESULT_DISCONNECTED), as in C.
 *
 * Strings. Arguments are std::string_view; the wrapper copies each into a NUL-terminated
 * string for the C call, so one that holds a NUL byte is refused with Error
 * (STOMPWS_RESULT_INVALID_ARGUMENT). A body is a std::string_view of bytes and may hold
 * NUL bytes: pass a std::string or std::string_view(data, size), not a bare "a\0b"
 * literal (which a std::string_view ends at its first NUL). Views returned by getters
 * are borrowed from the handle they came from and valid while it lives; a getter whose
 * C function returns NULL returns an empty view (or std::nullopt where it says so).
 *
 * Errors. A call that fails throws stompws::Error; code() is the stompws_result, and
 * what() holds the call, stompws_result_str(code) and the detail stompws_last_error gave
 * right after the failure. Subscription::receive is the one call whose timeout is not an
 * error: it returns std::nullopt. Destructors never throw.
 *
 * Callbacks. Config::on_event, Config::debug and the callback of Client::subscribe are
 * std::function objects that the wrapper owns, with shared ownership, for as long as the
 * C side may call them: a Client keeps its Config's hooks (a temporary Config is fine),
 * and a callback Subscription keeps its callback. Destroying a Subscription waits for a
 * running call of its callback and none follows; destroying a Subscription or a Client
 * from inside one of its own callbacks is allowed, and that callback (with everything
 * it captured) is released only after it returns. An exception thrown by a callback
 * never reaches the C library: the wrapper catches it, hands "stompws.hpp: ...: what()"
 * to the Config's debug hook when one is set (otherwise it is dropped), and the
 * subscription goes on. Callbacks run on the client's threads, not the caller's: the
 * message and event callbacks on its dispatch thread, one at a time; the debug hook on
 * any of its threads, several at once (it must be thread-safe and must not call the
 * library). The rules of stompws.h for callbacks hold otherwise (e.g. Client::disconnect
 * from inside a callback of the same client throws STOMPWS_RESULT_INVALID_ARGUMENT).
 *
 * Threads. As in C: a Client and its Subscriptions may be used from any number of
 * threads at once, except that destroying or assigning to a handle must not race with
 * other calls on it; a Config is not thread-safe; a Message may be read from any thread.
 */
#ifndef STOMPWS_HPP
#define STOMPWS_HPP

#include <stompws.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stompws {

/// A failed call: code() is the C result, what() reads
/// "<call>: <stompws_result_str(code)>: <detail>" (without ": <detail>" when there is
/// none), and detail() is the text of stompws_last_error alone.
class Error : public std::runtime_error {
public:
    Error(stompws_result code, const std::string &detail, std::string_view call)
        : std::runtime_error(format(code, detail, call)), code_(code), detail_(detail)
    {
    }

    /// The stompws_result of the failed call (never STOMPWS_RESULT_OK).
    stompws_result code() const noexcept { return code_; }

    /// What stompws_last_error said right after the failure (may be empty).
    const std::string &detail() const noexcept { return detail_; }

private:
    static std::string format(stompws_result code, const std::string &detail,
                              std::string_view call)
    {
        std::string text(call);
        text += ": ";
        text += stompws_result_str(static_cast<uint32_t>(code));
        if (!detail.empty()) {
            text += ": ";
            text += detail;
        }
        return text;
    }

    stompws_result code_;
    std::string detail_;
};

/// Extra STOMP headers, in order; a name may repeat. {{"priority", "9"}} builds one.
using Headers = std::vector<std::pair<std::string, std::string>>;

/// The text of a result, e.g. "timeout" (stompws_result_str).
inline std::string_view result_str(stompws_result result) noexcept
{
    return stompws_result_str(static_cast<uint32_t>(result));
}

/// The library's version, e.g. "0.1.0" (stompws_version).
inline std::string_view library_version() noexcept { return stompws_version(); }

class Client;
class Config;
class Message;
class Subscription;
class Transaction;

namespace detail {

struct MessageTrampoline;

/// The calling thread's stompws_last_error, whole.
inline std::string last_error()
{
    char small[256];
    size_t len = stompws_last_error(small, sizeof small);
    if (len < sizeof small)
        return std::string(small, len);
    // Nothing runs in between, so the detail is the same on the second call.
    std::string text(len + 1, '\0');
    stompws_last_error(&text[0], text.size());
    text.resize(len);
    return text;
}

/// Throws the Error of a failed C call. Call it right after the call, before anything
/// else on this thread uses the library (which would replace the detail).
[[noreturn]] inline void fail(stompws_result result, std::string_view call)
{
    throw Error(result, last_error(), call);
}

inline void check(stompws_result result, std::string_view call)
{
    if (result != STOMPWS_RESULT_OK)
        fail(result, call);
}

/// A view of a C string the library returned; NULL gives an empty view.
inline std::string_view view(const char *text) noexcept
{
    return text ? std::string_view(text) : std::string_view();
}

/// A NUL-terminated copy of `text` for a C call; refuses one holding a NUL byte, which
/// the C side would cut short.
inline std::string c_string(std::string_view text, std::string_view what, std::string_view call)
{
    if (text.find('\0') != std::string_view::npos)
        throw Error(STOMPWS_RESULT_INVALID_ARGUMENT, std::string(what) + " holds a NUL byte",
                    call);
    return std::string(text);
}

/// Headers as the C array they are passed as; borrows the strings of `headers`.
class CHeaders {
public:
    CHeaders(const Headers &headers, std::string_view call)
    {
        items_.reserve(headers.size());
        for (const auto &header : headers) {
            if (header.first.find('\0') != std::string::npos ||
                header.second.find('\0') != std::string::npos)
                throw Error(STOMPWS_RESULT_INVALID_ARGUMENT,
                            "header \"" + header.first.substr(0, header.first.find('\0')) +
                                "\" holds a NUL byte",
                            call);
            items_.push_back(stompws_header{header.first.c_str(), header.second.c_str()});
        }
    }
    const stompws_header *data() const noexcept { return items_.empty() ? nullptr : items_.data(); }
    size_t size() const noexcept { return items_.size(); }

private:
    std::vector<stompws_header> items_;
};

/// A wait in milliseconds for a C call: negative means 0, longer than UINT32_MAX ms
/// (about 49 days) is cut to that.
inline uint32_t wait_ms(std::chrono::milliseconds ms) noexcept
{
    if (ms.count() <= 0)
        return 0;
    if (ms.count() >= static_cast<std::chrono::milliseconds::rep>(UINT32_MAX))
        return UINT32_MAX;
    return static_cast<uint32_t>(ms.count());
}

/// A configured duration: negative is refused, longer than UINT32_MAX ms is cut to that
/// (0 goes through, for the library to refuse).
inline uint32_t config_ms(std::chrono::milliseconds ms, std::string_view call)
{
    if (ms.count() < 0)
        throw Error(STOMPWS_RESULT_INVALID_ARGUMENT, "a negative duration", call);
    return wait_ms(ms);
}

/// A client's hooks, shared by the Config they were set on, every Client connected with
/// it, and the handles those clients made: the C side holds a raw pointer to this
/// object (the userdata) for as long as the C client lives.
struct ClientHooks : std::enable_shared_from_this<ClientHooks> {
    std::function<void(stompws_event, std::string_view)> on_event;
    std::function<void(std::string_view)> debug;

    /// Hands a callback's escaped exception to the debug hook, if there is one. Never
    /// throws: an exception from the hook itself is dropped.
    void report(std::string_view where, std::string_view what) const noexcept
    {
        if (!debug)
            return;
        try {
            std::string line = "stompws.hpp: ";
            line += where;
            line += " threw: ";
            line += what;
            debug(line);
        } catch (...) {
        }
    }
};

/// The hooks of the client whose callback runs on this thread now, if any: how a Client
/// destructor knows it runs inside one of its own callbacks.
inline const ClientHooks *&running_callback_owner() noexcept
{
    static thread_local const ClientHooks *owner = nullptr;
    return owner;
}

/// Marks the current thread as inside a callback of `owner` while it lives.
class CallbackScope {
public:
    explicit CallbackScope(const ClientHooks *owner) noexcept : saved_(running_callback_owner())
    {
        running_callback_owner() = owner;
    }
    ~CallbackScope() { running_callback_owner() = saved_; }
    CallbackScope(const CallbackScope &) = delete;
    CallbackScope &operator=(const CallbackScope &) = delete;

private:
    const ClientHooks *saved_;
};

/// Keeps `hooks` alive until the current thread ends. A Client freed inside its own
/// callback is freed by the library only after that callback returns, on this (the
/// client's dispatch) thread, which may still call the hooks afterwards (the final
/// DISCONNECTED event) before it ends; thread-local objects are destroyed when the
/// thread has finished running, after the last such call.
inline void keep_until_thread_exit(std::shared_ptr<ClientHooks> hooks) noexcept
{
    static thread_local std::vector<std::shared_ptr<ClientHooks>> kept;
    // An allocation failure here ends the program (noexcept): releasing the hooks
    // instead could let the library call freed memory.
    kept.push_back(std::move(hooks));
}

} // namespace detail

/// Connection settings, read only by Client::connect: a Config may be changed, reused or
/// destroyed right after. Setters are named like the C setters without set_/add_, apply
/// at once (throwing Error for a value the library refuses) and return *this, so they
/// chain: config.login("guest", "guest").heartbeat(0, 10000). Move-only; not
/// thread-safe.
class Config {
public:
    /// The library's defaults (stompws_config_new).
    Config() : c_(stompws_config_new()) {}
    ~Config() { stompws_config_free(c_); }
    Config(Config &&other) noexcept
        : c_(std::exchange(other.c_, nullptr)), hooks_(std::move(other.hooks_))
    {
    }
    Config &operator=(Config &&other) noexcept
    {
        if (this != &other) {
            stompws_config_free(c_);
            c_ = std::exchange(other.c_, nullptr);
            hooks_ = std::move(other.hooks_);
        }
        return *this;
    }
    Config(const Config &) = delete;
    Config &operator=(const Config &) = delete;

    /// CONNECT login and passcode; the passcode never appears in debug output.
    Config &login(std::string_view login, std::string_view passcode)
    {
        const char *call = "Config::login";
        detail::check(stompws_config_set_login(c_, detail::c_string(login, "login", call).c_str(),
                                               detail::c_string(passcode, "passcode", call).c_str()),
                      call);
        return *this;
    }
    /// The STOMP `host` header (RabbitMQ: the virtual host); not sent by default.
    Config &host(std::string_view host)
    {
        return set_text(stompws_config_set_host, host, "Config::host");
    }
    /// Heart-beats asked for, in ms (outgoing, incoming); 0 disables a direction.
    Config &heartbeat(uint32_t outgoing_ms, uint32_t incoming_ms)
    {
        detail::check(stompws_config_set_heartbeat(c_, outgoing_ms, incoming_ms),
                      "Config::heartbeat");
        return *this;
    }
    /// The accept-version list, e.g. "1.2" or "1.1,1.0".
    Config &versions(std::string_view accept_version)
    {
        return set_text(stompws_config_set_versions, accept_version, "Config::versions");
    }
    /// The Sec-WebSocket-Protocol offer (comma separated).
    Config &subprotocols(std::string_view comma_list)
    {
        return set_text(stompws_config_set_subprotocols, comma_list, "Config::subprotocols");
    }
    /// WebSocket: send every frame as a binary message.
    Config &binary_frames(bool always)
    {
        detail::check(stompws_config_set_binary_frames(c_, always), "Config::binary_frames");
        return *this;
    }
    /// An extra CONNECT header, e.g. client-id.
    Config &connect_header(std::string_view name, std::string_view value)
    {
        return set_pair(stompws_config_add_connect_header, name, value, "Config::connect_header");
    }
    /// An extra header on the WebSocket upgrade request (Authorization, Cookie, Origin).
    Config &http_header(std::string_view name, std::string_view value)
    {
        return set_pair(stompws_config_add_http_header, name, value, "Config::http_header");
    }
    /// One deadline for TCP, TLS, the WebSocket upgrade and CONNECTED.
    Config &connect_timeout(std::chrono::milliseconds timeout)
    {
        return set_ms(stompws_config_set_connect_timeout, timeout, "Config::connect_timeout");
    }
    /// How long a call that asked for a receipt waits for it.
    Config &receipt_timeout(std::chrono::milliseconds timeout)
    {
        return set_ms(stompws_config_set_receipt_timeout, timeout, "Config::receipt_timeout");
    }
    /// How long a send may wait for room in the outgoing buffer (or, with reconnect on,
    /// for the new connection).
    Config &send_timeout(std::chrono::milliseconds timeout)
    {
        return set_ms(stompws_config_set_send_timeout, timeout, "Config::send_timeout");
    }
    /// Silence longer than factor x the incoming heart-beat interval means lost.
    Config &heartbeat_tolerance(double factor)
    {
        detail::check(stompws_config_set_heartbeat_tolerance(c_, factor),
                      "Config::heartbeat_tolerance");
        return *this;
    }
    /// The largest inbound frame accepted, in bytes.
    Config &max_frame_size(size_t bytes)
    {
        detail::check(stompws_config_set_max_frame_size(c_, bytes), "Config::max_frame_size");
        return *this;
    }
    /// Bounds each pull subscription's queue.
    Config &queue_limit(size_t messages, size_t bytes)
    {
        detail::check(stompws_config_set_queue_limit(c_, messages, bytes), "Config::queue_limit");
        return *this;
    }
    /// false: only bodies holding a NUL byte get content-length.
    Config &auto_content_length(bool always)
    {
        detail::check(stompws_config_set_auto_content_length(c_, always),
                      "Config::auto_content_length");
        return *this;
    }
    /// Trust the certificates of this PEM file as well as the system's.
    Config &tls_ca_file(std::string_view pem_path)
    {
        return set_text(stompws_config_set_tls_ca_file, pem_path, "Config::tls_ca_file");
    }
    /// Present this client certificate with its private key (PEM files).
    Config &tls_client_cert(std::string_view cert_pem_path, std::string_view key_pem_path)
    {
        return set_pair(stompws_config_set_tls_client_cert, cert_pem_path, key_pem_path,
                        "Config::tls_client_cert");
    }
    /// Skip certificate and host name checks (tests only).
    Config &tls_insecure(bool insecure)
    {
        detail::check(stompws_config_set_tls_insecure(c_, insecure), "Config::tls_insecure");
        return *this;
    }
    /// Reconnect after a lost connection (stompws_config_set_reconnect); an initial delay
    /// of 0 turns it off again; max_attempts 0 never gives up.
    Config &reconnect(std::chrono::milliseconds initial_delay, std::chrono::milliseconds max_delay,
                      uint32_t max_attempts)
    {
        const char *call = "Config::reconnect";
        detail::check(stompws_config_set_reconnect(c_, detail::config_ms(initial_delay, call),
                                                   detail::config_ms(max_delay, call), max_attempts),
                      call);
        return *this;
    }
    /// Another broker to try, after the URL given to connect and earlier failover URLs.
    Config &failover_url(std::string_view url)
    {
        return set_text(stompws_config_add_failover_url, url, "Config::failover_url");
    }
    /// ws/wss: a frame longer than `bytes` goes out as several WebSocket messages; 0 (the
    /// default) sends one message per frame.
    Config &ws_message_limit(size_t bytes)
    {
        detail::check(stompws_config_set_ws_message_limit(c_, bytes), "Config::ws_message_limit");
        return *this;
    }

    /// The event hook, run on the client's dispatch thread with the event and its detail
    /// (borrowed for the call); it may call the library. An empty function removes it.
    /// Every Client connected with this config keeps its own share of the function.
    Config &on_event(std::function<void(stompws_event, std::string_view)> fn)
    {
        auto hooks = copy_hooks();
        hooks->on_event = std::move(fn);
        install(std::move(hooks), "Config::on_event");
        return *this;
    }
    /// The debug hook: one line per frame sent or received (passcode hidden), and the
    /// exceptions the wrapper caught from callbacks. It runs on any of the client's
    /// threads, several at once: it must be thread-safe and must not call the library.
    /// An empty function removes it.
    Config &debug(std::function<void(std::string_view)> fn)
    {
        auto hooks = copy_hooks();
        hooks->debug = std::move(fn);
        install(std::move(hooks), "Config::debug");
        return *this;
    }

    /// The C config, still owned by this object.
    stompws_config *native_handle() const noexcept { return c_; }

private:
    friend class Client;

    Config &set_text(stompws_result (*set)(stompws_config *, const char *), std::string_view text,
                     const char *call)
    {
        detail::check(set(c_, detail::c_string(text, "the value", call).c_str()), call);
        return *this;
    }
    Config &set_pair(stompws_result (*set)(stompws_config *, const char *, const char *),
                     std::string_view first, std::string_view second, const char *call)
    {
        detail::check(set(c_, detail::c_string(first, "the first value", call).c_str(),
                          detail::c_string(second, "the second value", call).c_str()),
                      call);
        return *this;
    }
    Config &set_ms(stompws_result (*set)(stompws_config *, uint32_t), std::chrono::milliseconds ms,
                   const char *call)
    {
        detail::check(set(c_, detail::config_ms(ms, call)), call);
        return *this;
    }

    /// Hooks are never changed in place: clients connected earlier may be running them.
    std::shared_ptr<detail::ClientHooks> copy_hooks() const
    {
        auto hooks = std::make_shared<detail::ClientHooks>();
        if (hooks_) {
            hooks->on_event = hooks_->on_event;
            hooks->debug = hooks_->debug;
        }
        return hooks;
    }
    void install(std::shared_ptr<detail::ClientHooks> hooks, const char *call);

    stompws_config *c_;
    std::shared_ptr<detail::ClientHooks> hooks_;
};

/// A received message. Getters return views borrowed from this object. Copyable: a copy
/// is an owned clone (stompws_message_clone) that outlives the original, a callback's
/// message included, and shares its one ack or nack.
class Message {
public:
    Message(const Message &other)
        : m_(other.m_ ? stompws_message_clone(other.m_) : nullptr), owned_(m_ != nullptr),
          hooks_(other.hooks_)
    {
    }
    Message(Message &&other) noexcept
        : m_(std::exchange(other.m_, nullptr)), owned_(std::exchange(other.owned_, false)),
          hooks_(std::move(other.hooks_))
    {
    }
    Message &operator=(const Message &other)
    {
        if (this != &other)
            *this = Message(other);
        return *this;
    }
    Message &operator=(Message &&other) noexcept
    {
        if (this != &other) {
            release();
            m_ = std::exchange(other.m_, nullptr);
            owned_ = std::exchange(other.owned_, false);
            hooks_ = std::move(other.hooks_);
        }
        return *this;
    }
    ~Message() { release(); }

    /// The frame's command, "MESSAGE".
    std::string_view command() const noexcept { return detail::view(stompws_message_command(m_)); }
    /// The destination header; empty when absent.
    std::string_view destination() const noexcept
    {
        return detail::view(stompws_message_destination(m_));
    }
    /// The first header called `name`, unescaped; std::nullopt when absent.
    std::optional<std::string_view> header(std::string_view name) const
    {
        if (name.find('\0') != std::string_view::npos)
            return std::nullopt; // no header name holds a NUL byte
        const char *value = stompws_message_header(m_, std::string(name).c_str());
        if (!value)
            return std::nullopt;
        return std::string_view(value);
    }
    /// Every header, repeats included, in arrival order.
    std::vector<std::pair<std::string_view, std::string_view>> headers() const
    {
        std::vector<std::pair<std::string_view, std::string_view>> all;
        size_t count = stompws_message_header_count(m_);
        all.reserve(count);
        for (size_t i = 0; i < count; i++) {
            const char *name = nullptr;
            const char *value = nullptr;
            if (stompws_message_header_at(m_, i, &name, &value) == STOMPWS_RESULT_OK)
                all.emplace_back(detail::view(name), detail::view(value));
        }
        return all;
    }
    /// The body: every byte, NULs included.
    std::string_view body() const noexcept
    {
        size_t len = 0;
        const uint8_t *body = stompws_message_body(m_, &len);
        if (!body)
            return std::string_view();
        return std::string_view(reinterpret_cast<const char *>(body), len);
    }
    /// ACK with the header this session's version needs, plus `headers` (transaction,
    /// receipt: a receipt makes the call wait).
    void ack(const Headers &headers = {}) const
    {
        detail::CHeaders h(headers, "Message::ack");
        detail::check(stompws_message_ack(m_, h.data(), h.size()), "Message::ack");
    }
    /// NACK, like ack (STOMPWS_RESULT_UNSUPPORTED on STOMP 1.0).
    void nack(const Headers &headers = {}) const
    {
        detail::CHeaders h(headers, "Message::nack");
        detail::check(stompws_message_nack(m_, h.data(), h.size()), "Message::nack");
    }

    /// The C message; owned by this object (for a callback's message: by the library,
    /// for the call).
    const stompws_message *native_handle() const noexcept { return m_; }

private:
    friend class Subscription;
    friend struct detail::MessageTrampoline;
    struct Borrowed {};

    Message(stompws_message *owned, std::shared_ptr<detail::ClientHooks> hooks) noexcept
        : m_(owned), owned_(true), hooks_(std::move(hooks))
    {
    }
    Message(Borrowed, const stompws_message *borrowed,
            std::shared_ptr<detail::ClientHooks> hooks) noexcept
        : m_(borrowed), owned_(false), hooks_(std::move(hooks))
    {
    }
    void release() noexcept
    {
        if (owned_)
            stompws_message_free(const_cast<stompws_message *>(m_));
        m_ = nullptr;
        owned_ = false;
    }

    const stompws_message *m_;
    bool owned_;
    // Keeps the client's hooks alive: an ack may log a frame through the debug hook.
    std::shared_ptr<detail::ClientHooks> hooks_;
};

namespace detail {

/// A callback subscription's function, shared by the Subscription and (while a call
/// runs) the trampoline. The C side holds a raw pointer to it until the subscription is
/// freed.
struct MessageHook : std::enable_shared_from_this<MessageHook> {
    std::function<void(const Message &)> fn;
    std::shared_ptr<ClientHooks> client; // for the debug hook; may be null
};

/// Runs a callback subscription's function on the Message it sees.
struct MessageTrampoline {
    static void call(MessageHook &hook, const stompws_message *message)
    {
        Message borrowed(Message::Borrowed{}, message, hook.client);
        hook.fn(borrowed);
    }
};

extern "C" {

// The functions the C library calls. They have C linkage, as the library's function
// pointer types require, and let no exception out.

inline void stompws_hpp_message_trampoline(void *userdata, const stompws_message *message) noexcept
{
    auto *hook = static_cast<MessageHook *>(userdata);
    // Shares the function for the call: a Subscription destroyed inside it releases its
    // share at once, and the function (with its captures) ends with this one.
    std::shared_ptr<MessageHook> keep = hook->shared_from_this();
    CallbackScope scope(hook->client.get());
    try {
        MessageTrampoline::call(*hook, message);
    } catch (const std::exception &e) {
        if (hook->client)
            hook->client->report("a message callback", e.what());
    } catch (...) {
        if (hook->client)
            hook->client->report("a message callback", "an exception not derived from std::exception");
    }
}

inline void stompws_hpp_event_trampoline(void *userdata, stompws_event event, const char *detail) noexcept
{
    auto *hooks = static_cast<ClientHooks *>(userdata);
    std::shared_ptr<ClientHooks> keep = hooks->shared_from_this();
    CallbackScope scope(hooks);
    try {
        if (hooks->on_event)
            hooks->on_event(event, view(detail));
    } catch (const std::exception &e) {
        hooks->report("the event callback", e.what());
    } catch (...) {
        hooks->report("the event callback", "an exception not derived from std::exception");
    }
}

inline void stompws_hpp_debug_trampoline(void *userdata, const char *line) noexcept
{
    // No share taken here: the debug hook also runs on the I/O thread, once per frame,
    // and the hooks outlive every call (see Client's destructor).
    auto *hooks = static_cast<ClientHooks *>(userdata);
    try {
        if (hooks->debug)
            hooks->debug(view(line));
    } catch (...) {
        // Nowhere to report a failing debug hook.
    }
}

} // extern "C"
} // namespace detail

inline void Config::install(std::shared_ptr<detail::ClientHooks> hooks, const char *call)
{
    auto event_fn = [](const detail::ClientHooks *h) {
        return h && h->on_event ? detail::stompws_hpp_event_trampoline : nullptr;
    };
    auto debug_fn = [](const detail::ClientHooks *h) {
        return h && h->debug ? detail::stompws_hpp_debug_trampoline : nullptr;
    };
    detail::check(stompws_config_set_event_callback(c_, event_fn(hooks.get()), hooks.get()), call);
    stompws_result r = stompws_config_set_debug(c_, debug_fn(hooks.get()), hooks.get());
    if (r != STOMPWS_RESULT_OK) {
        std::string text = detail::last_error();
        // Back to the hooks in place, which this config keeps: it never points at freed ones.
        stompws_config_set_event_callback(c_, event_fn(hooks_.get()), hooks_.get());
        throw Error(r, text, call);
    }
    hooks_ = std::move(hooks);
}

/// A subscription: a pull one (Client::subscribe without a function), read with
/// receive(), or a push one, whose function runs for each message. The destructor
/// unsubscribes (if still active) and frees it; for a push subscription it waits for a
/// running call of the function (unless it runs inside that call) and no call follows.
/// Move-only; a default-constructed Subscription is empty.
class Subscription {
public:
    Subscription() noexcept = default;
    ~Subscription() { reset(); }
    Subscription(Subscription &&other) noexcept
        : s_(std::exchange(other.s_, nullptr)), hook_(std::move(other.hook_)),
          hooks_(std::move(other.hooks_))
    {
    }
    Subscription &operator=(Subscription &&other) noexcept
    {
        if (this != &other) {
            reset();
            s_ = std::exchange(other.s_, nullptr);
            hook_ = std::move(other.hook_);
            hooks_ = std::move(other.hooks_);
        }
        return *this;
    }
    Subscription(const Subscription &) = delete;
    Subscription &operator=(const Subscription &) = delete;

    /// The subscription id (the SUBSCRIBE id header).
    std::string_view id() const noexcept { return detail::view(stompws_subscription_id(s_)); }

    /// The next message, waiting up to `timeout` (0: just look); std::nullopt when none
    /// came in time. Throws Error for anything else: DISCONNECTED once the subscription
    /// or connection is closed and nothing is queued, INVALID_ARGUMENT on a push
    /// subscription.
    std::optional<Message> receive(std::chrono::milliseconds timeout)
    {
        stompws_message *message = nullptr;
        stompws_result r = stompws_subscription_receive(s_, detail::wait_ms(timeout), &message);
        if (r == STOMPWS_RESULT_TIMEOUT)
            return std::nullopt;
        detail::check(r, "Subscription::receive");
        return Message(message, hooks_);
    }

    /// Up to `max` messages at once: waits up to `timeout` (0: just look) for the first,
    /// then takes whatever else is queued without waiting more. Empty when none came in
    /// time; throws Error as receive() does, and INVALID_ARGUMENT for `max` 0.
    std::vector<Message> receive_many(std::chrono::milliseconds timeout, std::size_t max)
    {
        // Both allocated before the call: once messages are taken, nothing may throw.
        std::vector<stompws_message *> taken(max == 0 ? 1 : max);
        std::vector<Message> messages;
        messages.reserve(max);
        std::size_t n = 0;
        stompws_result r = stompws_subscription_receive_many(s_, detail::wait_ms(timeout),
                                                             taken.data(), max, &n);
        if (r == STOMPWS_RESULT_TIMEOUT)
            return messages;
        detail::check(r, "Subscription::receive_many");
        for (std::size_t i = 0; i < n; i++)
            messages.push_back(Message(taken[i], hooks_));
        return messages;
    }

    /// UNSUBSCRIBE with extra headers (a receipt header makes it wait). Queued messages
    /// can still be received; a push subscription's function is not called again once
    /// this returns.
    void unsubscribe(const Headers &headers = {})
    {
        detail::CHeaders h(headers, "Subscription::unsubscribe");
        detail::check(stompws_subscription_unsubscribe(s_, h.data(), h.size()),
                      "Subscription::unsubscribe");
    }

    /// Unsubscribes (if still active) and frees now; the object is empty afterwards.
    void reset() noexcept
    {
        stompws_subscription_free(s_);
        s_ = nullptr;
        // After the free: no call of the function runs or will run, except the one this
        // may be inside of, which holds its own share.
        hook_.reset();
        hooks_.reset();
    }

    /// False once moved from or reset.
    explicit operator bool() const noexcept { return s_ != nullptr; }

    /// The C subscription, still owned by this object.
    stompws_subscription *native_handle() const noexcept { return s_; }

private:
    friend class Client;
    Subscription(stompws_subscription *s, std::shared_ptr<detail::MessageHook> hook,
                 std::shared_ptr<detail::ClientHooks> hooks) noexcept
        : s_(s), hook_(std::move(hook)), hooks_(std::move(hooks))
    {
    }

    stompws_subscription *s_ = nullptr;
    std::shared_ptr<detail::MessageHook> hook_;
    std::shared_ptr<detail::ClientHooks> hooks_;
};

/// A transaction begun with Client::begin. Frames join it through a `transaction`
/// header carrying id(). The destructor aborts one that was neither committed nor
/// aborted (sending ABORT without waiting). Move-only.
class Transaction {
public:
    ~Transaction() { stompws_transaction_free(t_); }
    Transaction(Transaction &&other) noexcept
        : t_(std::exchange(other.t_, nullptr)), hooks_(std::move(other.hooks_))
    {
    }
    Transaction &operator=(Transaction &&other) noexcept
    {
        if (this != &other) {
            stompws_transaction_free(t_);
            t_ = std::exchange(other.t_, nullptr);
            hooks_ = std::move(other.hooks_);
        }
        return *this;
    }
    Transaction(const Transaction &) = delete;
    Transaction &operator=(const Transaction &) = delete;

    /// The transaction id, for the `transaction` header.
    std::string_view id() const noexcept { return detail::view(stompws_transaction_id(t_)); }
    /// COMMIT, waiting for its receipt; throws INVALID_ARGUMENT once committed or aborted.
    void commit() { detail::check(stompws_transaction_commit(t_), "Transaction::commit"); }
    /// ABORT, waiting for its receipt; throws INVALID_ARGUMENT once committed or aborted.
    void abort() { detail::check(stompws_transaction_abort(t_), "Transaction::abort"); }

    /// The C transaction, still owned by this object.
    stompws_transaction *native_handle() const noexcept { return t_; }

private:
    friend class Client;
    Transaction(stompws_transaction *t, std::shared_ptr<detail::ClientHooks> hooks) noexcept
        : t_(t), hooks_(std::move(hooks))
    {
    }

    stompws_transaction *t_;
    std::shared_ptr<detail::ClientHooks> hooks_;
};

/// A connection to a broker. The destructor disconnects if still connected (waiting at
/// most 1 s for the receipt) and frees the client; called from inside one of this
/// client's callbacks it takes effect when that callback returns. Move-only.
class Client {
public:
    /// Connects and waits for CONNECTED. `url`: ws://, wss://, tcp:// or ssl://. The
    /// config is only read here; the Client keeps a share of its on_event and debug
    /// functions, so a temporary Config is fine.
    static Client connect(std::string_view url, const Config &config = Config())
    {
        const char *call = "Client::connect";
        if (!config.c_) // stompws_client_connect would take NULL for the defaults
            throw Error(STOMPWS_RESULT_NULL_PARAMETER, "a moved-from Config", call);
        std::string u = detail::c_string(url, "the URL", call);
        stompws_client *c = nullptr;
        detail::check(stompws_client_connect(u.c_str(), config.c_, &c), call);
        return Client(c, config.hooks_);
    }

    ~Client() { reset(); }
    Client(Client &&other) noexcept
        : c_(std::exchange(other.c_, nullptr)), hooks_(std::move(other.hooks_))
    {
    }
    Client &operator=(Client &&other) noexcept
    {
        if (this != &other) {
            reset();
            c_ = std::exchange(other.c_, nullptr);
            hooks_ = std::move(other.hooks_);
        }
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    /// The negotiated STOMP version: "1.0", "1.1" or "1.2".
    std::string_view version() const noexcept { return detail::view(stompws_client_version(c_)); }
    /// The CONNECTED frame's server header; empty when absent.
    std::string_view server() const noexcept { return detail::view(stompws_client_server(c_)); }
    /// The CONNECTED frame's session header; empty when absent.
    std::string_view session() const noexcept { return detail::view(stompws_client_session(c_)); }
    /// Whether the connection is up.
    bool is_connected() const noexcept { return stompws_client_is_connected(c_); }
    /// Why the connection closed; empty while connected.
    std::string close_reason() const
    {
        size_t len = stompws_client_close_reason(c_, nullptr, 0);
        std::string text(len + 1, '\0');
        len = std::min(len, stompws_client_close_reason(c_, &text[0], text.size()));
        text.resize(len);
        return text;
    }

    /// SEND; returns once the frame is queued (a receipt header among `headers` makes it
    /// wait for the broker). `body` is bytes and may hold NULs.
    void send(std::string_view destination, std::string_view body, const Headers &headers = {})
    {
        do_send(stompws_client_send, destination, body, headers, "Client::send");
    }
    /// SEND with a generated receipt header; returns once the broker's RECEIPT came.
    void send_with_receipt(std::string_view destination, std::string_view body,
                           const Headers &headers = {})
    {
        do_send(stompws_client_send_with_receipt, destination, body, headers,
                "Client::send_with_receipt");
    }

    /// A pull subscription: read it with Subscription::receive. An `id` header sets the
    /// id; a `receipt` header makes the call wait for it.
    Subscription subscribe(std::string_view destination, stompws_ack_mode ack = STOMPWS_ACK_MODE_AUTO,
                           const Headers &headers = {})
    {
        const char *call = "Client::subscribe";
        std::string d = detail::c_string(destination, "the destination", call);
        detail::CHeaders h(headers, call);
        stompws_subscription *s = nullptr;
        detail::check(stompws_client_subscribe(c_, d.c_str(), ack, h.data(), h.size(), &s), call);
        return Subscription(s, nullptr, hooks_);
    }

    /// A push subscription: `fn` runs on the client's dispatch thread for each message,
    /// one at a time, in arrival order. The Message is borrowed for the call: copy it to
    /// keep it. `fn` may call the library (send, ack, subscribe, destroy this
    /// Subscription or this Client) except Client::disconnect of this client. An
    /// exception it throws goes to the debug hook and the subscription goes on. The
    /// Subscription owns `fn` (see its destructor).
    Subscription subscribe(std::string_view destination, std::function<void(const Message &)> fn,
                           stompws_ack_mode ack = STOMPWS_ACK_MODE_AUTO, const Headers &headers = {})
    {
        const char *call = "Client::subscribe";
        if (!fn)
            throw Error(STOMPWS_RESULT_NULL_PARAMETER, "an empty function", call);
        std::string d = detail::c_string(destination, "the destination", call);
        detail::CHeaders h(headers, call);
        auto hook = std::make_shared<detail::MessageHook>();
        hook->fn = std::move(fn);
        hook->client = hooks_;
        stompws_subscription *s = nullptr;
        detail::check(stompws_client_subscribe_callback(c_, d.c_str(), ack, h.data(), h.size(),
                                                        detail::stompws_hpp_message_trampoline,
                                                        hook.get(), &s),
                      call);
        return Subscription(s, std::move(hook), hooks_);
    }

    /// The pull subscription (id "*") that gets every MESSAGE naming no open subscription
    /// of this client, e.g. replies to reply-to:/temp-queue/NAME on RabbitMQ. At most one
    /// at a time; nothing is sent to the broker for it.
    Subscription subscribe_unhandled()
    {
        stompws_subscription *s = nullptr;
        detail::check(stompws_client_subscribe_unhandled(c_, &s), "Client::subscribe_unhandled");
        return Subscription(s, nullptr, hooks_);
    }

    /// UNSUBSCRIBE with this id and extra headers, whether or not this client has an open
    /// subscription with that id (e.g. to remove an ActiveMQ durable subscription).
    void unsubscribe(std::string_view id, const Headers &headers = {})
    {
        const char *call = "Client::unsubscribe";
        std::string i = detail::c_string(id, "the id", call);
        detail::CHeaders h(headers, call);
        detail::check(stompws_client_unsubscribe(c_, i.c_str(), h.data(), h.size()), call);
    }

    /// BEGIN with a generated id.
    Transaction begin()
    {
        stompws_transaction *t = nullptr;
        detail::check(stompws_client_begin(c_, nullptr, &t), "Client::begin");
        return Transaction(t, hooks_);
    }
    /// BEGIN with this id.
    Transaction begin(std::string_view id)
    {
        const char *call = "Client::begin";
        std::string i = detail::c_string(id, "the transaction id", call);
        stompws_transaction *t = nullptr;
        detail::check(stompws_client_begin(c_, i.c_str(), &t), call);
        return Transaction(t, hooks_);
    }

    /// DISCONNECT, waiting at most `timeout` for its receipt, then close. Calling it again
    /// does nothing. Throws TIMEOUT when the receipt did not come in time (the connection
    /// is closed anyway), INVALID_ARGUMENT from inside a callback of this client.
    void disconnect(std::chrono::milliseconds timeout = std::chrono::seconds(1))
    {
        detail::check(stompws_client_disconnect(c_, detail::wait_ms(timeout)), "Client::disconnect");
    }

    /// Disconnects (as the destructor does) and frees now; the object is empty afterwards.
    void reset() noexcept
    {
        if (!c_)
            return;
        // Inside one of this client's callbacks the library frees the client only after
        // the callback returns, and its dispatch thread may still run the hooks after
        // that: they stay until that thread ends. Otherwise the free has joined the
        // client's threads and no hook runs any more.
        bool inside = hooks_ && detail::running_callback_owner() == hooks_.get();
        stompws_client_free(c_);
        c_ = nullptr;
        if (inside)
            detail::keep_until_thread_exit(std::move(hooks_));
        hooks_.reset();
    }

    /// False once moved from or reset.
    explicit operator bool() const noexcept { return c_ != nullptr; }

    /// The C client, still owned by this object.
    stompws_client *native_handle() const noexcept { return c_; }

private:
    Client(stompws_client *c, std::shared_ptr<detail::ClientHooks> hooks) noexcept
        : c_(c), hooks_(std::move(hooks))
    {
    }

    using SendFn = stompws_result (*)(stompws_client *, const char *, const stompws_header *,
                                      size_t, const uint8_t *, size_t);
    void do_send(SendFn fn, std::string_view destination, std::string_view body,
                 const Headers &headers, const char *call)
    {
        std::string d = detail::c_string(destination, "the destination", call);
        detail::CHeaders h(headers, call);
        detail::check(fn(c_, d.c_str(), h.data(), h.size(),
                         reinterpret_cast<const uint8_t *>(body.data()), body.size()),
                      call);
    }

    stompws_client *c_;
    std::shared_ptr<detail::ClientHooks> hooks_;
};

} // namespace stompws

#endif /* STOMPWS_HPP */
