// The connection layer under ExtenderServer: cpp-httplib parses requests and routes them, but
// every byte it reads and every connection it keeps comes through here, so the limits hold for
// every route (verbs, metrics, probes, debug, 404/405) and cannot be bypassed by a route that
// reads its body itself:
//   - a connection cap (beyond it: 503 and close), one thread per open connection, so an idle or
//     slow connection never holds a thread another connection needs;
//   - a byte budget per request: the header section (request line + headers) gets maxHeaderBytes
//     (beyond: 431 and close); the body gets what the pre-route check allowed for its route
//     (beyond: the read fails, the answer is 413 and the connection closes);
//   - a deadline per request: the whole request must arrive within readTimeout (a slowloris
//     dribbling one byte per second is cut off), an idle keep-alive connection closes after
//     idleTimeout;
//   - closes that really close: a route that asks for it (RequestClose) ends the connection
//     after its answer, whatever bytes follow (no request smuggling behind a rejected body);
//     unread input is drained briefly after the answer so the peer reads it instead of a reset.
// TLS (and mTLS) is done here too, so the same loop serves HTTPS.
#pragma once

#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace kb::server {

struct ConnectionLimits {
  size_t max_connections = 512;
  size_t max_header_bytes = 16384;
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds write_timeout{10000};
  std::chrono::milliseconds idle_timeout{120000};
  size_t max_requests_per_connection = 1000;
};

// Why a connection layer rejected something; the label of
// kube_balancer_http_rejected_total{reason}.
enum class Rejection {
  kConnections,   // over maxConnections
  kHeaderBytes,   // header section over maxHeaderBytes
  kHeaderCount,   // more than maxHeaderCount header fields
  kBodyBytes,     // body (declared, chunked or decompressed) over the route's limit
  kEncoding,      // a Content-Encoding the route does not accept, or over the ratio cap
  kFraming,       // conflicting Content-Length / Transfer-Encoding, a body on GET
  kReadTimeout,   // the request did not arrive within readTimeout
  kTlsHandshake,  // TLS handshake failed or timed out
};
inline constexpr size_t kRejectionCount = 8;
const char* RejectionName(Rejection r);

// The request-facing side of one connection, as cpp-httplib's Stream. Reads are buffered and
// counted against the current request's budget.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int fd, SSL* ssl, const ConnectionLimits& limits);

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return fd_; }

  // Starts a request: header budget, read deadline.
  void BeginRequest();
  // Allows `bytes` more bytes for the body (after the header section). `end_is_eof`: a request
  // without Content-Length or chunked encoding has no body, so its budget end reads as EOF
  // instead of an error.
  void AllowBody(size_t bytes, bool end_is_eof);
  // The connection ends after the current answer.
  void RequestClose() { close_requested_ = true; }
  bool close_requested() const { return close_requested_; }
  // True once the routes admitted the current request (AllowBody was called).
  bool admitted() const { return body_started_; }
  // Why the current request's reading failed (or nullptr).
  const Rejection* failure() const { return failed_ ? &failure_ : nullptr; }
  // Bytes of the current request's body read so far (raw, before decompression).
  size_t body_bytes_read() const { return body_started_ ? consumed_ - header_end_ : 0; }
  // True once bytes of an answer to the current request were written.
  bool answered() const { return written_ > 0; }
  // True when input is already buffered (a pipelined request).
  bool HasBufferedInput() const;
  // Writes a minimal error answer straight to the socket (no cpp-httplib involved).
  void WriteRawError(int code, const char* reason, const std::string& json_body);

 private:
  ssize_t Fill();  // one recv / SSL_read into the buffer; -1 on error, timeout or budget
  bool WaitReadable(std::chrono::steady_clock::time_point deadline) const;
  void Fail(Rejection r);

  int fd_;
  SSL* ssl_;
  const ConnectionLimits& limits_;
  std::unique_ptr<char[]> buf_;
  size_t buf_begin_ = 0, buf_end_ = 0;
  size_t consumed_ = 0;  // bytes handed to cpp-httplib for this request
  size_t written_ = 0;   // bytes written for this request
  size_t budget_ = 0;    // consumed_ may not exceed this
  size_t header_end_ = 0;
  bool body_started_ = false;
  bool end_is_eof_ = false;
  bool close_requested_ = false;
  bool failed_ = false;
  Rejection failure_ = Rejection::kBodyBytes;
  std::chrono::steady_clock::time_point deadline_{};
};

// The stream of the request being handled on this thread (handlers run on the connection's
// thread), or nullptr outside a request.
ConnectionStream* CurrentConnection();

// Observes rejections (for metrics and the log); called on connection threads.
using RejectionObserver = std::function<void(Rejection)>;

// cpp-httplib's Server with this connection loop. TLS when `ssl_ctx` is set (owned).
class ConnectionServer final : public httplib::Server {
 public:
  ConnectionServer(ConnectionLimits limits, SSL_CTX* ssl_ctx, RejectionObserver observer);
  ~ConnectionServer() override;

  // Stops the accept loop and wakes every idle connection so it closes; then joins.
  void Shutdown();
  size_t open_connections() const { return open_.load(); }

 private:
  bool process_and_close_socket(int sock) override;
  // Serves requests until the connection ends; true when it ended on a request to close (unread
  // input may remain: close lingering).
  bool ServeConnection(int sock, SSL* ssl);
  bool WaitForRequest(int sock, const ConnectionStream& stream) const;
  bool TlsHandshake(int sock, SSL* ssl);
  void Reject(Rejection r);

  ConnectionLimits limits_;
  SSL_CTX* ssl_ctx_;
  RejectionObserver observer_;
  std::atomic<size_t> open_{0};
  int stop_pipe_[2] = {-1, -1};
};

// The task queue behind ConnectionServer: one thread per accepted connection, created on demand
// and reused, at most `max_threads`; connections beyond that wait for a free thread (and are then
// rejected by the connection cap if it is still exceeded).
httplib::TaskQueue* NewConnectionThreads(size_t max_threads);

}  // namespace kb::server
