#include "ctl/local.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <vector>

#include "ctl/status.hpp"
#include "http/client_connection.hpp"

namespace tartan::ctl {

Result<std::string> FetchFromAgent(const cmd::Options& options, const std::string& path) {
  if (options.healthz_port == 0) {
    return Error::FailedPrecondition(
        "no health port: give tartand's --healthz-port (and --healthz-ip), or set "
        "FLANNELD_HEALTHZ_PORT; tartand serves /status there");
  }
  std::string host = cmd::ToString(options.healthz_ip);
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  const std::string where = host + ":" + std::to_string(options.healthz_port);
  const auto deadline = http::Clock::now() + std::chrono::seconds(3);
  auto conn = http::Connection::Open(host, options.healthz_port, nullptr, deadline, deadline, {});
  if (!conn.ok()) {
    return Error::Unavailable("tartand's health port " + where + ": " + conn.error().message +
                              " (is tartand running here with --healthz-port=" +
                              std::to_string(options.healthz_port) + "?)");
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: " + where + "\r\nConnection: close\r\n\r\n";
  if (Status s = conn->WriteAll(request, deadline, {}); !s.ok()) {
    return s.error().Context("tartand's health port " + where);
  }
  std::string reply;
  char buf[16384];
  while (reply.size() < (8u << 20)) {
    auto n = conn->Read(buf, sizeof buf, deadline, {});
    if (!n.ok()) return n.error().Context("tartand's health port " + where);
    if (*n == 0) break;
    reply.append(buf, *n);
  }
  const size_t end = reply.find("\r\n\r\n");
  if (end == std::string::npos || !reply.starts_with("HTTP/1.")) {
    return Error::Unavailable("tartand's health port " + where + ": not an HTTP answer");
  }
  const std::string status_line = reply.substr(0, reply.find("\r\n"));
  if (status_line.find(" 200 ") == std::string::npos) {
    return Error::Unavailable("tartand's health port " + where + " answered " + path + " with \"" +
                              status_line + "\" (a tartand older than /status?)");
  }
  return reply.substr(end + 4);
}

namespace {

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string FormatLocalStatus(const std::string& status_json, int64_t now_unix) {
  auto j = nlohmann::json::parse(status_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return "the agent's /status is not JSON\n";
  std::string out;
  const bool ready = j.value("ready", false);
  out += std::string("ready:    ") + (ready ? "yes" : "no: " + Str(j, "reason")) + "\n";
  if (const std::string d = Str(j, "detail"); !d.empty()) out += "detail:   " + d + "\n";
  const auto& a = j.contains("agent") ? j["agent"] : nlohmann::json();
  if (!a.is_object()) {
    out += "agent:    no lease yet (nothing more to show)\n";
  } else {
    const auto& lease = a.value("lease", nlohmann::json::object());
    std::string expiry = "reservation, never expires";
    if (lease.contains("expires") && lease["expires"].is_number_integer()) {
      expiry = "expires in " + FormatTtl(lease["expires"].get<int64_t>() - now_unix);
    }
    out += "lease:    " + Str(lease, "subnet") + " (" + expiry + ")\n";
    const auto& etcd = a.value("etcd", nlohmann::json::object());
    out += "etcd:     " + Str(etcd, "endpoints") + " (API " + Str(etcd, "api") + ")\n";
    out += "host:     interface " + Str(a, "interface") + ", public IP " + Str(a, "publicIP") +
           ", backend " + Str(a, "backend") + "\n";
  }
  if (j.contains("anomalies") && j["anomalies"].is_array()) {
    for (const auto& l : j["anomalies"]) {
      if (l.is_string()) out += "anomaly:  " + l.get<std::string>() + "\n";
    }
  }
  if (!a.is_object()) return out;

  std::vector<std::vector<std::string>> rows = {{"SUBNET", "PUBLIC IP", "BACKEND", "PATH", "WHY"}};
  for (const auto& p : a.value("peers", nlohmann::json::array())) {
    rows.push_back({Str(p, "subnet"), Str(p, "publicIP").empty() ? "-" : Str(p, "publicIP"),
                    Str(p, "backend"), Str(p, "path"), Str(p, "why")});
  }
  std::vector<size_t> width(5, 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  out += "\n";
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  const auto repairs = a.value("lastRepairs", nlohmann::json::array());
  out += "\nlast repairs" + std::string(repairs.empty() ? ": none\n" : " (newest first):\n");
  for (const auto& r : repairs) {
    const time_t t = r.value("time", int64_t{0});
    char when[32] = "?";
    tm tm_utc{};
    if (gmtime_r(&t, &tm_utc) != nullptr &&
        strftime(when, sizeof when, "%H:%M:%SZ", &tm_utc) == 0) {
      when[0] = '?';
      when[1] = '\0';
    }
    out += std::string("  ") + when + "  " + Str(r, "what") + "\n";
  }
  return out;
}

}  // namespace tartan::ctl
