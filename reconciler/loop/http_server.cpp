// The HTTP server of `meridian run`: one poll(2) thread owns every connection and reads requests
// without blocking, a few workers run the handler on complete requests only.
//
// Why not cpprestsdk's http_listener (used here before): it hands a request to a pool thread as
// soon as its headers arrive, and reading the body blocks that thread; 39 connections that
// declared a body and never sent it took every thread, for good. It also buffers a whole body,
// whatever its size, before anyone can refuse it. Here a request costs a thread only once it is
// complete; a declared body over the limit is refused before a byte of it is read; a chunked body
// is refused (411: webhooks and the API send Content-Length); and a request not complete within
// the read deadline is dropped.
#include "loop/http.h"

#include "base/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace meridian {

std::string HttpRequest::header(std::string_view name) const {
  const auto found = headers.find(std::string(name));
  return found == headers.end() ? std::string() : found->second;
}

bool ListenAddress::is_loopback() const {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

ListenAddress parse_listen_address(std::string_view text) {
  const auto invalid = [&] {
    return UserError(fmt::format("--listen: expected host:port such as 127.0.0.1:8080, got \"{}\"", text));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    throw invalid();
  ListenAddress address;
  address.host = std::string(text.substr(0, colon));
  if (address.host.front() == '[') {
    if (address.host.back() != ']')
      throw invalid();
    address.host = address.host.substr(1, address.host.size() - 2);
  }
  const std::string_view port = text.substr(colon + 1);
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (error != std::errc() || end != port.data() + port.size() || address.port <= 0 || address.port > 65535)
    throw invalid();
  return address;
}

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kHeaderLimit = 16 * 1024;
constexpr size_t kMaxConnections = 256;
constexpr size_t kWorkers = 4;
constexpr auto kWriteDeadline = std::chrono::seconds(30);

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return std::string(text);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string_view reason_phrase(int status) {
  switch (status) {
  case 200: return "OK";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 411: return "Length Required";
  case 413: return "Content Too Large";
  case 421: return "Misdirected Request";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "Status";
  }
}

std::string serialize(const HttpResponse& response, bool head) {
  std::string out = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n", response.status,
                                reason_phrase(response.status), response.content_type, response.body.size());
  for (const auto& [name, value] : response.headers)
    out += fmt::format("{}: {}\r\n", name, value);
  out += "\r\n";
  if (!head)
    out += response.body;
  return out;
}

HttpResponse error_response(int status, std::string_view message) {
  return {status, "application/json", fmt::format("{{\"error\":\"{}\"}}\n", message), {}};
}

// One connection, owned by the I/O thread.
struct Connection {
  int fd = -1;
  std::string remote;
  std::string in;                   //!< bytes read so far (headers, then body)
  size_t head_end = 0;              //!< where the body starts, once the headers are read
  size_t body_length = 0;
  Clock::time_point read_deadline;
  enum class Phase { reading, handling, writing } phase = Phase::reading;
  std::string out;                  //!< the response, while writing
  size_t written = 0;
  Clock::time_point write_deadline;
  HttpRequest request;
};

} // namespace

struct HttpServer::State {
  State(size_t limit, std::chrono::milliseconds deadline, HttpHandler on_request)
      : body_limit(limit), read_deadline(deadline), handler(std::move(on_request)) {}

  ~State() {
    {
      const std::lock_guard lock(mutex);
      stopping = true;
    }
    work_ready.notify_all();
    wake();
    if (io.joinable())
      io.join();
    for (std::thread& worker : workers)
      worker.join();
    for (auto& [id, connection] : connections)
      ::close(connection.fd);
    if (listen_fd >= 0)
      ::close(listen_fd);
    ::close(wake_pipe[0]);
    ::close(wake_pipe[1]);
  }

  void wake() const {
    const char byte = 'w';
    [[maybe_unused]] const ssize_t written = ::write(wake_pipe[1], &byte, 1);
  }

  void start() {
    if (::pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
      throw UserError(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    io = std::thread([this] { run_io(); });
    for (size_t i = 0; i < kWorkers; ++i)
      workers.emplace_back([this] { run_worker(); });
  }

  // Workers: the handler on complete requests; the response goes back to the I/O thread.
  void run_worker() {
    while (true) {
      std::pair<uint64_t, HttpRequest> job;
      {
        std::unique_lock lock(mutex);
        work_ready.wait(lock, [&] { return stopping || !pending.empty(); });
        if (stopping)
          return;
        job = std::move(pending.front());
        pending.pop_front();
      }
      HttpResponse response;
      try {
        response = handler(job.second);
      } catch (const std::exception&) {
        response = error_response(500, "internal error");
      }
      {
        const std::lock_guard lock(mutex);
        finished.emplace_back(job.first, serialize(response, job.second.method == "HEAD"));
      }
      wake();
    }
  }

  void run_io() {
    std::vector<pollfd> polled;
    std::vector<uint64_t> ids;
    while (true) {
      {
        const std::lock_guard lock(mutex);
        if (stopping)
          return;
        for (auto& [id, out] : finished)
          if (const auto found = connections.find(id); found != connections.end()) {
            found->second.phase = Connection::Phase::writing;
            found->second.out = std::move(out);
            found->second.write_deadline = Clock::now() + kWriteDeadline;
          }
        finished.clear();
      }
      polled.clear();
      ids.clear();
      polled.push_back({wake_pipe[0], POLLIN, 0});
      polled.push_back({listen_fd, static_cast<short>(connections.size() < kMaxConnections ? POLLIN : 0), 0});
      const auto now = Clock::now();
      std::vector<uint64_t> expired;
      for (auto& [id, connection] : connections) {
        if ((connection.phase == Connection::Phase::reading && now >= connection.read_deadline) ||
            (connection.phase == Connection::Phase::writing && now >= connection.write_deadline)) {
          expired.push_back(id);
          continue;
        }
        if (connection.phase == Connection::Phase::handling)
          continue;
        polled.push_back({connection.fd, static_cast<short>(connection.phase == Connection::Phase::reading ? POLLIN : POLLOUT), 0});
        ids.push_back(id);
      }
      for (const uint64_t id : expired)
        drop(id, true);
      if (!expired.empty())
        continue;
      if (::poll(polled.data(), polled.size(), 200) < 0 && errno != EINTR)
        return;
      if (polled[0].revents != 0) {
        char buffer[64];
        while (::read(wake_pipe[0], buffer, sizeof buffer) > 0) {
        }
      }
      if ((polled[1].revents & POLLIN) != 0)
        accept_all();
      for (size_t i = 2; i < polled.size(); ++i)
        if (polled[i].revents != 0)
          service(ids[i - 2]);
    }
  }

  void accept_all() {
    while (connections.size() < kMaxConnections) {
      sockaddr_storage peer{};
      socklen_t length = sizeof peer;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return;
      char host[NI_MAXHOST] = "";
      ::getnameinfo(reinterpret_cast<sockaddr*>(&peer), length, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
      Connection connection;
      connection.fd = fd;
      connection.remote = host;
      connection.read_deadline = Clock::now() + read_deadline;
      connections.emplace(next_id++, std::move(connection));
    }
  }

  // Closes a connection; a request that ran out of time is told so when it can be.
  void drop(uint64_t id, bool timed_out) {
    const auto found = connections.find(id);
    if (found == connections.end())
      return;
    if (timed_out && found->second.phase == Connection::Phase::reading) {
      const std::string reply = serialize(error_response(408, "request not received in time"), false);
      [[maybe_unused]] const ssize_t sent = ::send(found->second.fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    ::close(found->second.fd);
    connections.erase(found);
  }

  // Answers from the I/O thread itself (a request refused before it is complete), then closes.
  void refuse(Connection& connection, int status, std::string_view message) {
    connection.phase = Connection::Phase::writing;
    connection.out = serialize(error_response(status, message), false);
    connection.written = 0;
    connection.write_deadline = Clock::now() + std::chrono::seconds(5);
  }

  void service(uint64_t id) {
    Connection& connection = connections.at(id);
    if (connection.phase == Connection::Phase::writing) {
      const ssize_t sent = ::send(connection.fd, connection.out.data() + connection.written, connection.out.size() - connection.written,
                                  MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      if (sent <= 0) {
        drop(id, false);
        return;
      }
      connection.written += static_cast<size_t>(sent);
      if (connection.written == connection.out.size()) {
        ::shutdown(connection.fd, SHUT_WR);
        drop(id, false);
      }
      return;
    }
    // Never more than the headers' limit, then never more than the declared body.
    const size_t room = connection.head_end == 0 ? kHeaderLimit + 4 - connection.in.size()
                                                 : connection.head_end + connection.body_length - connection.in.size();
    char buffer[16384];
    const ssize_t received = ::recv(connection.fd, buffer, std::min(sizeof buffer, std::max<size_t>(room, 1)), MSG_DONTWAIT);
    if (received < 0 && (errno == EAGAIN || errno == EINTR))
      return;
    if (received <= 0) {
      drop(id, false);
      return;
    }
    connection.in.append(buffer, static_cast<size_t>(received));
    if (connection.head_end == 0) {
      const size_t end = connection.in.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (connection.in.size() > kHeaderLimit)
          refuse(connection, 431, "request headers too large");
        return;
      }
      connection.head_end = end + 4;
      if (const auto problem = parse_head(connection)) {
        refuse(connection, problem->first, problem->second);
        return;
      }
      // curl waits a second for this before it sends a body over 1 KiB.
      if (connection.body_length > 0 && lower(connection.request.header("expect")) == "100-continue") {
        static constexpr std::string_view go_on = "HTTP/1.1 100 Continue\r\n\r\n";
        [[maybe_unused]] const ssize_t sent = ::send(connection.fd, go_on.data(), go_on.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
    if (connection.in.size() < connection.head_end + connection.body_length)
      return;
    connection.request.body = connection.in.substr(connection.head_end, connection.body_length);
    connection.in.clear();
    connection.in.shrink_to_fit();
    connection.phase = Connection::Phase::handling;
    {
      const std::lock_guard lock(mutex);
      pending.emplace_back(id, std::move(connection.request));
    }
    work_ready.notify_one();
  }

  // The request line and headers; a status and message when the request is refused.
  std::optional<std::pair<int, std::string>> parse_head(Connection& connection) const {
    HttpRequest& request = connection.request;
    request.remote = connection.remote;
    const std::string_view head(connection.in.data(), connection.head_end - 4);
    const size_t line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    const size_t first_space = line.find(' ');
    const size_t second_space = line.find(' ', first_space == std::string_view::npos ? 0 : first_space + 1);
    if (first_space == std::string_view::npos || second_space == std::string_view::npos ||
        line.substr(second_space + 1).rfind("HTTP/1.", 0) != 0)
      return std::make_pair(400, std::string("malformed request line"));
    request.method = std::string(line.substr(0, first_space));
    const std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
    const size_t question = target.find('?');
    request.path = percent_decode(target.substr(0, question), false);
    if (question != std::string_view::npos) {
      std::string_view query = target.substr(question + 1);
      while (!query.empty()) {
        const size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const size_t equals = pair.find('=');
        request.query[percent_decode(pair.substr(0, equals), true)] =
            equals == std::string_view::npos ? std::string() : percent_decode(pair.substr(equals + 1), true);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      }
    }
    std::string_view rest = line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
    while (!rest.empty()) {
      const size_t end = rest.find("\r\n");
      const std::string_view header = rest.substr(0, end);
      const size_t colon = header.find(':');
      if (colon == std::string_view::npos || colon == 0)
        return std::make_pair(400, std::string("malformed header"));
      const std::string name = lower(header.substr(0, colon));
      const std::string value = trim(header.substr(colon + 1));
      if (const auto seen = request.headers.find(name); seen != request.headers.end() && seen->second != value &&
                                                         (name == "content-length" || name == "host" || name == "authorization"))
        return std::make_pair(400, fmt::format("conflicting {} headers", name)); // one server must not see two requests
      request.headers[name] = value;
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
    }
    if (request.headers.count("transfer-encoding") != 0)
      return std::make_pair(411, std::string("send the body with Content-Length"));
    const std::string length = request.header("content-length");
    if (!length.empty()) {
      size_t value = 0;
      const auto [end, error] = std::from_chars(length.data(), length.data() + length.size(), value);
      if (error != std::errc() || end != length.data() + length.size())
        return std::make_pair(400, std::string("malformed Content-Length"));
      // Refused before a byte of it is read or a byte allocated for it.
      if (value > body_limit)
        return std::make_pair(413, fmt::format("body larger than {} bytes", body_limit));
      connection.body_length = value;
    }
    return std::nullopt;
  }

  std::string base;
  size_t body_limit;
  std::chrono::milliseconds read_deadline;
  HttpHandler handler;
  int listen_fd = -1;
  int wake_pipe[2] = {-1, -1};
  std::unordered_map<uint64_t, Connection> connections; //!< the I/O thread's alone
  uint64_t next_id = 1;
  std::mutex mutex;
  std::condition_variable work_ready;
  std::deque<std::pair<uint64_t, HttpRequest>> pending;   //!< complete requests, for the workers
  std::vector<std::pair<uint64_t, std::string>> finished; //!< responses, for the I/O thread
  bool stopping = false;
  std::thread io;
  std::vector<std::thread> workers;
};

HttpServer::HttpServer(const ListenAddress& address, size_t body_limit, HttpHandler handler, std::chrono::milliseconds read_deadline) {
  const auto fail = [&](const std::string& why) {
    return UserError(fmt::format("--listen {}:{}: cannot listen: {}", address.host, address.port, why));
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (const int error = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); error != 0)
    throw fail(gai_strerror(error));
  state_ = std::make_unique<State>(body_limit, read_deadline, std::move(handler));
  std::string last_error = "no address";
  for (addrinfo* candidate = found; candidate != nullptr && state_->listen_fd < 0; candidate = candidate->ai_next) {
    const int fd = ::socket(candidate->ai_family, candidate->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, candidate->ai_protocol);
    if (fd < 0)
      continue;
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd, candidate->ai_addr, candidate->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    state_->listen_fd = fd;
  }
  ::freeaddrinfo(found);
  if (state_->listen_fd < 0)
    throw fail(last_error);
  const std::string host = address.host.find(':') != std::string::npos ? "[" + address.host + "]" : address.host;
  state_->base = fmt::format("http://{}:{}", host, address.port);
  state_->start();
}

HttpServer::~HttpServer() = default;

std::string HttpServer::url() const { return state_->base; }

} // namespace meridian
