// A calibration file (the CALIB.json that `calibrate` writes) applied onto model parameters.
#pragma once

#include <string>
#include <vector>

#include "epscope/model/model_params.h"

namespace epscope {

/// Applies a calibration file (JSON: {"system": ..., "params": {<ModelParams field>: value}})
/// onto `params`. Unknown parameter names and non-finite values are InputErrors.
void apply_calibration_file(const std::string& path, ModelParams& params);

/// The ModelParams fields a calibration file may set, by name.
struct ParamField {
  const char* name;
  double ModelParams::*member;
};
const std::vector<ParamField>& calibration_fields();

}  // namespace epscope
