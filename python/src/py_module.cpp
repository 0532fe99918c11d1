// PYBIND11_MODULE: registers the error type and each capability's bindings.
#include "epscope/base/error.h"
#include "py_bindings.h"

PYBIND11_MODULE(_epscope, m) {
  m.doc() = "epscope: what rank imbalance costs in expert-parallel MoE dispatch/combine";
  // Bad user input (field, value, what is allowed) surfaces as epscope.InputError(ValueError).
  pybind11::register_exception<epscope::InputError>(m, "InputError", PyExc_ValueError);
  epscope::python::bind_scenario(m);
  epscope::python::bind_estimate(m);
  epscope::python::bind_sweep(m);
  epscope::python::bind_report(m);
}
