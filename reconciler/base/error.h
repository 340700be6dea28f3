// Errors users cause or can fix (bad input, an unreachable repository, a rejected request).
//
// Each carries one line of text in LLVM's style: lower-case, no trailing period, the place first
// (`fleet/pools.yaml:12: NodePool/gpu-p100: spec.desiredSize: must be >= 0, got -1`). The command
// line prints the message as it is and exits 1; nothing catches a UserError to hide it.
#pragma once

#include <stdexcept>
#include <string>

namespace meridian {

class UserError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

//! A failure that may succeed when retried (network, a busy backend, a conflict).
class TransientError : public UserError {
public:
  using UserError::UserError;
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
    throw TransientError(reword(std::string(error.what())));
  } catch (const RejectedError& error) {
    throw RejectedError(error.reason(), reword(std::string(error.what())));
  } catch (const UserError& error) {
    throw UserError(reword(std::string(error.what())));
  }
}

} // namespace meridian
