// The header from C++17: it must compile warning-free under -Wall -Wextra -Werror
// -pedantic (extern "C", no C-only constructs), and its enums, typedefs and callbacks
// must be usable the way C++ code uses them.
#include <stompws.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>

static_assert(std::is_standard_layout<stompws_header>::value, "plain struct");
static_assert(sizeof(stompws_header) == 2 * sizeof(const char *), "two pointers");
static_assert(STOMPWS_RESULT_OK == 0 && STOMPWS_RESULT_PANIC == 11, "numbers are fixed");

namespace {

std::string last_error()
{
    std::string text(stompws_last_error(nullptr, 0), '\0');
    stompws_last_error(&text[0], text.size() + 1); // C++11 strings own the NUL at size()
    return text;
}

int failures = 0;

void expect(bool ok, const char *what)
{
    if (!ok) {
        std::printf("FAIL %s\n", what);
        failures++;
    }
}

} // namespace

// Callbacks must not let an exception out: these are extern "C" and cannot throw.
extern "C" void on_debug(void *userdata, const char *line) noexcept
{
    static_cast<void>(userdata);
    static_cast<void>(line);
}

extern "C" void on_event(void *userdata, stompws_event event, const char *detail) noexcept
{
    static_cast<void>(userdata);
    static_cast<void>(event);
    static_cast<void>(detail);
}

int main()
{
    expect(std::strcmp(stompws_version(), STOMPWS_VERSION) == 0, "version");
    expect(std::strlen(stompws_result_str(STOMPWS_RESULT_TIMEOUT)) > 0, "result_str");

    stompws_config *config = stompws_config_new();
    expect(config != nullptr, "config_new");
    expect(stompws_config_set_login(config, "guest", "guest") == STOMPWS_RESULT_OK, "login");
    expect(stompws_config_set_debug(config, on_debug, nullptr) == STOMPWS_RESULT_OK, "debug");
    expect(stompws_config_set_event_callback(config, on_event, nullptr) == STOMPWS_RESULT_OK,
           "event callback");
    expect(stompws_config_set_connect_timeout(config, 0) == STOMPWS_RESULT_INVALID_ARGUMENT,
           "timeout 0");
    expect(!last_error().empty(), "last_error after a failure");

    stompws_client *client = nullptr;
    stompws_result r = stompws_client_connect("http://127.0.0.1/", config, &client);
    expect(r == STOMPWS_RESULT_INVALID_ARGUMENT && client == nullptr, "http:// refused");
    stompws_ack_mode mode = STOMPWS_ACK_MODE_CLIENT_INDIVIDUAL;
    expect(mode == 2, "ack mode value");
    stompws_config_free(config);

    std::printf("%s\n", failures ? "C++ checks failed" : "C++ checks passed");
    return failures ? 1 : 0;
}
