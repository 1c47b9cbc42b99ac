#pragma once
// Every schema tag muE reads or writes ("schema": "mue.<kind>/<version>"), in one place.
// A reader refuses another version with an InputError naming the file and /schema.
namespace mue {

// Inputs a user writes.
inline constexpr const char* kSweepSpecSchema = "mue.sweep_spec/1"; // muE sweep SPEC
inline constexpr const char* kTargetsSchema = "mue.targets/1";      // muE transfer --targets
inline constexpr const char* kConfigSchema = "mue.config/1";        // muE train CONFIG

// The worker protocol between the sweep engine and `muE trial` (src/sweep/worker.h).
inline constexpr const char* kTrialSchema = "mue.trial/1";             // one TrialSpec
inline constexpr const char* kResultSchema = "mue.result/1";           // one TrialResult
inline constexpr const char* kPackSchema = "mue.pack/1";               // K TrialSpecs, fused
inline constexpr const char* kPackResultSchema = "mue.pack_result/1";  // their K results
inline constexpr const char* kCalibrationSchema = "mue.calibration/1"; // `trial --calibrate`

// Reports.
inline constexpr const char* kSweepReportSchema = "mue.sweep/1";      // DIR/sweep.json
inline constexpr const char* kTransferSchema = "mue.transfer/1";      // transfer.json
inline constexpr const char* kVerifySchema = "mue.verify/1";          // DIR/verify.json
inline constexpr const char* kCoordCheckSchema = "mue.coord_check/1"; // coord-check --out

} // namespace mue
