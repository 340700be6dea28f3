// What this binary was built from, for `meridian version` and the meridian_build_info metric.
#pragma once

#include <string>

namespace meridian {

struct BuildInfo {
  std::string version; //!< meson's project version
  std::string commit;  //!< Git commit of the source, "-dirty" when it had uncommitted changes; "unknown" outside Git
  std::string date;    //!< RFC 3339 UTC: SOURCE_DATE_EPOCH when the build set it, else the first build of the commit
};

const BuildInfo& build_info();

} // namespace meridian
