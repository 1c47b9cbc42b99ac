#pragma once
// `muE report` as a library function (README "One page: muE report"): one self-contained
// HTML page from any mix of sweep directories, transfer reports and verify directories —
// tables, the plots muE drew (inlined as data: URIs, so nothing in them can run), a drift
// chart drawn here, each transferred value's derivation trace in <details>. Every string
// taken from a user file is HTML-escaped. The page is a pure function of its inputs.
#include <string>
#include <vector>

namespace mue {

// One input: a directory holding sweep.json or verify.json, or a transfer.json file.
struct ReportInput {
  std::string path;
};

// The page. InputError (exit 2) naming the path for an input that is none of the three, or a
// report whose fields are missing or of the wrong type (the JSON pointer in the reason).
std::string render_html_report(const std::vector<ReportInput>& inputs);

// `s` with & < > " ' replaced by entities.
std::string html_escape(const std::string& s);

} // namespace mue
