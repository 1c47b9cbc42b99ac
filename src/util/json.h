#pragma once
// Strict JSON input: no comments, no duplicate keys, no unknown keys, typed
// fields with ranges; every failure is an InputError with a JSON pointer.
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace mue {

using Json = nlohmann::json;

// No muE file nests deeper than ~10 levels; past this, parse_json_strict stops with an
// InputError, so no reader recurses through a document deep enough to exhaust the stack.
inline constexpr std::size_t kMaxJsonDepth = 256;

// Parses `text` as strict JSON. `file` only names the source in errors.
Json parse_json_strict(std::string_view text, const std::string& file);
// Reads and parses a file; a missing or unreadable file is an InputError.
Json read_json_file(const std::string& path);

// "/a/b" + "c/d" -> "/a/b/c~1d" (RFC 6901 escaping).
std::string pointer_append(const std::string& base, std::string_view key);
std::string pointer_append(const std::string& base, std::size_t index);

// "integer", "number", "string", ... as a user would say it.
std::string json_type_name(const Json& j);

// Where a value sits: the file it came from and its JSON pointer.
struct Where {
  std::string file;
  std::string pointer;
  // The parsers make the relative paths a document names (data files, a command's argv[0]
  // and cwd) absolute against the folder of `file` (spec/paths.h); `as_written` keeps them
  // as they are (a TrialSpec: its base_dir says where they resolve, its id covers the text).
  bool as_written = false;
  Where at(std::string_view key) const { return {file, pointer_append(pointer, key), as_written}; }
  Where at(std::size_t index) const { return {file, pointer_append(pointer, index), as_written}; }
  [[noreturn]] void fail(const std::string& reason) const;
};

// Reads the fields of one JSON object. Every key the parser asks about (read or
// merely tested with has()) counts as known; finish() rejects any other key and
// suggests the closest known one.
class ObjectReader {
public:
  ObjectReader(const Json& j, Where where);

  const Where& where() const { return where_; }
  Where at(std::string_view key) const { return where_.at(key); }
  bool has(std::string_view key);
  // Raw access (marks the key known); InputError when missing.
  const Json& raw(std::string_view key);

  std::int64_t integer(std::string_view key);
  std::optional<std::int64_t> opt_integer(std::string_view key);
  double number(std::string_view key);
  std::optional<double> opt_number(std::string_view key);
  std::string string(std::string_view key);
  std::optional<std::string> opt_string(std::string_view key);
  bool boolean(std::string_view key);
  std::optional<bool> opt_boolean(std::string_view key);
  // A string that must be one of `choices`.
  std::string choice(std::string_view key, std::initializer_list<const char*> choices);
  std::optional<std::string> opt_choice(std::string_view key,
                                        std::initializer_list<const char*> choices);
  ObjectReader object(std::string_view key);

  void mark_known(std::string_view key) { known_.emplace(key); }
  [[noreturn]] void fail(std::string_view key, const std::string& reason) const;
  void finish() const;

private:
  const Json& j_;
  Where where_;
  std::set<std::string, std::less<>> known_;
};

// Checked conversions of a single value (used by ObjectReader and for arrays).
std::int64_t as_integer(const Json& v, const Where& w);
double as_number(const Json& v, const Where& w);
std::string as_string(const Json& v, const Where& w);
const Json& as_array(const Json& v, const Where& w);

// Range checks that throw with a uniform wording.
void require_positive(double v, const Where& w);
void require_non_negative(double v, const Where& w);
void require_in_unit_open(double v, const Where& w); // 0 <= v < 1
int to_int(std::int64_t v, const Where& w);          // fits in int

// Edit distance, for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

} // namespace mue
