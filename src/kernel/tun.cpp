#include "kernel/tun.hpp"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "kernel/message.hpp"

namespace tartan::kernel {

Result<TunDevice> TunDevice::Open(std::string_view name, bool non_blocking, int extra_flags) {
  std::string what = "creating tun device \"" + std::string(name) + "\"";
  if (name.size() >= IFNAMSIZ) return Error::InvalidArgument(what + ": name too long");
  int flags = O_RDWR | O_CLOEXEC | (non_blocking ? O_NONBLOCK : 0);
  UniqueFd fd(::open("/dev/net/tun", flags));
  if (!fd.valid()) return nl::ErrnoError(errno, what + ": opening /dev/net/tun");
  ifreq ifr{};
  ifr.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI | extra_flags);
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return nl::ErrnoError(errno, what);
  return TunDevice(std::move(fd), std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ)));
}

}  // namespace tartan::kernel
