#include "protocol/api/data_url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <string>

namespace kaito::api {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool forbidden_v4(const unsigned char* a) {
  if (a[0] == 127) return true;                            // loopback
  if (a[0] == 10) return true;                             // private
  if (a[0] == 172 && (a[1] & 0xf0) == 16) return true;     // 172.16/12
  if (a[0] == 192 && a[1] == 168) return true;             // 192.168/16
  if (a[0] == 169 && a[1] == 254) return true;             // link-local unicast
  if (a[0] == 224 && a[1] == 0 && a[2] == 0) return true;  // link-local multicast
  return false;
}

bool forbidden_v6(const unsigned char* a) {
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a, kMapped, 12) == 0) return forbidden_v4(a + 12);
  static const unsigned char kLoop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::memcmp(a, kLoop, 16) == 0) return true;         // ::1
  if ((a[0] & 0xfe) == 0xfc) return true;                  // fc00::/7
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return true;  // fe80::/10
  if (a[0] == 0xff && (a[1] & 0x0f) == 0x02) return true;  // ff02::/16 (link-local scope)
  return false;
}

}  // namespace

status validate_data_source_url(std::string_view url) {
  const status bad = invalid_argument("invalid data source URL");
  // url.ParseRequestURI: "scheme:" then, for a host to exist, "//authority".
  size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) return bad;
  std::string_view scheme = url.substr(0, colon);
  if (!std::isalpha(static_cast<unsigned char>(scheme[0]))) return bad;
  for (char c : scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      return bad;
  for (char c : url)  // Go rejects ASCII control bytes anywhere
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad;
  std::string_view rest = url.substr(colon + 1);
  if (rest.substr(0, 2) != "//") return bad;
  rest.remove_prefix(2);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  size_t at = authority.rfind('@');
  std::string_view hostport = at == std::string_view::npos ? authority : authority.substr(at + 1);
  std::string_view host = hostport;
  if (!hostport.empty() && hostport[0] == '[') {
    size_t close = hostport.find(']');
    if (close == std::string_view::npos) return bad;
    host = hostport.substr(1, close - 1);
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty() && after[0] != ':') return bad;
  } else {
    size_t pc = hostport.rfind(':');
    if (pc != std::string_view::npos) {
      std::string_view port = hostport.substr(pc + 1);
      if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return bad;
      host = hostport.substr(0, pc);
    }
  }
  if (host.empty() || host.find(' ') != std::string_view::npos) return bad;

  std::string lscheme = lower(scheme);
  if (lscheme != "http" && lscheme != "https")
    return invalid_argument("data source URL must use HTTP or HTTPS");

  std::string h = lower(host);
  if (h == "localhost" || h.ends_with(".localhost") || h == "metadata.google.internal" ||
      h == "metadata.google" || h == "instance-data.ec2.internal")
    return invalid_argument("data source URL must not target a local or metadata endpoint");

  std::string addr = h.substr(0, h.find('%'));  // drop an IPv6 zone
  if (addr.find("%25") != std::string::npos) addr = addr.substr(0, addr.find("%25"));
  std::array<unsigned char, 16> buf{};
  bool forbidden = false;
  if (inet_pton(AF_INET, addr.c_str(), buf.data()) == 1)
    forbidden = forbidden_v4(buf.data());
  else if (inet_pton(AF_INET6, addr.c_str(), buf.data()) == 1)
    forbidden = forbidden_v6(buf.data());
  if (forbidden)
    return invalid_argument(
        "data source URL must not target a loopback, private, or link-local address");
  return status();
}

}  // namespace kaito::api
