// A minimal HTTP/1.1 client over a loopback socket, for tests: one request per connection
// (Connection: close), Content-Length or chunked responses. Never leaves 127.0.0.1.
#pragma once

#include "../support/text.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace meridian::testing {

struct HttpReply {
  int status = 0; //!< 0 when nothing answered
  std::map<std::string, std::string> headers; //!< names lower-cased
  std::string body;
};

namespace detail {

inline std::string dechunk(const std::string& body) {
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\r\n", pos);
    if (end == std::string::npos)
      break;
    const size_t size = std::strtoul(body.substr(pos, end - pos).c_str(), nullptr, 16);
    if (size == 0)
      break;
    out += body.substr(end + 2, size);
    pos = end + 2 + size + 2;
  }
  return out;
}

} // namespace detail

//! Sends one request to 127.0.0.1:`port`; status 0 when the connection fails or times out.
inline HttpReply http_request(int port, const std::string& method, const std::string& target, const std::string& body = {},
                              const std::vector<std::pair<std::string, std::string>>& headers = {}, int timeout_ms = 10'000) {
  HttpReply reply;
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return reply;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return reply;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers)
    request += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST")
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break; // the server may answer (413) before reading everything
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  while (true) {
    pollfd waiting{fd, POLLIN, 0};
    if (poll(&waiting, 1, timeout_ms) <= 0)
      break;
    char buffer[16384];
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0)
      break;
    raw.append(buffer, static_cast<size_t>(n));
    // Stop once a response with Content-Length is complete (the server may keep the socket open).
    const size_t head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos)
      continue;
    const std::string head = testing::lower(raw.substr(0, head_end));
    const size_t length_at = head.find("content-length:");
    if (length_at != std::string::npos) {
      const size_t length = std::strtoul(head.c_str() + length_at + 15, nullptr, 10);
      if (raw.size() >= head_end + 4 + length)
        break;
    }
  }
  close(fd);
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos)
    return reply;
  reply.status = std::atoi(raw.c_str() + 9);
  size_t line_start = raw.find("\r\n") + 2;
  while (line_start < head_end) {
    const size_t line_end = raw.find("\r\n", line_start);
    const std::string line = raw.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(value.begin());
      reply.headers[testing::lower(line.substr(0, colon))] = value;
    }
    line_start = line_end + 2;
  }
  reply.body = raw.substr(head_end + 4);
  if (reply.headers.count("transfer-encoding") != 0 && testing::lower(reply.headers["transfer-encoding"]) == "chunked")
    reply.body = detail::dechunk(reply.body);
  else if (reply.headers.count("content-length") != 0)
    reply.body = reply.body.substr(0, std::strtoul(reply.headers["content-length"].c_str(), nullptr, 10));
  return reply;
}

} // namespace meridian::testing
