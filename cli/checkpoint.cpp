#include "cli/checkpoint.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "cli/checkpoint_manifest.h"
#include "cli/weight_loader.h"
#include "frontend/safetensors.h"
#include "support/error.h"
#include "support/moment_quantization.h"

namespace horizon::cli {
namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

void check_shape(const std::string& path, const frontend::SafetensorsEntry& e, const runtime::StoredTensor& t) {
  if (e.shape == t.shape) return;
  throw_user_error(path, e.name, "shape " + shape_text(e.shape) + " does not match the model's " + shape_text(t.shape),
                   "use a checkpoint of the same model shape");
}

void write_optimizer_file(const std::string& dir, const ir::Module& m, const runtime::HostStore& store) {
  // The optimizer file holds the exact fp32 master, so resuming loses nothing.
  const auto& tensors = store.tensors();
  std::vector<std::vector<float>> master(tensors.size());
  const ir::DType moment = store.moments() == codegen::cpu::MomentType::bf16 ? ir::DType::bf16 : ir::DType::f32;
  const bool q8 = store.moments() == codegen::cpu::MomentType::q8;
  std::vector<frontend::SafetensorsTensorRef> state;
  for (size_t t = 0; t < tensors.size(); ++t) {
    master[t].resize(static_cast<size_t>(tensors[t].elements));
    store.get_master(static_cast<int>(t), master[t].data());
    // Read here anyway: refusing non-finite weights costs one more pass over memory.
    for (size_t i = 0; i < master[t].size(); ++i)
      if (!std::isfinite(master[t][i]))
        throw_user_error(dir, tensors[t].name,
                         "element " + std::to_string(i) + " is not finite; refusing to save non-finite weights",
                         "resume from an earlier checkpoint with a lower --lr");
    state.push_back({tensors[t].name + ".master", ir::DType::f32, tensors[t].shape, master[t].data()});
    state.push_back({tensors[t].name + ".exp_avg", moment, tensors[t].shape, store.m(static_cast<int>(t)), q8});
    state.push_back({tensors[t].name + ".exp_avg_sq", moment, tensors[t].shape, store.v(static_cast<int>(t)), q8});
    if (q8) {
      // 8-bit moments: the codes above and one scale per block (support/moment_quantization.h).
      const std::vector<int64_t> blocks = {moment_blocks(tensors[t].elements)};
      state.push_back(
          {tensors[t].name + ".exp_avg.absmax", ir::DType::f32, blocks, store.m_scale(static_cast<int>(t))});
      state.push_back(
          {tensors[t].name + ".exp_avg_sq.absmax", ir::DType::f32, blocks, store.v_scale(static_cast<int>(t))});
    }
  }
  frontend::write_safetensors(dir + "/optimizer.safetensors", state,
                              {{"step", std::to_string(store.step())}, {"model", m.name}});
}

}  // namespace

std::string weights_path(const std::string& path) {
  if (std::filesystem::is_directory(path)) return path + "/model.safetensors";
  return path;
}

void write_model_files(const std::string& dir, const ir::Module& m, const runtime::HostStore& store,
                       const ModelDirSource& source) {
  write_model_dir(dir, m, store, source);
}

void save_checkpoint(const std::string& dir, const ir::Module& m, const runtime::HostStore& store,
                     const TrainingState* state, const ModelDirSource& source) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw_user_error(dir, "", "cannot create the checkpoint directory: " + ec.message(), "choose a writable path");
  write_optimizer_file(dir, m, store);  // first: it refuses non-finite weights before anything else is written
  write_model_files(dir, m, store, source);
  if (state) write_training_state(dir + "/trainer_state.json", *state);
  // Every file the checkpoint holds but the manifest itself, whatever the
  // model writer chose to write.
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename() != "manifest.json")
      files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  write_manifest(dir, store.step(), files);
}

void load_weights(const std::string& path_or_dir, runtime::HostStore& store) { load_model_weights(path_or_dir, store); }

TrainingState resume_checkpoint(const std::string& dir, runtime::HostStore& store) {
  const Manifest manifest = verify_manifest(dir);
  const std::string path = dir + "/optimizer.safetensors";
  frontend::SafetensorsFile file = frontend::SafetensorsFile::open(path);
  const codegen::cpu::MomentType moments = store.moments();
  const bool q8 = moments == codegen::cpu::MomentType::q8;
  const std::string want = q8 ? "U8" : moments == codegen::cpu::MomentType::bf16 ? "BF16" : "F32";
  auto moments_flag = [](const std::string& dtype) {
    return dtype == "U8" ? "8bit" : dtype == "BF16" ? "bf16" : dtype == "F32" ? "f32" : "unknown";
  };
  // Every entry checked before anything is copied: a mismatch leaves the store as it was.
  for (const runtime::StoredTensor& st : store.tensors()) {
    const frontend::SafetensorsEntry& master = file.at(st.name + ".master");
    check_shape(path, master, st);
    if (master.dtype != "F32")
      throw_user_error(path, master.name, "dtype " + master.dtype + ", expected F32",
                       "resume from a horizon checkpoint");
    for (const char* suffix : {".exp_avg", ".exp_avg_sq"}) {
      const frontend::SafetensorsEntry& e = file.at(st.name + suffix);
      if (e.dtype != want)
        throw_user_error(path, e.name,
                         "moments are " + e.dtype + " (--moments " + moments_flag(e.dtype) +
                             ") but this run keeps them as " + want + " (--moments " +
                             codegen::cpu::moment_type_name(moments) + ")",
                         std::string("resume with --moments ") + moments_flag(e.dtype) + ", as the saved run");
      check_shape(path, e, st);
      if (e.end - e.begin != static_cast<uint64_t>(st.elements) * static_cast<uint64_t>(store.moment_bytes()))
        throw_user_error(path, e.name, "holds " + std::to_string(e.end - e.begin) + " bytes, not the moments' size",
                         "resume from a horizon checkpoint");
      if (q8) {
        const frontend::SafetensorsEntry& s = file.at(e.name + ".absmax");
        const int64_t blocks = moment_blocks(st.elements);
        if (s.dtype != "F32" || s.shape != std::vector<int64_t>{blocks})
          throw_user_error(path, s.name,
                           "dtype " + s.dtype + " shape " + shape_text(s.shape) + ", expected F32 [" +
                               std::to_string(blocks) + "] (one scale per " + std::to_string(kMomentBlock) +
                               " moments)",
                           "resume from a horizon checkpoint saved with --moments 8bit");
      }
    }
  }
  auto it = file.metadata().find("step");
  if (it == file.metadata().end())
    throw_user_error(path, "__metadata__.step", "missing", "the file was not written by horizon train");
  const int64_t step = parse_checkpoint_integer(it->second, 0, int64_t{1} << 53, path, "__metadata__.step");
  if (step != manifest.step)
    throw_user_error(path, "__metadata__.step",
                     "step " + std::to_string(step) + " but manifest.json says " + std::to_string(manifest.step),
                     "the checkpoint mixes files of two saves; resume from another one");
  TrainingState state;
  if (std::filesystem::exists(dir + "/trainer_state.json")) {
    state = read_training_state(dir + "/trainer_state.json");
    if (state.step != step)
      throw_user_error(
          dir + "/trainer_state.json", "step",
          "step " + std::to_string(state.step) + " but optimizer.safetensors holds step " + std::to_string(step),
          "the checkpoint mixes files of two saves; resume from another one");
  }
  state.step = step;

  std::vector<float> values;
  for (size_t t = 0; t < store.tensors().size(); ++t) {
    const runtime::StoredTensor& st = store.tensors()[t];
    values.resize(static_cast<size_t>(st.elements));
    file.read_f32(st.name + ".master", values);
    store.set_master(static_cast<int>(t), values.data());
    for (auto [suffix, dst] : {std::pair{".exp_avg", store.m(static_cast<int>(t))},
                               std::pair{".exp_avg_sq", store.v(static_cast<int>(t))}}) {
      auto bytes = file.bytes(st.name + suffix);
      std::copy(bytes.begin(), bytes.end(), static_cast<uint8_t*>(dst));
    }
    if (q8)
      for (auto [suffix, dst] : {std::pair{".exp_avg.absmax", store.m_scale(static_cast<int>(t))},
                                 std::pair{".exp_avg_sq.absmax", store.v_scale(static_cast<int>(t))}}) {
        auto bytes = file.bytes(st.name + suffix);
        std::copy(bytes.begin(), bytes.end(), reinterpret_cast<uint8_t*>(dst));
      }
  }
  store.set_step(step);
  return state;
}

}  // namespace horizon::cli
