// Calibration: fitted model parameters for one hardware + system. docs/model.md §6.
#pragma once

#include <string>

#include "epscope/estimate.h"

namespace epscope {

/// Applies a calibration file (JSON: {"system": ..., "params": {<ModelParams field>: value}})
/// onto `params`. Unknown parameter names and non-finite values are InputErrors.
void apply_calibration_file(const std::string& path, ModelParams& params);

}  // namespace epscope
