// Built by tests/install/CMakeLists.txt against an installed stompws (find_package),
// through the C++ wrapper.
//
// Usage: app_cpp URL QUEUE   connects as guest/guest, subscribes to QUEUE, sends a
//                            message there and prints the one it receives back.
// Exits 0 when the message came back intact, 1 otherwise.
#include <chrono>
#include <iostream>
#include <string_view>

#include <stompws.hpp>

int main(int argc, char **argv)
{
    if (argc != 3) {
        std::cerr << "usage: app_cpp URL QUEUE\n";
        return 2;
    }
    constexpr std::string_view text = "installed through CMake, from C++";
    try {
        std::cout << "stompws " << stompws_version() << '\n';
        auto client = stompws::Client::connect(argv[1], stompws::Config().login("guest", "guest"));
        std::cout << "connected (STOMP " << client.version() << ")\n";
        auto sub = client.subscribe(argv[2]);
        client.send_with_receipt(argv[2], text);
        auto msg = sub.receive(std::chrono::seconds(10));
        if (!msg) {
            std::cerr << "no message within 10 s\n";
            return 1;
        }
        if (msg->body() != text) {
            std::cerr << "received a different body: " << msg->body() << '\n';
            return 1;
        }
        std::cout << "received: " << msg->body() << '\n';
        client.disconnect();
    } catch (const stompws::Error &e) {
        std::cerr << "stompws::Error " << e.code() << ": " << e.what() << '\n';
        return 1;
    }
    return 0;
}
