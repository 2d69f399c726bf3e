// Offloads for the udp backend's packet path, free of I/O like packet.hpp.
//
// flannel0 is opened with IFF_VNET_HDR and TSO: the kernel hands the workers TCP packets of up
// to 64 KiB (one virtio_net_hdr in front) instead of MTU-sized ones, and accepts such packets
// back. The wire does not change: SegmentTcp4 cuts a large packet into the MTU-sized IPv4
// packets flannel sends (each a complete packet with its own checksums, so any peer, flanneld
// included, reads plain datagrams), sent in one UDP_SEGMENT call; on the way in, TcpCoalescer
// joins consecutive segments of one TCP stream back into one large packet for a single TUN
// write.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace tartan::backend::udp {

// struct virtio_net_hdr (little endian, as TUN uses it on little-endian hosts).
struct VnetHdr {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;
  uint16_t gso_size = 0;
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
};
static_assert(sizeof(VnetHdr) == 10);
inline constexpr uint8_t kVnetNeedsCsum = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
inline constexpr uint8_t kVnetDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint8_t kGsoTcp4 = 1;

// Ones' complement sum of `data` added to `initial` (both as big-endian 16-bit values), folded,
// not complemented. Word at a time: the packet path sums every byte it segments.
uint16_t SumFolded(std::span<const uint8_t> data, uint32_t initial = 0);

// Completes the checksum the kernel left partial (NEEDS_CSUM): the field at
// csum_start + csum_offset holds the pseudo-header sum. False when the offsets do not fit.
bool FinishChecksum(std::span<uint8_t> packet, size_t csum_start, size_t csum_offset);

struct SegmentPlan {
  size_t header_len = 0;  // IP + TCP headers of each segment
  size_t mss = 0;
  size_t count = 0;  // 0 = not segmentable (or `headers` too small)
  size_t payload = 0;
};
// The segmentation below without copying payloads, for the packet path: writes the `count`
// segments' headers back to back into `headers` (`header_len` bytes each), every field and
// both checksums computed; segment i's payload is the input's bytes from header_len + i * mss,
// min(mss, payload - i * mss) of them. The caller sends [header i, payload i] pairs as iovecs.
SegmentPlan SegmentTcp4Headers(std::span<const uint8_t> in, size_t mss, std::span<uint8_t> headers);

struct Segments {
  size_t bytes = 0;        // written to `out`, packets back to back; 0 = not segmentable
  size_t segment_len = 0;  // length of every packet but the last (which may be shorter)
  size_t count = 0;
};
// Cuts a TCPv4 packet of up to 64 KiB into packets carrying at most `mss` payload bytes each,
// with the sequence numbers, IP ids, lengths and both checksums of each computed, FIN/PSH only
// on the last and CWR only on the first, as the kernel's own segmentation does. Copies (for
// tests and tools; the workers use SegmentTcp4Headers).
Segments SegmentTcp4(std::span<const uint8_t> in, size_t mss, std::span<uint8_t> out);

// Joins consecutive in-order segments of one TCP stream (as SegmentTcp4 or a peer's kernel cut
// them) into one packet for the TUN, without copying payloads: the result is an iovec list of
// a rewritten header and the segments' payloads. Whatever does not fit is handed over as is.
class TcpCoalescer {
 public:
  static constexpr size_t kMaxSegments = 64;
  // The iovecs for one TUN write: [vnet header, packet header, payload...].
  struct Output {
    const iovec* iov = nullptr;
    int iovcnt = 0;
  };

  // Offers `packet` (a complete IPv4 packet, already validated). Returns false when it cannot
  // join the pending one: then Flush() the pending one and Offer() it again (it then starts a
  // new one, or is returned false again when it cannot start one: write it alone).
  bool Offer(std::span<uint8_t> packet);
  bool empty() const { return count_ == 0; }
  // The pending packet for the TUN (valid until the next Offer), and resets.
  Output Flush();

 private:
  bool Start(std::span<uint8_t> packet);

  size_t count_ = 0;
  size_t ip_len_ = 0;
  size_t hdr_len_ = 0;
  size_t mss_ = 0;
  size_t payload_ = 0;
  uint32_t next_seq_ = 0;
  bool closed_ = false;  // a short or PSH segment ends the run
  uint8_t header_[120] = {};
  VnetHdr vnet_;
  iovec iov_[kMaxSegments + 2] = {};
};

}  // namespace tartan::backend::udp
