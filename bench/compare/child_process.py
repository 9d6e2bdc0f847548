"""Runs one engine as a child process and measures it from outside: its own
peak RSS (wait4's rusage, so one engine's memory never counts against
another), the GPU memory nvidia-smi lists for its pid, a timeout, and an
early stop once the caller has what it needs. Output goes to a log file, not
a pipe, so a chatty child can never block.
"""
import os
import shutil
import signal
import subprocess
import time

from measurements import parse_compute_apps

GRACE_S = 15  # between SIGTERM and SIGKILL


class ChildOutcome:
    def __init__(self):
        self.returncode = None     # exit status, or None when a signal ended it
        self.signal = None         # the signal that ended it
        self.timed_out = False     # we stopped it at the timeout
        self.stopped = False       # we stopped it because stop_when() said it had delivered
        self.max_rss_bytes = None  # ru_maxrss of the child (and any children it waited for)
        self.gpu_used_bytes = None  # peak of nvidia-smi's used_memory for the child's pid
        self.gpu_used_note = ""
        self.wall_s = 0.0
        self.log_path = ""

    @property
    def ok(self):
        return self.stopped or self.returncode == 0

    def describe_end(self):
        if self.timed_out:
            return f"timed out after {self.wall_s:.0f} s"
        if self.stopped:
            return "stopped once its metrics were in"
        if self.signal is not None:
            name = signal.Signals(self.signal).name if self.signal in signal.Signals._value2member_map_ else self.signal
            hint = " (the kernel's OOM killer?)" if self.signal == signal.SIGKILL else ""
            return f"killed by {name}{hint}"
        return f"exit status {self.returncode}"

    def as_dict(self):
        return {k: v for k, v in vars(self).items()}


class GpuMemoryPoller:
    """Peak GPU memory of one pid as nvidia-smi lists it, polled at most every `every_s` seconds."""

    def __init__(self, pid, every_s=1.0):
        self.pid, self.every_s = pid, every_s
        self.peak = None
        self.last = 0.0
        self.smi = shutil.which("nvidia-smi")
        self.note = "" if self.smi else "no nvidia-smi"
        self.answered = False

    def poll(self):
        if not self.smi or time.monotonic() - self.last < self.every_s:
            return
        self.last = time.monotonic()
        try:
            out = subprocess.run([self.smi, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return
        self.answered = True
        used = parse_compute_apps(out, self.pid)
        if used is not None and (self.peak is None or used > self.peak):
            self.peak = used

    def finish_note(self):
        if self.peak is not None:
            return ""
        if self.note:
            return self.note
        return "nvidia-smi listed no memory for this pid" if self.answered else "nvidia-smi did not answer"


def _signal_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def run_child(argv, log_path, timeout_s, env=None, cwd=None, stop_when=None, poll_s=0.25, gpu_poll=True):
    """Runs argv to its end, its timeout, or until stop_when() returns True; returns a ChildOutcome."""
    outcome = ChildOutcome()
    outcome.log_path = log_path
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    start = time.monotonic()
    with open(log_path, "wb") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=cwd, start_new_session=True)
    poller = GpuMemoryPoller(proc.pid) if gpu_poll else None
    kill_at = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        now = time.monotonic()
        if kill_at is None:
            if now - start > timeout_s:
                outcome.timed_out = True
            elif stop_when is not None and stop_when():
                outcome.stopped = True
            if outcome.timed_out or outcome.stopped:
                _signal_group(proc.pid, signal.SIGTERM)
                kill_at = now + GRACE_S
        elif now > kill_at:
            _signal_group(proc.pid, signal.SIGKILL)
            kill_at = float("inf")
        if poller:
            poller.poll()
        time.sleep(poll_s)
    outcome.wall_s = time.monotonic() - start
    if os.WIFSIGNALED(status):
        outcome.signal = os.WTERMSIG(status)
    else:
        outcome.returncode = os.WEXITSTATUS(status)
    proc.returncode = outcome.returncode if outcome.returncode is not None else -outcome.signal
    # Linux reports ru_maxrss in KiB.
    outcome.max_rss_bytes = usage.ru_maxrss * 1024
    if poller:
        outcome.gpu_used_bytes = poller.peak
        outcome.gpu_used_note = poller.finish_note()
    else:
        outcome.gpu_used_note = "not polled"
    return outcome


def log_tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
