// Raw TCP helpers for the HTTP admission tests: bytes no well-behaved client would send.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace kb::server {

// A connected loopback socket to `port` (-1 on failure).
inline int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct RawResult {
  std::string received;     // every byte the server sent
  bool closed = false;      // the server closed the connection (EOF or reset)
  uint64_t bytes_sent = 0;  // what the sender managed to write before the server stopped it
  std::chrono::milliseconds elapsed{0};  // until closed (or the timeout)
};

// Sends what `produce` yields (called until it returns an empty string, or the socket fails)
// from a second thread, while reading the answer until the server closes or `timeout` passes.
inline RawResult RawExchange(int port, const std::function<std::string()>& produce,
                             std::chrono::milliseconds timeout) {
  RawResult result;
  const int fd = ConnectLoopback(port);
  if (fd < 0) return result;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::thread sender([&] {
    while (!stop.load()) {
      const std::string piece = produce();
      if (piece.empty()) break;
      size_t off = 0;
      while (off < piece.size() && !stop.load()) {
        pollfd pfd = {fd, POLLOUT, 0};
        if (::poll(&pfd, 1, 50) <= 0) continue;
        const ssize_t n = ::send(fd, piece.data() + off, piece.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;
        off += static_cast<size_t>(n);
        sent += static_cast<uint64_t>(n);
      }
    }
  });
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  char buf[65536];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd = {fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      result.closed = true;
      break;
    }
    result.received.append(buf, static_cast<size_t>(n));
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  stop = true;
  ::shutdown(fd, SHUT_RDWR);
  sender.join();
  ::close(fd);
  result.bytes_sent = sent.load();
  return result;
}

// Sends `bytes` once.
inline RawResult RawExchange(int port, const std::string& bytes,
                             std::chrono::milliseconds timeout) {
  bool done = false;
  return RawExchange(
      port,
      [&]() -> std::string {
        if (done) return "";
        done = true;
        return bytes;
      },
      timeout);
}

// The status lines ("HTTP/1.1 413 ...") in a received byte stream, in order.
inline std::vector<std::string> StatusLines(const std::string& received) {
  std::vector<std::string> out;
  for (size_t pos = received.find("HTTP/1.1 "); pos != std::string::npos;
       pos = received.find("HTTP/1.1 ", pos + 1)) {
    out.push_back(received.substr(pos, received.find("\r\n", pos) - pos));
  }
  return out;
}

}  // namespace kb::server
