#include "server/http_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace kb::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kBufferBytes = 16 * 1024;
// After an answer that closes the connection, unread input is drained for at most this long /
// this much, so the peer sees the answer rather than a reset caused by unread bytes.
constexpr auto kLingerTime = std::chrono::milliseconds(500);
constexpr size_t kLingerBytes = 256 * 1024;

thread_local ConnectionStream* current_stream = nullptr;

int RemainingMillis(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

void AddrToString(const sockaddr_storage& addr, std::string& ip, int& port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    port = ntohs(a->sin6_port);
  }
  ip = buf;
}

// Half-closes, drains what the peer still sends for a short while, then closes.
void LingeringClose(int sock, SSL* ssl) {
  if (ssl != nullptr) SSL_shutdown(ssl);
  ::shutdown(sock, SHUT_WR);
  const auto deadline = Clock::now() + kLingerTime;
  char buf[4096];
  size_t drained = 0;
  while (drained < kLingerBytes) {
    pollfd pfd = {sock, POLLIN, 0};
    if (::poll(&pfd, 1, RemainingMillis(deadline)) <= 0) break;
    const ssize_t n = ::recv(sock, buf, sizeof(buf), 0);
    if (n <= 0) break;
    drained += static_cast<size_t>(n);
  }
  ::close(sock);
}

class ConnectionThreads final : public httplib::TaskQueue {
 public:
  explicit ConnectionThreads(size_t max_threads) : max_threads_(std::max<size_t>(1, max_threads)) {}
  ~ConnectionThreads() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.push_back(std::move(fn));
    if (idle_ < jobs_.size() && threads_.size() < max_threads_) {
      threads_.emplace_back([this] { Work(); });
    } else {
      cv_.notify_one();
    }
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      ++idle_;
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      --idle_;
      if (jobs_.empty()) return;  // stopping
      std::function<void()> fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
      lock.lock();
    }
  }

  const size_t max_threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // Guarded by mu_.
  std::vector<std::thread> threads_;        // Guarded by mu_ (grown), joined at shutdown.
  size_t idle_ = 0;                         // Guarded by mu_.
  bool stopping_ = false;                   // Guarded by mu_.
};

}  // namespace

const char* RejectionName(Rejection r) {
  switch (r) {
    case Rejection::kConnections:
      return "connections";
    case Rejection::kHeaderBytes:
      return "header_bytes";
    case Rejection::kHeaderCount:
      return "header_count";
    case Rejection::kBodyBytes:
      return "body_bytes";
    case Rejection::kEncoding:
      return "encoding";
    case Rejection::kFraming:
      return "framing";
    case Rejection::kReadTimeout:
      return "read_timeout";
    case Rejection::kTlsHandshake:
      return "tls_handshake";
  }
  return "other";
}

ConnectionStream* CurrentConnection() { return current_stream; }

httplib::TaskQueue* NewConnectionThreads(size_t max_threads) {
  return new ConnectionThreads(max_threads);
}

// --- ConnectionStream ---

ConnectionStream::ConnectionStream(int fd, SSL* ssl, const ConnectionLimits& limits)
    : fd_(fd), ssl_(ssl), limits_(limits), buf_(new char[kBufferBytes]) {}

void ConnectionStream::BeginRequest() {
  written_ = 0;
  consumed_ = 0;
  budget_ = limits_.max_header_bytes;
  header_end_ = 0;
  body_started_ = false;
  end_is_eof_ = false;
  failed_ = false;
  deadline_ = Clock::now() + limits_.read_timeout;
}

void ConnectionStream::AllowBody(size_t bytes, bool end_is_eof) {
  header_end_ = consumed_;
  body_started_ = true;
  budget_ = consumed_ + bytes;
  end_is_eof_ = end_is_eof;
}

bool ConnectionStream::HasBufferedInput() const {
  return buf_end_ > buf_begin_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0);
}

bool ConnectionStream::WaitReadable(Clock::time_point deadline) const {
  if (HasBufferedInput()) return true;
  pollfd pfd = {fd_, POLLIN, 0};
  for (;;) {
    const int r = ::poll(&pfd, 1, RemainingMillis(deadline));
    if (r > 0) return true;
    if (r == 0 || errno != EINTR) return false;
  }
}

bool ConnectionStream::is_readable() const { return WaitReadable(deadline_); }

bool ConnectionStream::is_writable() const {
  pollfd pfd = {fd_, POLLOUT, 0};
  return ::poll(&pfd, 1, static_cast<int>(limits_.write_timeout.count())) > 0;
}

void ConnectionStream::Fail(Rejection r) {
  if (!failed_) {
    failed_ = true;
    failure_ = r;
  }
  close_requested_ = true;
}

ssize_t ConnectionStream::Fill() {
  if (!WaitReadable(deadline_)) {
    Fail(Rejection::kReadTimeout);
    return -1;
  }
  ssize_t n;
  if (ssl_ != nullptr) {
    n = SSL_read(ssl_, buf_.get(), static_cast<int>(kBufferBytes));
    if (n <= 0) return SSL_get_error(ssl_, static_cast<int>(n)) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
  } else {
    do {
      n = ::recv(fd_, buf_.get(), kBufferBytes, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
  }
  buf_begin_ = 0;
  buf_end_ = static_cast<size_t>(n);
  return n;
}

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  if (failed_) return -1;
  if (consumed_ >= budget_) {
    if (body_started_ && end_is_eof_) return 0;
    Fail(body_started_ ? Rejection::kBodyBytes : Rejection::kHeaderBytes);
    return -1;
  }
  if (buf_begin_ == buf_end_) {
    const ssize_t n = Fill();
    if (n <= 0) return n;
  }
  const size_t n = std::min({size, buf_end_ - buf_begin_, budget_ - consumed_});
  std::memcpy(ptr, buf_.get() + buf_begin_, n);
  buf_begin_ += n;
  consumed_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  size_t written = 0;
  while (written < size) {
    if (!is_writable()) return written > 0 ? static_cast<ssize_t>(written) : -1;
    ssize_t n;
    if (ssl_ != nullptr) {
      n = SSL_write(ssl_, ptr + written,
                    static_cast<int>(std::min<size_t>(size - written, 1 << 30)));
      if (n <= 0) {
        const int err = SSL_get_error(ssl_, static_cast<int>(n));
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) continue;
        return -1;
      }
    } else {
      n = ::send(fd_, ptr + written, size - written, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return -1;
      }
    }
    written += static_cast<size_t>(n);
  }
  written_ += written;
  return static_cast<ssize_t>(written);
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  port = -1;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    AddrToString(addr, ip, port);
  }
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  port = -1;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    AddrToString(addr, ip, port);
  }
}

void ConnectionStream::WriteRawError(int code, const char* reason, const std::string& json_body) {
  const std::string response = "HTTP/1.1 " + std::to_string(code) + " " + reason +
                               "\r\nContent-Type: application/json; charset=utf-8\r\n"
                               "Content-Length: " +
                               std::to_string(json_body.size()) + "\r\nConnection: close\r\n\r\n" +
                               json_body;
  close_requested_ = true;
  (void)write(response.data(), response.size());
}

// --- ConnectionServer ---

ConnectionServer::ConnectionServer(ConnectionLimits limits, SSL_CTX* ssl_ctx,
                                   RejectionObserver observer)
    : limits_(limits), ssl_ctx_(ssl_ctx), observer_(std::move(observer)) {
  if (::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
}

ConnectionServer::~ConnectionServer() {
  if (ssl_ctx_ != nullptr) SSL_CTX_free(ssl_ctx_);
  for (int fd : stop_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

void ConnectionServer::Shutdown() {
  if (stop_pipe_[1] >= 0) {
    const char c = 1;
    (void)!::write(stop_pipe_[1], &c, 1);
  }
  stop();
}

void ConnectionServer::Reject(Rejection r) {
  if (observer_) observer_(r);
}

bool ConnectionServer::TlsHandshake(int sock, SSL* ssl) {
  // Non-blocking, so the whole handshake (not each read) is bounded by readTimeout.
  const int flags = ::fcntl(sock, F_GETFL, 0);
  ::fcntl(sock, F_SETFL, flags | O_NONBLOCK);
  const auto deadline = Clock::now() + limits_.read_timeout;
  bool ok = false;
  for (;;) {
    const int r = SSL_accept(ssl);
    if (r == 1) {
      ok = true;
      break;
    }
    const int err = SSL_get_error(ssl, r);
    short events = err == SSL_ERROR_WANT_READ ? POLLIN : err == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (events == 0) break;
    pollfd pfd = {sock, events, 0};
    if (::poll(&pfd, 1, RemainingMillis(deadline)) <= 0) break;
  }
  ERR_clear_error();
  ::fcntl(sock, F_SETFL, flags);
  return ok;
}

bool ConnectionServer::WaitForRequest(int sock, const ConnectionStream& stream) const {
  if (stream.HasBufferedInput()) return true;
  pollfd pfds[2] = {{sock, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
  const auto deadline = Clock::now() + limits_.idle_timeout;
  for (;;) {
    const int r = ::poll(pfds, stop_pipe_[0] >= 0 ? 2 : 1, RemainingMillis(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || (pfds[1].revents & POLLIN) != 0) return false;
    return (pfds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
  }
}

bool ConnectionServer::ServeConnection(int sock, SSL* ssl) {
  ConnectionStream stream(sock, ssl, limits_);
  current_stream = &stream;
  for (size_t served = 0; served < limits_.max_requests_per_connection; ++served) {
    if (svr_sock_ == INVALID_SOCKET || !WaitForRequest(sock, stream)) break;
    stream.BeginRequest();
    bool connection_closed = false;
    const bool last = served + 1 == limits_.max_requests_per_connection;
    const bool ok = process_request(stream, last, connection_closed, nullptr);
    if (const Rejection* r = stream.failure()) {
      Reject(*r);
      // cpp-httplib gives up silently when the request line itself cannot be read: say why.
      if (!stream.answered() && *r == Rejection::kHeaderBytes) {
        stream.WriteRawError(431, "Request Header Fields Too Large",
                             R"({"Error":"request header section exceeds maxHeaderBytes"})");
      } else if (!stream.answered() && *r == Rejection::kReadTimeout) {
        stream.WriteRawError(408, "Request Timeout",
                             R"({"Error":"request not received within readTimeout"})");
      }
    }
    // A request answered without reaching the routes (malformed request line or headers, 414,
    // a refused Expect) may have left a body unread: nothing after it can be trusted.
    if (!stream.admitted()) stream.RequestClose();
    if (!ok || connection_closed || stream.close_requested()) break;
  }
  current_stream = nullptr;
  return stream.close_requested();
}

bool ConnectionServer::process_and_close_socket(int sock) {
  struct Open {
    std::atomic<size_t>& n;
    ~Open() { --n; }
  } open{open_};
  const size_t now_open = ++open_;
  if (now_open > limits_.max_connections) {
    Reject(Rejection::kConnections);
    if (ssl_ctx_ == nullptr) {
      // Best effort and without waiting: a connection over the cap must not hold a thread.
      static constexpr char kAnswer[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
          "Content-Length: 54\r\nConnection: close\r\n\r\n"
          R"json({"Error":"too many open connections (maxConnections)"})json";
      (void)!::send(sock, kAnswer, sizeof(kAnswer) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      // Read what already arrived, so closing does not reset the connection under the answer.
      char buf[4096];
      while (::recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
      }
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return false;
  }
  // Bounds blocking TLS record reads and every send.
  const auto to_timeval = [](std::chrono::milliseconds d) {
    return timeval{static_cast<time_t>(d.count() / 1000),
                   static_cast<suseconds_t>((d.count() % 1000) * 1000)};
  };
  const timeval rcv = to_timeval(limits_.read_timeout), snd = to_timeval(limits_.write_timeout);
  ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
  ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
  SSL* ssl = nullptr;
  if (ssl_ctx_ != nullptr) {
    ssl = SSL_new(ssl_ctx_);
    if (ssl == nullptr || SSL_set_fd(ssl, sock) != 1 || !TlsHandshake(sock, ssl)) {
      Reject(Rejection::kTlsHandshake);
      if (ssl != nullptr) SSL_free(ssl);
      ::shutdown(sock, SHUT_RDWR);
      ::close(sock);
      return false;
    }
  }
  if (ServeConnection(sock, ssl)) {
    LingeringClose(sock, ssl);
  } else {
    if (ssl != nullptr) SSL_shutdown(ssl);
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  if (ssl != nullptr) SSL_free(ssl);
  return true;
}

}  // namespace kb::server
