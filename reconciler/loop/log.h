// The event log moved to base/log.h (commands outside the loop log too); this header keeps code
// written against loop/log.h building.
#pragma once

#include "base/log.h"
