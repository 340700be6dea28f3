#include "cli/build_info.h"

#include "build_info_generated.h"

namespace meridian {

const BuildInfo& build_info() {
  static const BuildInfo info{MERIDIAN_BUILD_VERSION, MERIDIAN_BUILD_COMMIT, MERIDIAN_BUILD_DATE};
  return info;
}

} // namespace meridian
