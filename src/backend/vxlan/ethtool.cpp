#include "backend/vxlan/ethtool.hpp"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "common/unique_fd.hpp"

namespace tartan::backend {

Status SetTxChecksumOffload(const std::string& dev, bool on) {
  if (dev.size() >= IFNAMSIZ) return Error::InvalidArgument("interface name too long: " + dev);
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::Internal("socket: " + std::system_category().message(errno));
  ethtool_value value{};
  value.cmd = ETHTOOL_STXCSUM;
  value.data = on ? 1 : 0;
  ifreq req{};
  std::memcpy(req.ifr_name, dev.c_str(), dev.size() + 1);
  req.ifr_data = reinterpret_cast<char*>(&value);
  if (::ioctl(fd.get(), SIOCETHTOOL, &req) != 0) {
    return Error::Unavailable("ethtool -K " + dev + " tx " + (on ? "on" : "off") + ": " +
                              std::system_category().message(errno));
  }
  return Status::Ok();
}

Result<bool> GetTxChecksumOffload(const std::string& dev) {
  if (dev.size() >= IFNAMSIZ) return Error::InvalidArgument("interface name too long: " + dev);
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::Internal("socket: " + std::system_category().message(errno));
  ethtool_value value{};
  value.cmd = ETHTOOL_GTXCSUM;
  ifreq req{};
  std::memcpy(req.ifr_name, dev.c_str(), dev.size() + 1);
  req.ifr_data = reinterpret_cast<char*>(&value);
  if (::ioctl(fd.get(), SIOCETHTOOL, &req) != 0) {
    const int err = errno;
    if (err == ENODEV) return Error::NotFound(dev + ": no such device");
    return Error::Unavailable("ethtool -k " + dev + ": " + std::system_category().message(err));
  }
  return value.data != 0;
}

}  // namespace tartan::backend
