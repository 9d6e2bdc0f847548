#include "cli/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace horizon::cli {
namespace {

std::atomic<int> g_signal{0};
struct sigaction g_old_int, g_old_term;

void on_signal(int sig) {
  if (g_signal.load() != 0) {
    // The second signal: stop now, with the status the first one promised.
    constexpr char kNow[] = "\nstopping now without saving\n";
    (void)!::write(STDERR_FILENO, kNow, sizeof kNow - 1);
    ::_exit(128 + g_signal.load());
  }
  g_signal.store(sig);
  constexpr char kMsg[] = "\nstopping after this step and saving a checkpoint (press Ctrl-C again to stop at once)\n";
  (void)!::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
}

}  // namespace

InterruptRequest::InterruptRequest() {
  g_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptRequest::~InterruptRequest() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int InterruptRequest::requested() const { return g_signal.load(); }

}  // namespace horizon::cli
