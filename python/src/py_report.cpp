// epscope.report_html: the HTML report of include/epscope/report/html_report.h from files or Python
// dicts.
#include "epscope/report/html_report.h"
#include "py_bindings.h"

namespace epscope::python {

void bind_report(py::module_& m) {
  m.def(
      "report_html",
      [](const py::list& inputs, const std::string& title, const std::string& calibration) {
        std::vector<ReportInput> parsed;
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          const py::handle item = inputs[i];
          if (py::isinstance<py::str>(item)) {
            parsed.push_back(read_report_input(item.cast<std::string>()));
          } else {
            parsed.push_back(
                classify_report_input("input " + std::to_string(i + 1), to_json_value(item)));
          }
        }
        ReportOptions options;
        options.title = title;
        options.calibration = calibration;
        return render_report(parsed, options);
      },
      py::arg("inputs"), py::kw_only(), py::arg("title") = "epscope report",
      py::arg("calibration") = "",
      R"doc(The `epscope report` HTML page as a string.

inputs: file paths (estimate/sweep/plan JSON, records .jsonl) or already loaded dicts, e.g.
epscope.compare_balanced(s).to_dict() or the result of epscope.sweep(...).)doc");
}

}  // namespace epscope::python
