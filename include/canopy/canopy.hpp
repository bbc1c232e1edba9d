// canopy/canopy.hpp — the whole public API in one include.
#pragma once

#include "canopy/call.hpp"
#include "canopy/canister.hpp"
#include "canopy/codec.hpp"
#include "canopy/config.hpp"
#include "canopy/ctx.hpp"
#include "canopy/env.hpp"
#include "canopy/flow.hpp"
#include "canopy/ids.hpp"
#include "canopy/pool.hpp"
#include "canopy/query.hpp"
#include "canopy/realtime.hpp"
#include "canopy/reject.hpp"
#include "canopy/runtime.hpp"
#include "canopy/task.hpp"
#include "canopy/trace.hpp"
