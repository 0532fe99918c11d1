// Setting scenario fields by name, from text: what `epscope sweep` varies and what the Python
// keyword arguments set. The names are the keys of to_json(Scenario) and of scenario files
// (docs/sweep.md lists them), so a sweep axis, a Python keyword and a TOML key mean the same thing.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "epscope/scenario/scenario.h"

namespace epscope {

/// One assignment, e.g. {"tokens", "384x8,64x8"} or {"nvlink", "off"}.
using FieldValue = std::pair<std::string, std::string>;

/// Every settable field name, in the order with_fields() applies them.
std::vector<std::string> scenario_field_names();

/// Applies `fields` onto `base` in the canonical order (preset, cluster shape, rates, MoE shape,
/// kernels, routing, then the per-rank lists, so a list is expanded against the final rank
/// count), and validates the result. When the rank count changes and no new `tokens` is given, a
/// uniform token list follows the new rank count; a non-uniform one is an InputError. Unknown
/// names and bad values are InputErrors naming the field.
///
/// Values: integers and reals as text; booleans as true/false/on/off/1/0; `tokens` and
/// `start_offset_us` in list syntax (lists.h); `skew` sets the routing skew and turns uniform
/// popularity into lognormal (skew 0 keeps it uniform); `preset` replaces the whole cluster.
Scenario with_fields(Scenario base, const std::vector<FieldValue>& fields);

}  // namespace epscope
