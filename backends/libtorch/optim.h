#pragma once
// The optimizer a table asks for (backend-internal: includes torch).
#include <memory>
#include <vector>

#include "model.h"

namespace mue::torch_backend {

// AdamW with one parameter group per table group (lr, wd, eps from the group;
// betas from the table's optimizer). `base_lr` receives each group's lr, in order.
std::unique_ptr<torch::optim::AdamW> make_optimizer(Gpt& model, const Parameterization& table,
                                                    std::vector<double>* base_lr = nullptr);

} // namespace mue::torch_backend
