// Errors users cause or can fix (bad input, an unreachable repository, a rejected request).
//
// Each carries one line of text in LLVM's style: lower-case, no trailing period, the place first
// (`fleet/pools.yaml:12: NodePool/gpu-p100: spec.desiredSize: must be >= 0, got -1`). The command
// line prints the message as it is and exits 1; nothing catches an Error to hide it.
//
// An error is of one of two kinds: permanent (retrying cannot fix it: bad input, a request the
// server refused) or transient (it may succeed when retried: the network, a busy backend). Code
// that retries or degrades asks `kind()` or catches the one kind it handles; code that reports
// catches `Error`, both kinds. The kinds are siblings: a handler of permanent errors
// (`catch (const UserError&)`) never swallows a transient one by accident.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

namespace meridian {

enum class ErrorKind { permanent, transient };

//! Any error Meridian reports to its user: one line, of a kind.
class Error : public std::runtime_error {
public:
  ErrorKind kind() const { return kind_; }
  bool transient() const { return kind_ == ErrorKind::transient; }

protected:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}

private:
  ErrorKind kind_;
};

//! A permanent error: bad input, a missing ref, a request the backend refused.
class UserError : public Error {
public:
  explicit UserError(const std::string& message) : Error(ErrorKind::permanent, message) {}
  explicit UserError(const char* message) : Error(ErrorKind::permanent, message) {}
};

//! A transient error: a failure that may succeed when retried (network, a busy backend, a conflict),
//! with how long the server asked to wait before that (its Retry-After), when it said.
class TransientError : public Error {
public:
  explicit TransientError(const std::string& message, std::chrono::milliseconds retry_after = {})
      : Error(ErrorKind::transient, message), retry_after_(retry_after) {}
  explicit TransientError(const char* message) : Error(ErrorKind::transient, message) {}
  //! Zero when the server did not say.
  std::chrono::milliseconds retry_after() const { return retry_after_; }

private:
  std::chrono::milliseconds retry_after_{0};
};

//! A request the live backend refused for a reason retrying cannot fix, with the backend's reason
//! for it: Kubernetes' Status reasons (Invalid, Forbidden, Conflict, NotFound, AlreadyExists,
//! BadRequest, MethodNotAllowed...), and NoKindMatch when the server does not serve the kind.
class RejectedError : public UserError {
public:
  RejectedError(std::string reason, const std::string& message) : UserError(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

private:
  std::string reason_;
};

//! Runs `body`; an error it throws is thrown again with its message reworded by `reword` (to name
//! the object it concerns) and its kind kept: transient, rejected (with its reason), or the user's.
template <typename Body, typename Reword> auto rethrow_reworded(Body&& body, Reword&& reword) -> decltype(body()) {
  try {
    return body();
  } catch (const TransientError& error) {
    throw TransientError(reword(std::string(error.what())), error.retry_after());
  } catch (const RejectedError& error) {
    throw RejectedError(error.reason(), reword(std::string(error.what())));
  } catch (const UserError& error) {
    throw UserError(reword(std::string(error.what())));
  }
}

} // namespace meridian
