#pragma once
// The sweep directory and its journal (docs/design.md "Running trials"). A Journal owns
// DIR: every file name inside it is spelled here and nowhere else.
//
//   DIR/spec.json               the canonical spec the directory belongs to (muE sweep)
//   DIR/trials.jsonl            one TrialResult per line, appended and fsync'd as each ends
//   DIR/trials/<unit>.spec.json    what a `muE trial` worker reads (a trial or a pack)
//   DIR/trials/<unit>.result.json  what it writes; a result no run journaled is salvaged
//   DIR/logs/<unit>.log         the worker's stdout+stderr (a pack's trials: hard links)
//   DIR/slurm/                  the Slurm launcher's job record, task list and sbatch script
//   DIR/plots/                  the report's plots
//
// A later journal line for the same trial id wins (a retried trial). Only the last line
// may be torn (a crash mid-append): it is ignored and reported; any other unreadable line
// is a RuntimeError (the journal is damaged).
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "spec/trial.h"
#include "sweep/plan.h"
#include "sweep/worker.h"

namespace mue {

class Journal {
public:
  // A directory whose trials are content-addressed (muE verify: a re-run with other targets
  // reuses what already ran). Creates DIR, trials/ and logs/.
  explicit Journal(std::filesystem::path dir);

  // A directory that belongs to one spec (muE sweep): writes DIR/spec.json = `spec_text`.
  // A DIR holding another spec is refused (InputError naming `spec_file`) unless
  // `force_new`, which empties its journal and trials/.
  static Journal for_spec(std::filesystem::path dir, const std::string& spec_text, bool force_new,
                          const std::string& spec_file);

  // An existing sweep directory, read only (muE fit): nothing is created.
  static Journal existing(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::string journal_file() const;
  std::string spec_file() const;                          // DIR/spec.json
  std::string report_file(const std::string& name) const; // DIR/<name>, e.g. sweep.json
  std::filesystem::path plots_dir() const;                // created on demand
  std::filesystem::path slurm_dir() const;                // created on demand
  std::filesystem::path trials_dir() const;
  std::filesystem::path logs_dir() const;

  // The files of one launch unit (a trial or a fused pack).
  struct UnitFiles {
    std::string spec, result, log;
  };
  UnitFiles unit_files(const std::string& unit_name) const;
  // The TrialSpec that `--fuse auto` times alone and in packs (trials/calibrate.spec.json).
  std::string calibration_spec_file() const;
  // Writes the unit's spec file (atomically), removes a stale result, and for a pack links
  // each trial's log name to the pack's log, so logs/<trial id>.log always exists.
  UnitFiles write_unit(const Unit& u) const;

  // Every journaled result by trial id (the last line per id wins). `torn` reports a torn
  // last line.
  std::map<std::string, TrialResult> read(bool* torn = nullptr) const;

  // Cuts a torn last line (a crash mid-append) off the journal, so the next append starts a
  // line of its own instead of gluing onto the fragment (which would damage the journal).
  // Returns whether there was one. Only a run that appends calls it; readers just skip it.
  bool drop_torn_tail() const;

  // Appends one result line and fsyncs before returning: a finished trial is never lost.
  void append(const TrialResult& r) const;

  // Results that workers left in trials/ but no run journaled (the sweep was killed after
  // the worker wrote it), for trials of `plan` not finished in `done`: each is journaled,
  // added to `done`, and counted in the return value.
  std::size_t salvage(const std::vector<PlannedTrial>& plan,
                      std::map<std::string, TrialResult>& done) const;

private:
  explicit Journal(std::filesystem::path dir, bool create);
  std::filesystem::path dir_;
};

// True when `done` holds a result for `id` that needs no rerun (retry results do).
bool finished(const std::map<std::string, TrialResult>& done, const std::string& id);

} // namespace mue
