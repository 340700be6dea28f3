// The ack backend with its parts given (internal: tests hand it a key, a transport and fast polls).
#pragma once

#include "backend/ack/ack.h"
#include "backend/ack/openapi.h"

#include <memory>

namespace meridian::ack {

//! The composed backend over `client` (see ack.h); options.endpoint is already in `client`.
std::unique_ptr<Backend> open_ack_backend(AckOptions options, std::unique_ptr<OpenApiClient> client);

} // namespace meridian::ack
