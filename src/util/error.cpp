#include "util/error.h"

namespace mue {
namespace {
std::string format(const std::string& file, const std::string& pointer, const std::string& reason) {
  std::string where = pointer.empty() ? "(document)" : pointer;
  return (file.empty() ? std::string("<input>") : file) + ": " + where + ": " + reason;
}
} // namespace

InputError::InputError(std::string file, std::string pointer, std::string reason)
    : Error(format(file, pointer, reason)), file_(std::move(file)), pointer_(std::move(pointer)),
      reason_(std::move(reason)) {}

} // namespace mue
