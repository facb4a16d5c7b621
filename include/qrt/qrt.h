// qrt public API: everything.
#pragma once
#include "qrt/builder.h"
#include "qrt/calibrator.h"
#include "qrt/engine.h"
#include "qrt/logging.h"
#include "qrt/network.h"
#include "qrt/status.h"
#include "qrt/types.h"
