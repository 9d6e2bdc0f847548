// The pass manager both pipelines run on: the graph passes (passes/lower.h,
// on ir::Module) and the schedule passes (passes/schedule_pipeline.h, on the
// step being lowered). One place gives every pass the same instrumentation:
// `--time-passes` prints each pass's time and whether it changed anything,
// HORIZON_DUMP_IR=all (or a pass name) prints the IR after every pass that
// changed it (or after that one), `--emit=PASS` stops after a pass (the
// caller prints what it stopped at), an unknown pass
// name is refused with the list of names, and the IR's verifier runs after
// every pass that changed it when verify_each is on (debug builds, the
// tests, HORIZON_VERIFY_IR=1) and always at the end of the pipeline.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace horizon::passes {

struct PassOptions {
  std::string stop_after;               // pass name; empty runs every pass
  bool time_passes = false;             // print per-pass times to `log`
  std::string dump_ir;                  // "all" or a pass name; empty: $HORIZON_DUMP_IR
  std::ostream* log = nullptr;          // where timings and dumps go (stderr if null)
  std::ostream* stop_output = nullptr;  // where a pipeline prints the IR it stopped at, if it does (log if null)
  bool verify_each = verify_each_pass_default();

  /// True in debug builds and where HORIZON_VERIFY_IR=1 (the tests set it,
  /// for themselves and the `horizon` processes they start).
  static bool verify_each_pass_default();
};

/// A pass over IR: returns whether it changed anything.
template <class IR>
struct Pass {
  std::string name;
  std::function<bool(IR&)> run;
};

/// What the manager needs to know of an IR: its text form and its verifier
/// (which throws on a malformed IR).
template <class IR>
struct IRHooks {
  std::function<std::string(const IR&)> print;
  std::function<void(const IR&)> verify;
};

/// The instrumentation, independent of the IR's type.
class PassInstrumentation {
 public:
  /// `pipeline` names the pipeline in messages; `names` are its passes in order.
  PassInstrumentation(std::string pipeline, std::vector<std::string> names, const PassOptions& options);
  /// Runs one pass; returns whether the pipeline stops here.
  bool run(const std::string& name, const std::function<bool()>& pass, const std::function<std::string()>& print,
           const std::function<void()>& verify);

 private:
  std::string pipeline_;
  PassOptions options_;
  std::string dump_;
  std::ostream* log_;
};

/// UserError "unknown pass 'NAME'; passes are: a, b, ..." unless `name` is
/// empty or one of `names`.
void check_pass_name(const std::string& name, const std::vector<std::string>& names);

/// Runs `passes` on `ir` in order with the instrumentation of `options`, then
/// verifies the result. Returns false when it stopped after options.stop_after.
template <class IR>
bool run_passes(const std::string& pipeline, const std::vector<Pass<IR>>& passes, const IRHooks<IR>& hooks, IR& ir,
                const PassOptions& options) {
  std::vector<std::string> names;
  for (const Pass<IR>& p : passes) names.push_back(p.name);
  PassInstrumentation instrumentation(pipeline, names, options);
  for (const Pass<IR>& p : passes) {
    const bool stop = instrumentation.run(
        p.name, [&] { return p.run(ir); }, [&] { return hooks.print(ir); }, [&] { hooks.verify(ir); });
    if (stop) {
      if (!options.verify_each) hooks.verify(ir);
      return false;
    }
  }
  if (!options.verify_each) hooks.verify(ir);
  return true;
}

}  // namespace horizon::passes
