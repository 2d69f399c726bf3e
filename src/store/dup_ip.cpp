#include "store/dup_ip.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

namespace tartan::store {

std::chrono::seconds DupIpWindow(std::chrono::seconds heartbeat) {
  return 2 * std::max(heartbeat, kMinHeartbeat) + kDupIpTolerance;
}

DupIpVerdict DecideDupIp(const DupIpInput& in) {
  DupIpVerdict v;
  if (in.recorded_as_ours) {
    v.kind = DupIpVerdict::Kind::kOurs;
    return v;
  }
  const auto window = DupIpWindow(in.heartbeat);
  if (in.samples.empty()) {
    v.recheck_at = in.now;
    return v;
  }
  bool refreshed_while_watched = false;
  auto estimate = [&](const TtlSample& s) { return s.at - (in.granted - s.remaining); };
  auto last_refresh = estimate(in.samples.front());
  for (size_t i = 1; i < in.samples.size(); ++i) {
    const auto e = estimate(in.samples[i]);
    if (e > last_refresh + kDupIpTolerance) refreshed_while_watched = true;
    last_refresh = std::max(last_refresh, e);
  }
  v.since_refresh = std::chrono::duration_cast<std::chrono::seconds>(in.now - last_refresh);
  v.recheck_at = last_refresh + window;
  if (in.now >= v.recheck_at) {
    v.kind = DupIpVerdict::Kind::kOwnerGone;
  } else if (refreshed_while_watched) {
    v.kind = DupIpVerdict::Kind::kOtherHostAlive;
  } else {
    v.kind = DupIpVerdict::Kind::kWatch;
  }
  return v;
}

std::string OwnerRecord::Format() const {
  return "# tartand: the lease this host holds (not flannel's; subnet.env is)\nsubnet=" +
         subnet.ToString() + "\ntoken=" + std::to_string(token) + "\n";
}

Result<OwnerRecord> OwnerRecord::Parse(std::string_view text) {
  std::optional<model::SubnetKey> subnet;
  std::optional<int64_t> token;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string k = line.substr(0, eq);
    const std::string val = line.substr(eq + 1);
    if (k == "subnet") {
      auto s = model::SubnetKey::Parse(val);
      if (!s) return s.error().Context("owner record");
      subnet = *s;
    } else if (k == "token") {
      errno = 0;
      char* end = nullptr;
      const long long t = std::strtoll(val.c_str(), &end, 10);
      if (errno != 0 || end == val.c_str() || *end != '\0') {
        return Error::InvalidArgument("owner record: bad token \"" + val + "\"");
      }
      token = t;
    }
  }
  if (!subnet || !token) return Error::InvalidArgument("owner record: subnet or token missing");
  return OwnerRecord{*subnet, *token};
}

std::string OwnerRecordPath(const std::string& subnet_file) { return subnet_file + ".lease"; }

Status WriteOwnerRecord(const std::string& path, const OwnerRecord& record) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << record.Format();
    out.flush();
    if (!out) {
      (void)::unlink(tmp.c_str());
      return Error::Unavailable("writing " + tmp + " failed");
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    (void)::unlink(tmp.c_str());
    return Error::Unavailable("renaming " + tmp + " to " + path + ": " +
                              std::system_category().message(e));
  }
  return Status::Ok();
}

Result<OwnerRecord> ReadOwnerRecord(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::NotFound(path + " does not exist");
  std::ostringstream text;
  text << in.rdbuf();
  return OwnerRecord::Parse(text.str());
}

}  // namespace tartan::store
