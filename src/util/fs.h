#pragma once
// File output that never leaves a partial file behind, and append-only journals.
#include <functional>
#include <iosfwd>
#include <string>

namespace mue {

// Writes `path` through a temporary file in the same directory: the writer fills
// the stream, then the temp file is flushed, fsync'd and renamed over `path`, and
// the directory is fsync'd. If the writer throws or any step fails, the temp file
// is removed, `path` keeps its old content (or stays absent), and the error propagates.
void write_file_atomic(const std::string& path, const std::function<void(std::ostream&)>& writer);
void write_file_atomic(const std::string& path, const std::string& content);

// Appends one line (a '\n' is added) to `path` with a single write(2) on an
// O_APPEND descriptor, then fsyncs: a finished record survives a crash right after.
void append_line_durable(const std::string& path, const std::string& line);

// Whole file as a string; RuntimeError naming the path when it cannot be read.
std::string read_file(const std::string& path);

} // namespace mue
