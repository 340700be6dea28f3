// Text from manifests, live objects, Git or the state store, made safe to print on a terminal.
#pragma once

#include <string>
#include <string_view>

namespace meridian {

//! `text` with every control character (C0, DEL, and C1 as UTF-8) written as an escape (`\n`,
//! `\x1b`): a name can never move the cursor, clear the screen or forge a line of output. Text
//! without control characters comes back unchanged.
std::string printable(std::string_view text);

} // namespace meridian
