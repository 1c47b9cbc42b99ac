#pragma once
// Error types and the exit codes they map to. Library code throws; only
// cli/main.cpp turns an exception into an exit code.
#include <stdexcept>
#include <string>

namespace mue {

enum class ExitCode : int {
  kOk = 0,
  kCheckFailed = 1, // the check ran and said no (drift past tolerance, no usable trial)
  kBadInput = 2,    // bad input or usage
  kRuntime = 3,     // anything that failed while running
};

class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
  virtual ExitCode exit_code() const = 0;
};

// Bad user input. The message names the file, the JSON pointer of the field
// ("" = the whole document) and the reason, so a user can fix it without guessing.
class InputError : public Error {
public:
  InputError(std::string file, std::string pointer, std::string reason);
  const std::string& file() const { return file_; }
  const std::string& pointer() const { return pointer_; }
  const std::string& reason() const { return reason_; }
  ExitCode exit_code() const override { return ExitCode::kBadInput; }

private:
  std::string file_, pointer_, reason_;
};

// Bad command-line usage that is not about a file's content.
class UsageError : public Error {
public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kBadInput; }
};

// The check ran and said no (no usable trial, drift past tolerance): exit 1.
class CheckFailedError : public Error {
public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kCheckFailed; }
};

class RuntimeError : public Error {
public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::kRuntime; }
};

} // namespace mue
