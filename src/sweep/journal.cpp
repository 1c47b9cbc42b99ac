#include "sweep/journal.h"

#include <fstream>

#include "util/error.h"
#include "util/fs.h"

namespace mue {
namespace fs = std::filesystem;

namespace {
constexpr const char* kJournalName = "trials.jsonl";
constexpr const char* kSpecName = "spec.json";
constexpr const char* kTrialsDir = "trials";
constexpr const char* kLogsDir = "logs";
constexpr const char* kPlotsDir = "plots";
constexpr const char* kSlurmDir = "slurm";
constexpr const char* kSpecSuffix = ".spec.json";
constexpr const char* kResultSuffix = ".result.json";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
} // namespace

bool finished(const std::map<std::string, TrialResult>& done, const std::string& id) {
  const auto it = done.find(id);
  return it != done.end() && !it->second.retry;
}

Journal::Journal(fs::path dir, bool create) : dir_(std::move(dir)) {
  if (!create) return;
  fs::create_directories(trials_dir());
  fs::create_directories(logs_dir());
}

Journal::Journal(fs::path dir) : Journal(std::move(dir), true) {}

Journal Journal::existing(fs::path dir) {
  if (!fs::is_directory(dir))
    throw InputError(dir.string(), "", "not a directory (expected the --out DIR of muE sweep)");
  Journal j(std::move(dir), false);
  if (!fs::exists(j.spec_file()))
    throw InputError(j.spec_file(), "",
                     "missing: " + j.dir_.string() + " is not a sweep directory");
  return j;
}

Journal Journal::for_spec(fs::path dir, const std::string& spec_text, bool force_new,
                          const std::string& spec_file) {
  Journal j(std::move(dir), false);
  const std::string spec_path = j.spec_file();
  if (fs::exists(spec_path) && read_file(spec_path) != spec_text) {
    if (!force_new)
      throw InputError(spec_file, "",
                       "the sweep directory " + j.dir_.string() +
                           " holds a different spec; use another --out, or --force-new to "
                           "start over there");
    fs::remove(j.journal_file());
    fs::remove_all(j.trials_dir());
    fs::remove_all(j.dir_ / kSlurmDir); // another spec's Slurm job is not to be followed
  }
  fs::create_directories(j.trials_dir());
  fs::create_directories(j.logs_dir());
  write_file_atomic(spec_path, spec_text);
  return j;
}

std::string Journal::journal_file() const {
  return (dir_ / kJournalName).string();
}
std::string Journal::spec_file() const {
  return (dir_ / kSpecName).string();
}
std::string Journal::report_file(const std::string& name) const {
  return (dir_ / name).string();
}
fs::path Journal::trials_dir() const {
  return dir_ / kTrialsDir;
}
fs::path Journal::logs_dir() const {
  return dir_ / kLogsDir;
}

fs::path Journal::plots_dir() const {
  fs::create_directories(dir_ / kPlotsDir);
  return dir_ / kPlotsDir;
}

fs::path Journal::slurm_dir() const {
  fs::create_directories(dir_ / kSlurmDir);
  return dir_ / kSlurmDir;
}

Journal::UnitFiles Journal::unit_files(const std::string& name) const {
  return UnitFiles{(trials_dir() / (name + kSpecSuffix)).string(),
                   (trials_dir() / (name + kResultSuffix)).string(),
                   (logs_dir() / (name + ".log")).string()};
}

std::string Journal::calibration_spec_file() const {
  return (trials_dir() / (std::string("calibrate") + kSpecSuffix)).string();
}

Journal::UnitFiles Journal::write_unit(const Unit& u) const {
  const UnitFiles f = unit_files(u.name);
  write_file_atomic(f.spec, u.spec_text());
  std::error_code ec;
  fs::remove(f.result, ec);
  if (u.pack()) {
    // Each trial's log name points at the pack's log (created empty now, so the link has a
    // target; the worker's output is appended to the same inode).
    std::ofstream(f.log, std::ios::trunc).close();
    for (const auto& t : u.trials) {
      const fs::path link = logs_dir() / (t.id() + ".log");
      fs::remove(link, ec);
      fs::create_hard_link(f.log, link, ec);
    }
  }
  return f;
}

std::map<std::string, TrialResult> Journal::read(bool* torn) const {
  std::map<std::string, TrialResult> out;
  if (torn) *torn = false;
  const std::string path = journal_file();
  std::ifstream in(path);
  if (!in) return out;
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    try {
      TrialResult r = parse_trial_result(Json::parse(line), Where{path, ""});
      out[r.id] = std::move(r);
    } catch (const std::exception& e) {
      // Only the last line may be torn; anything else is a damaged journal.
      if (in.peek() == EOF) {
        if (torn) *torn = true;
        break;
      }
      throw RuntimeError(path + ": line " + std::to_string(n) + " is not a trial result (" +
                         e.what() + "); the journal is damaged");
    }
  }
  return out;
}

bool Journal::drop_torn_tail() const {
  const std::string path = journal_file();
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size == 0) return false;
  const std::string text = read_file(path);
  if (text.back() == '\n') return false;
  const auto keep = text.rfind('\n');
  write_file_atomic(path, text.substr(0, keep == std::string::npos ? 0 : keep + 1));
  return true;
}

void Journal::append(const TrialResult& r) const {
  append_line_durable(journal_file(), to_json(r).dump());
}

std::size_t Journal::salvage(const std::vector<PlannedTrial>& plan,
                             std::map<std::string, TrialResult>& done) const {
  std::map<std::string, bool> wanted; // plan trial id -> still wanted
  for (const auto& t : plan)
    if (!finished(done, t.spec.id())) wanted[t.spec.id()] = true;
  std::size_t salvaged = 0;
  auto take = [&](const TrialResult& r) {
    const auto it = wanted.find(r.id);
    if (it == wanted.end() || !it->second) return;
    append(r);
    done[r.id] = r;
    it->second = false;
    ++salvaged;
  };
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(trials_dir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (!ends_with(name, kResultSuffix)) continue;
    const std::string unit = name.substr(0, name.size() - std::string(kResultSuffix).size());
    if (unit.rfind("pack-", 0) == 0) {
      for (const auto& r : read_pack_results(entry.path().string()))
        take(r);
    } else if (wanted.count(unit)) {
      if (auto r = read_trial_result(entry.path().string(), unit)) take(*r);
    }
  }
  return salvaged;
}

} // namespace mue
