#include "http/client_connection.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace tartan::http {

namespace {

std::string ErrnoText(int err) {
  char buf[128];
  // GNU strerror_r returns the text (possibly not in buf); thread-safe unlike strerror.
  return std::string(strerror_r(err, buf, sizeof buf));
}

// The oldest queued OpenSSL error, for messages; clears the thread's queue.
std::string TlsErrorText() {
  unsigned long e = ERR_get_error();
  std::string out;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out.empty() ? "unknown TLS error" : out;
}

int MillisUntil(Deadline deadline) {
  if (!deadline) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
}

bool IsIpLiteral(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

SSL* AsSsl(void* p) { return static_cast<SSL*>(p); }

// OpenSSL writes to the socket with write(2), which raises SIGPIPE on a connection the peer
// reset; that would kill a process that has not ignored SIGPIPE (tartand has; a test or tool
// using this library may not). While a TLS call runs, SIGPIPE is blocked in this thread, and
// one it raised is consumed before unblocking (the technique libpq uses).
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{};
        while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

}  // namespace

// ---- TlsContext -------------------------------------------------------------------------------

Result<std::shared_ptr<TlsContext>> TlsContext::Create(const TlsFiles& files, FlagNames names) {
  if (files.cert_file.empty() != files.key_file.empty()) {
    return Error::InvalidArgument(std::string(names.cert) + " and " + names.key +
                                  " must be given together");
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Error::Internal("TLS: cannot create a context: " + TlsErrorText());
  std::shared_ptr<TlsContext> out(new TlsContext());
  out->ctx_ = ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // Writes may be retried with a moved buffer after SSL_ERROR_WANT_WRITE. An idle connection
  // (the keep-alive pool, a quiet watch stream) gives back its ~34 KiB of record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_RELEASE_BUFFERS);
  if (!files.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, files.ca_file.c_str(), nullptr) != 1) {
      return Error::InvalidArgument(std::string("cannot read ") + names.ca + " " + files.ca_file +
                                    ": " + TlsErrorText());
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    return Error::Internal("TLS: cannot load the system's CA certificates: " + TlsErrorText());
  }
  if (!files.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1) {
      return Error::InvalidArgument(std::string("cannot read ") + names.cert + " " +
                                    files.cert_file + ": " + TlsErrorText());
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return Error::InvalidArgument(std::string("cannot read ") + names.key + " " + files.key_file +
                                    ": " + TlsErrorText());
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return Error::InvalidArgument(std::string(names.key) + " " + files.key_file +
                                    " does not belong to " + names.cert + " " + files.cert_file);
    }
  }
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

// ---- Connection -------------------------------------------------------------------------------

Connection::Connection(Connection&& o) noexcept
    : fd_(std::move(o.fd_)),
      ssl_(std::exchange(o.ssl_, nullptr)),
      clean_close_(std::exchange(o.clean_close_, false)) {}

Connection& Connection::operator=(Connection&& o) noexcept {
  if (this != &o) {
    SSL_free(AsSsl(ssl_));  // before the fd it uses
    ssl_ = std::exchange(o.ssl_, nullptr);
    fd_ = std::move(o.fd_);
    clean_close_ = std::exchange(o.clean_close_, false);
  }
  return *this;
}

Connection::~Connection() { SSL_free(AsSsl(ssl_)); }

Status Connection::Wait(bool for_write, Deadline deadline, std::span<const int> cancel_fds) const {
  std::vector<pollfd> fds;
  fds.reserve(1 + cancel_fds.size());
  fds.push_back({fd_.get(), static_cast<short>(for_write ? POLLOUT : POLLIN), 0});
  for (int c : cancel_fds) fds.push_back({c, POLLIN, 0});
  while (true) {
    const int timeout = MillisUntil(deadline);
    const int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::Unavailable("poll: " + ErrnoText(errno));
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) return Error::Cancelled("cancelled");
    }
    if (n == 0) return Error::DeadlineExceeded("timed out");
    return Status::Ok();  // readable/writable, or an error the next I/O call reports
  }
}

Result<Connection> Connection::Open(const std::string& host, int port,
                                    const std::shared_ptr<TlsContext>& tls,
                                    Deadline connect_deadline, Deadline handshake_deadline,
                                    std::span<const int> cancel_fds) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;  // not AI_ADDRCONFIG: it drops 127.0.0.1 in a netns with only lo
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return Error::Unavailable("cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addrs(res, &freeaddrinfo);

  std::string failure = "no address";
  Connection c;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) {
      failure = "socket: " + ErrnoText(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // A member that vanished without closing TCP (power loss, partition) is noticed after
    // ~10 s idle + 4 unanswered probes 5 s apart, with nothing sent to etcd itself.
    const int idle = 10, interval = 5, count = 4;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    // Unacknowledged data (a request to a dead member) fails the socket after 30 s.
    const unsigned int user_timeout_ms = 30000;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
    c.fd_ = std::move(fd);
    if (::connect(c.fd_.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        failure = "connect: " + ErrnoText(errno);
        continue;
      }
      if (auto w = c.Wait(/*for_write=*/true, connect_deadline, cancel_fds); !w) {
        if (w.error().code == Error::Code::kCancelled) return w.error();
        failure = "connect: " + w.error().message;
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        failure = "connect: " + ErrnoText(err);
        continue;
      }
    }
    failure.clear();
    break;
  }
  if (!failure.empty()) return Error::Unavailable(failure);
  if (!tls) return c;

  ERR_clear_error();
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(tls->native()));
  if (ssl == nullptr) return Error::Internal("TLS: " + TlsErrorText());
  c.ssl_ = ssl;
  SSL_set_fd(ssl, c.fd_.get());
  // Without the expected name or address set, the handshake would accept any certificate the
  // CA signed: refuse rather than connect unverified.
  const bool verify_set =
      IsIpLiteral(host) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1
                        : SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 &&
                              SSL_set1_host(ssl, host.c_str()) == 1;
  if (!verify_set) {
    return Error::Internal("TLS: cannot set the expected server name " + host + ": " +
                           TlsErrorText());
  }
  while (true) {
    int rc;
    {
      SigpipeGuard guard;
      rc = SSL_connect(ssl);
    }
    if (rc == 1) break;
    const int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (auto w = c.Wait(err == SSL_ERROR_WANT_WRITE, handshake_deadline, cancel_fds); !w) {
        if (w.error().code == Error::Code::kCancelled) return w.error();
        return Error::Unavailable("TLS handshake: " + w.error().message);
      }
      continue;
    }
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      return Error::Unavailable(std::string("TLS handshake: server certificate not trusted: ") +
                                X509_verify_cert_error_string(verify));
    }
    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
      return Error::Unavailable(
          "TLS handshake: the server closed the connection (does it require a client "
          "certificate?)");
    }
    return Error::Unavailable("TLS handshake: " + TlsErrorText());
  }
  return c;
}

Status Connection::WriteAll(std::string_view data, Deadline deadline,
                            std::span<const int> cancel_fds) {
  while (!data.empty()) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n;
      {
        SigpipeGuard guard;
        n = SSL_write(AsSsl(ssl_), data.data(),
                      static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
      }
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      const int err = SSL_get_error(AsSsl(ssl_), n);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        return Error::Unavailable("TLS write: " + TlsErrorText());
      }
      if (auto w = Wait(err == SSL_ERROR_WANT_WRITE, deadline, cancel_fds); !w) return w;
      continue;
    }
    const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Error::Unavailable("send: " + ErrnoText(errno));
    }
    if (auto w = Wait(/*for_write=*/true, deadline, cancel_fds); !w) return w;
  }
  return Status::Ok();
}

Result<size_t> Connection::Read(char* buf, size_t cap, Deadline deadline,
                                std::span<const int> cancel_fds) {
  while (true) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      int n;
      {
        SigpipeGuard guard;
        n = SSL_read(AsSsl(ssl_), buf, static_cast<int>(std::min<size_t>(cap, 1 << 30)));
      }
      if (n > 0) return static_cast<size_t>(n);
      const int err = SSL_get_error(AsSsl(ssl_), n);
      if (err == SSL_ERROR_ZERO_RETURN) {
        clean_close_ = true;
        return size_t{0};
      }
      // A peer that closes TCP without close_notify (OpenSSL 1.1 reports it as a bare
      // SSL_ERROR_SYSCALL, 3.x as SSL_R_UNEXPECTED_EOF_WHILE_READING): whatever was being read
      // may be cut short by someone other than the peer, so it is an error, not an end.
      if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        return Error::Unavailable("TLS read: the connection was closed without close_notify");
      }
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        return Error::Unavailable("TLS read: " + TlsErrorText());
      }
      if (auto w = Wait(err == SSL_ERROR_WANT_WRITE, deadline, cancel_fds); !w) return w.error();
      continue;
    }
    const ssize_t n = ::recv(fd_.get(), buf, cap, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return Error::Unavailable("recv: " + ErrnoText(errno));
    }
    if (auto w = Wait(/*for_write=*/false, deadline, cancel_fds); !w) return w.error();
  }
}

}  // namespace tartan::http
