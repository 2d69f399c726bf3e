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

Result<std::vector<TunDevice>> TunDevice::OpenQueues(std::string_view name, size_t queues,
                                                     int extra_flags) {
  if (queues == 0) queues = 1;
  const int mq = queues > 1 ? IFF_MULTI_QUEUE : 0;
  std::vector<TunDevice> out;
  out.reserve(queues);
  // The first open must create the device: IFF_TUN_EXCL refuses one that exists (a flanneld's
  // flannel0, or another tartand's). The next ones attach to the device just made.
  auto first = Open(name, true, extra_flags | mq | IFF_TUN_EXCL);
  if (!first.ok()) return first.error();
  const std::string made = first->name();
  out.push_back(std::move(*first));
  for (size_t q = 1; q < queues; ++q) {
    auto more = Open(made, true, extra_flags | mq);
    if (!more.ok()) {
      return Error{more.error().code, more.error().message + " (queue " + std::to_string(q) + ")"};
    }
    out.push_back(std::move(*more));
  }
  return out;
}

}  // namespace tartan::kernel
