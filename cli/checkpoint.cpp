#include "cli/checkpoint.h"

#include <cstdio>
#include <filesystem>

#include "cli/weight_loader.h"
#include "frontend/safetensors.h"
#include "support/error.h"

namespace horizon::cli {
namespace {

std::vector<int64_t> shape_of(const runtime::StoredTensor& t) { return t.shape; }

void check_shape(const std::string& path, const frontend::SafetensorsEntry& e, const runtime::StoredTensor& t) {
  if (e.shape == t.shape) return;
  auto str = [](const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  };
  throw_user_error(path, t.name, "shape " + str(e.shape) + " does not match the model's " + str(t.shape),
                   "use a checkpoint of the same model shape");
}

}  // namespace

std::string weights_path(const std::string& path) {
  if (std::filesystem::is_directory(path)) return path + "/model.safetensors";
  return path;
}

void save_checkpoint(const std::string& dir, const ir::Module& m, const runtime::HostStore& store,
                     const ModelDirSource& source) {
  write_model_dir(dir, m, store, source);
  const auto& tensors = store.tensors();

  // The optimizer file holds the exact fp32 master, so resuming loses nothing.
  std::vector<std::vector<float>> master(tensors.size());
  const ir::DType moment = store.moments() == codegen::cpu::MomentType::bf16 ? ir::DType::bf16 : ir::DType::f32;
  std::vector<frontend::SafetensorsTensorRef> state;
  for (size_t t = 0; t < tensors.size(); ++t) {
    master[t].resize(static_cast<size_t>(tensors[t].elements));
    store.get_master(static_cast<int>(t), master[t].data());
    state.push_back({tensors[t].name + ".master", ir::DType::f32, shape_of(tensors[t]), master[t].data()});
    state.push_back({tensors[t].name + ".exp_avg", moment, shape_of(tensors[t]), store.m(static_cast<int>(t))});
    state.push_back({tensors[t].name + ".exp_avg_sq", moment, shape_of(tensors[t]), store.v(static_cast<int>(t))});
  }
  frontend::write_safetensors(dir + "/optimizer.safetensors", state,
                              {{"step", std::to_string(store.step())}, {"model", m.name}});
}

void load_weights(const std::string& path_or_dir, runtime::HostStore& store) {
  load_model_weights(path_or_dir, store);
}

void resume_checkpoint(const std::string& dir, runtime::HostStore& store) {
  std::string path = dir + "/optimizer.safetensors";
  frontend::SafetensorsFile file = frontend::SafetensorsFile::open(path);
  const std::string want = store.moments() == codegen::cpu::MomentType::bf16 ? "BF16" : "F32";
  std::vector<float> values;
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const runtime::StoredTensor& st = store.tensors()[t];
    const frontend::SafetensorsEntry& master = file.at(st.name + ".master");
    check_shape(path, master, st);
    values.resize(static_cast<size_t>(st.elements));
    file.read_f32(master.name, values);
    store.set_master(static_cast<int>(t), values.data());
    for (auto [suffix, dst] : {std::pair{".exp_avg", store.m(static_cast<int>(t))}, std::pair{".exp_avg_sq", store.v(static_cast<int>(t))}}) {
      const frontend::SafetensorsEntry& e = file.at(st.name + suffix);
      if (e.dtype != want)
        throw_user_error(path, e.name, "moments are " + e.dtype + " but this run keeps them as " + want,
                         "resume with the same --moments as the saved run");
      auto bytes = file.bytes(e.name);
      std::copy(bytes.begin(), bytes.end(), static_cast<uint8_t*>(dst));
    }
  }
  auto it = file.metadata().find("step");
  if (it == file.metadata().end()) throw_user_error(path, "__metadata__", "missing 'step'", "the file was not written by horizon train");
  store.set_step(std::stoll(it->second));
}

}  // namespace horizon::cli
