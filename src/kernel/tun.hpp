// A TUN device owned by this process (flannel's udp backend: flannel0, IFF_TUN|IFF_NO_PI).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace tartan::kernel {

// The device exists while the fd is open: destroying (or moving from) the TunDevice closes
// it and the kernel removes the link, as it does for flanneld's flannel0 when it exits.
class TunDevice {
 public:
  // Opens /dev/net/tun and creates `name` (IFF_TUN | IFF_NO_PI: bare IP packets, no
  // protocol header). An empty name lets the kernel pick "tunN". `non_blocking` sets
  // O_NONBLOCK for use with poll/epoll.
  // `extra_flags` are added to TUNSETIFF's (IFF_VNET_HDR, IFF_MULTI_QUEUE).
  static Result<TunDevice> Open(std::string_view name, bool non_blocking = true,
                                int extra_flags = 0);

  // Creates `name` with `queues` queues, one fd each (IFF_MULTI_QUEUE when queues > 1, so that
  // the kernel spreads the flows it routes into the device over the queues; one queue is the
  // single-queue device flanneld makes). Fails (EBUSY) when a device of that name exists
  // already (IFF_TUN_EXCL): with IFF_MULTI_QUEUE the kernel would otherwise attach our queues
  // to another process's device. The device lives until the last
  // fd is closed.
  static Result<std::vector<TunDevice>> OpenQueues(std::string_view name, size_t queues,
                                                   int extra_flags = 0);

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

 private:
  TunDevice(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  UniqueFd fd_;
  std::string name_;
};

}  // namespace tartan::kernel
