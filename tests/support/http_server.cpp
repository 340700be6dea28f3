// HTTP plumbing of the tests' fake servers (see http_server.h).
#include "http_server.h"
#include "text.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <stdexcept>

namespace meridian::testing {
namespace {

const char* reason_of(int status) {
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 409: return "Conflict";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "Status";
  }
}

} // namespace

std::string HttpMessage::header(std::string_view name) const {
  const std::string wanted = lower(std::string(name));
  for (const auto& [key, value] : headers)
    if (lower(key) == wanted)
      return value;
  return {};
}

std::string url_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<HttpMessage> read_http_request(const std::function<long(char*, size_t)>& read) {
  std::string data;
  char buffer[16384];
  size_t header_end = std::string::npos;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    const long count = read(buffer, sizeof buffer);
    if (count <= 0)
      return std::nullopt;
    data.append(buffer, static_cast<size_t>(count));
  }
  HttpMessage request;
  std::istringstream head(data.substr(0, header_end));
  std::string line;
  std::getline(head, line);
  std::istringstream(line) >> request.method >> request.target;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    const size_t colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    request.headers.emplace_back(line.substr(0, colon), trim(line.substr(colon + 1)));
  }
  std::string body = data.substr(header_end + 4);
  if (const std::string length = request.header("content-length"); !length.empty()) {
    const size_t wanted = std::stoul(length);
    while (body.size() < wanted) {
      const long count = read(buffer, sizeof buffer);
      if (count <= 0)
        break;
      body.append(buffer, static_cast<size_t>(count));
    }
  } else if (lower(request.header("transfer-encoding")) == "chunked") {
    while (body.find("0\r\n\r\n") == std::string::npos) {
      const long count = read(buffer, sizeof buffer);
      if (count <= 0)
        break;
      body.append(buffer, static_cast<size_t>(count));
    }
    std::string decoded;
    size_t pos = 0;
    while (pos < body.size()) {
      const size_t end = body.find("\r\n", pos);
      const size_t size = std::stoul(body.substr(pos, end - pos), nullptr, 16);
      if (size == 0)
        break;
      decoded += body.substr(end + 2, size);
      pos = end + 2 + size + 2;
    }
    body = decoded;
  }
  request.body = std::move(body);
  const size_t question = request.target.find('?');
  request.path = url_decode(request.target.substr(0, question));
  if (question != std::string::npos) {
    request.raw_query = request.target.substr(question + 1);
    std::istringstream pairs(request.raw_query);
    for (std::string pair; std::getline(pairs, pair, '&');) {
      const size_t equals = pair.find('=');
      request.query[url_decode(pair.substr(0, equals))] = equals == std::string::npos ? "" : url_decode(pair.substr(equals + 1));
    }
  }
  return request;
}

std::string http_reply_text(const HttpReply& reply) {
  std::string text = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n", reply.status,
                                 reason_of(reply.status), reply.content_type, reply.body.size());
  for (const auto& [name, value] : reply.headers)
    text += fmt::format("{}: {}\r\n", name, value);
  return text + "\r\n" + reply.body;
}

int listen_on_loopback(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    throw std::runtime_error("test server: cannot listen on 127.0.0.1");
  }
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  port = ntohs(address.sin_port);
  return fd;
}

PlainHttpServer::PlainHttpServer(std::function<HttpReply(const HttpMessage&)> handle)
    : handle_(std::move(handle)) {
  listen_fd_ = listen_on_loopback(port_);
  thread_ = std::thread([this] { serve(); });
}

PlainHttpServer::~PlainHttpServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

std::string PlainHttpServer::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

void PlainHttpServer::serve() {
  while (!stop_) {
    pollfd poll_fd{listen_fd_, POLLIN, 0};
    if (::poll(&poll_fd, 1, 50) <= 0)
      continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0)
      continue;
    const auto read = [fd](char* buffer, size_t size) -> long {
      pollfd ready{fd, POLLIN, 0};
      if (::poll(&ready, 1, 5000) <= 0)
        return -1;
      return ::read(fd, buffer, size);
    };
    if (const auto request = read_http_request(read)) {
      const std::string reply = http_reply_text(handle_(*request));
      size_t written = 0;
      while (written < reply.size()) {
        const ssize_t count = ::write(fd, reply.data() + written, reply.size() - written);
        if (count <= 0)
          break;
        written += static_cast<size_t>(count);
      }
    }
    ::close(fd);
  }
}

} // namespace meridian::testing
