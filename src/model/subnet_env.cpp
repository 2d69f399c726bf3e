#include "model/subnet_env.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>
#include <vector>

namespace tartan::model {
namespace {

// A file larger than this is not a subnet.env; refusing it bounds what a bad path costs.
constexpr size_t kMaxFileSize = 64 * 1024;

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(o.Release());
    return *this;
  }
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  // close() can report a deferred write error (NFS); the writer wants to see it.
  int Close() {
    int fd = Release();
    return fd >= 0 ? ::close(fd) : 0;
  }

 private:
  int fd_;
};

// Removes the temp file unless the rename succeeded.
class TempFileGuard {
 public:
  explicit TempFileGuard(std::string path) : path_(std::move(path)) {}
  TempFileGuard(const TempFileGuard&) = delete;
  TempFileGuard& operator=(const TempFileGuard&) = delete;
  ~TempFileGuard() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  void Dismiss() { path_.clear(); }

 private:
  std::string path_;
};

Error ErrnoError(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return Error::NotFound(msg);
  if (err == EACCES || err == EPERM || err == EROFS) return Error::PermissionDenied(msg);
  return Error::Internal(msg);
}

// Go's net.IP prints an IPv4-mapped IPv6 address as a dotted quad, which no reader takes
// back as IPv6; no pod network is ever IPv4-mapped, so the reader refuses one.
bool IsIpv4Mapped(const net::Ip6& ip) {
  const auto& b = ip.bytes();
  for (int i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

net::Ip6 AddOne(net::Ip6 ip) {
  net::Ip6::Bytes b = ip.bytes();
  for (int i = 15; i >= 0; --i) {
    if (++b[i] != 0) break;
  }
  return net::Ip6(b);
}

// flannel writes the subnet's first address (.1), the bridge gateway. A /32 (/128) has no
// address after its network address, so the network address itself is written; the reader
// maps either form back to the same subnet.
std::string GatewayForm(const net::Ip4Net& subnet) {
  net::Ip4Net n = subnet.Network();
  if (n.prefix_len() == 32) return n.ToString();
  return net::Ip4Net(net::Ip4(n.ip().value() + 1), n.prefix_len()).ToString();
}

std::string GatewayForm(const net::Ip6Net& subnet) {
  net::Ip6Net n = subnet.Network();
  if (n.prefix_len() == 128) return n.ToString();
  return net::Ip6Net(AddOne(n.ip()), n.prefix_len()).ToString();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// The flannel CNI plugin reads FLANNEL_IPMASQ with Go's strconv.ParseBool.
std::optional<bool> ParseGoBool(std::string_view s) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (s == t) return true;
  }
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (s == f) return false;
  }
  return std::nullopt;
}

std::optional<int> ParseMtu(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  long long v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || v > INT_MAX) return std::nullopt;
  return static_cast<int>(v);
}

}  // namespace

std::string SubnetEnv::Format() const {
  std::string out;
  if (network) out += "FLANNEL_NETWORK=" + network->Network().ToString() + "\n";
  if (subnet) out += "FLANNEL_SUBNET=" + GatewayForm(*subnet) + "\n";
  if (ipv6_network) out += "FLANNEL_IPV6_NETWORK=" + ipv6_network->Network().ToString() + "\n";
  if (ipv6_subnet) out += "FLANNEL_IPV6_SUBNET=" + GatewayForm(*ipv6_subnet) + "\n";
  out += "FLANNEL_MTU=" + std::to_string(mtu) + "\n";
  out += std::string("FLANNEL_IPMASQ=") + (ipmasq ? "true" : "false") + "\n";
  return out;
}

Result<SubnetEnv> SubnetEnv::Parse(std::string_view text) {
  SubnetEnv env;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;

    std::string_view line = Trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](const std::string& why) {
      std::string shown(line.substr(0, 80));
      for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
      }
      return Error::InvalidArgument("subnet.env line " + std::to_string(line_no) + " \"" + shown +
                                    "\": " + why);
    };
    // dotenv readers (the CNI plugin's included) accept "export KEY=VALUE".
    if (line.substr(0, 7) == "export ") line = Trim(line.substr(7));
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) return bad("expected KEY=VALUE");
    std::string_view key = Trim(line.substr(0, eq));
    std::string_view value = Trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }

    if (key == "FLANNEL_NETWORK") {
      auto n = net::Ip4Net::Parse(value);
      if (!n) return bad(n.error().message);
      env.network = n->Network();
    } else if (key == "FLANNEL_SUBNET") {
      auto n = net::Ip4Net::Parse(value);
      if (!n) return bad(n.error().message);
      env.subnet = n->Network();
    } else if (key == "FLANNEL_IPV6_NETWORK" || key == "FLANNEL_IPV6_SUBNET") {
      auto n = net::Ip6Net::Parse(value);
      if (!n) return bad(n.error().message);
      net::Ip6Net canonical = n->Network();
      if (IsIpv4Mapped(canonical.ip())) {
        return bad("IPv4-mapped IPv6 network");
      }
      (key == "FLANNEL_IPV6_NETWORK" ? env.ipv6_network : env.ipv6_subnet) = canonical;
    } else if (key == "FLANNEL_MTU") {
      auto mtu = ParseMtu(value);
      if (!mtu) return bad("MTU must be a non-negative integer");
      env.mtu = *mtu;
    } else if (key == "FLANNEL_IPMASQ") {
      auto masq = ParseGoBool(value);
      if (!masq) return bad("expected true or false");
      env.ipmasq = *masq;
    }
  }
  return env;
}

namespace {

// mkdir -p with mode 0755 on every directory it creates (chmod'ed, so the umask does not
// narrow it: the CNI plugin may run as another user and must be able to reach the file).
Status MakeParents(const std::string& dir) {
  if (dir.empty()) return Status::Ok();
  std::vector<std::string> to_create;
  std::string cur = dir;
  while (!cur.empty() && cur != "/" && cur != ".") {
    struct stat st;
    if (::stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return ErrnoError("creating directory", cur, ENOTDIR);
      break;
    }
    if (errno != ENOENT) return ErrnoError("checking directory", cur, errno);
    to_create.push_back(cur);
    size_t slash = cur.find_last_of('/');
    if (slash == std::string::npos) break;
    cur = cur.substr(0, slash);
    while (cur.size() > 1 && cur.back() == '/') cur.pop_back();
    if (cur.empty()) cur = "/";
  }
  for (auto it = to_create.rbegin(); it != to_create.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0) {
      if (errno == EEXIST) continue;  // created concurrently
      return ErrnoError("creating directory", *it, errno);
    }
    if (::chmod(it->c_str(), 0755) != 0) return ErrnoError("setting mode of", *it, errno);
  }
  return Status::Ok();
}

}  // namespace

Status WriteSubnetEnv(const std::string& path, const SubnetEnv& env) {
  if (path.empty() || path.back() == '/') {
    return Error::InvalidArgument("subnet file path \"" + path + "\" does not name a file");
  }
  size_t slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (Status s = MakeParents(dir); !s.ok()) return s.error().Context("writing " + path);

  // The temp file lives in the target's directory so rename() is atomic (same filesystem);
  // a reader sees the old file or the new one, never a partial write.
  std::string tmpl = path + ".tmpXXXXXX";
  std::vector<char> tmp_path(tmpl.begin(), tmpl.end());
  tmp_path.push_back('\0');
  UniqueFd fd(::mkostemp(tmp_path.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("creating temp file for", path, errno);
  const std::string tmp(tmp_path.data());
  TempFileGuard guard(tmp);

  const std::string content = env.Format();
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("writing", tmp, errno);
    }
    done += static_cast<size_t>(n);
  }
  // mkstemp creates 0600; readers (docker, the CNI plugin) need 0644 whatever the umask.
  if (::fchmod(fd.get(), 0644) != 0) return ErrnoError("setting mode of", tmp, errno);
  if (::fsync(fd.get()) != 0) return ErrnoError("syncing", tmp, errno);
  if (fd.Close() != 0) return ErrnoError("closing", tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("renaming over", path, errno);
  guard.Dismiss();

  // Make the rename itself durable. Some filesystems refuse fsync on a directory; the file
  // is in place either way, so a failure here is not reported.
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.valid()) (void)::fsync(dfd.get());
  return Status::Ok();
}

Result<SubnetEnv> ReadSubnetEnv(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError("opening", path, errno);
  std::string content;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("reading", path, errno);
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > kMaxFileSize) {
      return Error::InvalidArgument("reading " + path + ": larger than " +
                                    std::to_string(kMaxFileSize) + " bytes");
    }
  }
  auto env = SubnetEnv::Parse(content);
  if (!env) return env.error().Context("reading " + path);
  return env;
}

}  // namespace tartan::model
