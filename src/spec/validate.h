#pragma once
// `muE validate`: recognizes what kind of muE file a document is and checks it.
#include <optional>
#include <string>
#include <vector>

#include "util/json.h"

namespace mue {

enum class SpecKind { kConfig, kSweepSpec, kTargets, kTrial, kResult };

const char* to_string(SpecKind k);

// By its "schema" field when present, else by shape (axes -> sweep spec,
// targets -> targets, model+train -> config). InputError when neither tells.
SpecKind detect_kind(const Json& j, const std::string& file);

// Reads a file and checks that it is a `expected` file (by schema or shape);
// the caller parses it fully.
Json read_spec(const std::string& path, SpecKind expected);

// Parses the file fully as its kind; throws InputError on the first problem.
// With `expected`, a file of another kind is an error too.
// With `warnings`, also collects what is valid but almost certainly unintended, as
// "FILE: POINTER: reason" (today: an MoE whose renormalized gate cannot train its router,
// FfnSpec::degenerate_gate), for configs and for targets that give their own ffn.
SpecKind validate_file(const std::string& path, std::optional<SpecKind> expected = std::nullopt,
                       std::vector<std::string>* warnings = nullptr);

} // namespace mue
