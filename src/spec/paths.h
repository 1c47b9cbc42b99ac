#pragma once
// Relative paths in muE files: what they mean and whether the files they name are there.
// A relative path means "beside the file that names it". The parsers (parse_data,
// parse_backend) make it absolute as they read a file, so every report and config written
// afterwards (sweep.json, transfer.json, emitted configs, trial files) names the same file
// from any working directory.
#include <string>

#include "spec/train_spec.h"
#include "util/json.h"

namespace mue {

// The absolute folder that relative paths in `where`'s document mean: the folder of
// where.file. Empty when the document is read as written (where.as_written) or does not come
// from a file (an empty name or a pseudo name such as "<stdin>").
std::string document_dir(const Where& where);

// `path` made absolute against document_dir(where) and normalized; unchanged when it is
// empty or absolute, or when the document has no folder.
std::string anchor_path(const std::string& path, const Where& where);

// Bad input unless every data file of `t` (data.path, data.val_path) can be opened for
// reading: an InputError at the field that names it, e.g. `F: /train/data/path: cannot open
// data file '/abs/corpus.txt': No such file or directory`. `train` is where `t` sits. A
// relative path (a document read as written) resolves in `base_dir`, or the working
// directory when that is empty. With seq_len > 0, each split (the training part and the
// held-out val_fraction tail, or the two files) must also hold seq_len + 2 tokens (bytes for
// text, uint16 for bin), else bad input at the same field.
void check_data_files(const TrainSpec& t, const Where& train, const std::string& base_dir = "",
                      int seq_len = 0);

} // namespace mue
