/*
 * chat: chat.c in C++, with the wrapper of include/stompws.hpp.
 *
 * Subscribes to a topic with a lambda that prints every message arriving there, and
 * sends each line read from standard input to the same topic. At the end of input it
 * waits a little (-t, default 2000 ms) for its own lines to come back, so that
 *     printf 'hello\nworld\n' | ./chat-cpp
 * prints both lines, and then disconnects. Options as for the C examples (-h).
 */
#include "example.h" // the command line and environment, shared with the C examples

#include <stompws.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char **argv)
{
    struct example_options o; // "struct": a function has the same name
    if (example_options(argc, argv, &o,
                        "Sends each line of standard input to DESTINATION (default /topic/chat)\n"
                        "and prints every message arriving there; at end of input waits up to\n"
                        "MILLISECONDS (default 2000) for its own lines to come back.",
                        "/topic/chat", 0, 2000) != 0)
        return 2;

    try {
        stompws::Config config;
        config.login(o.login, o.passcode);
        if (o.ca_file)
            config.tls_ca_file(o.ca_file);
        stompws::Client client = stompws::Client::connect(o.url, config);
        std::cerr << "connected to " << o.url << " (STOMP " << client.version() << ")\n";

        // Declared before the subscription, so it outlives every call of the lambda: the
        // Subscription's destructor waits for a running call and stops further ones.
        std::atomic<unsigned long> received{0};

        // A topic drops what is sent while nobody listens, so the subscription must be in
        // place before the first line goes out: the receipt header makes subscribe wait
        // until the broker confirms it. The lambda runs on the client's dispatch thread;
        // its message is borrowed for the call (copy it to keep it).
        stompws::Subscription subscription = client.subscribe(
            o.destination,
            [&received](const stompws::Message &message) {
                std::cout << '<' << message.header("nick").value_or("someone") << "> "
                          << message.body() << std::endl;
                received++;
            },
            STOMPWS_ACK_MODE_AUTO, {{"receipt", "chat-subscribed"}});

        const stompws::Headers headers = {
            {"nick", o.login},
            {"content-type", "text/plain;charset=utf-8"},
        };
        unsigned long sent = 0;
        std::string line;
        while (std::getline(std::cin, line)) {
            if (!line.empty() && line.back() == '\r')
                line.pop_back();
            if (line.empty())
                continue;
            client.send(o.destination, line, headers);
            sent++;
        }

        // End of input: give our own lines time to come back before leaving.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeout_ms);
        while (received < sent && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        std::cerr << sent << " sent, " << received << " received\n";

        subscription.reset(); // no call of the lambda runs or will run after this
        client.disconnect(std::chrono::seconds(2));
        return 0;
    } catch (const stompws::Error &e) {
        // e.what(): the call, the result and the library's detail.
        std::cerr << "chat: " << e.what() << '\n';
        return 1;
    }
}
