// Names of the schedule IR's enums (the words of its text form) and the small
// buffer-table helpers of Schedule. One table per enum, so a name and its
// parse cannot drift apart.
#include "ir/schedule.h"

#include <stdexcept>

namespace horizon::ir {
namespace {

template <class E, size_t N>
std::optional<E> parse_name(const char* const (&names)[N], const std::string& s) {
  for (size_t i = 0; i < N; ++i)
    if (s == names[i]) return static_cast<E>(i);
  return std::nullopt;
}

// Indexed by the enum's value; the static_asserts catch a value added to the
// enum but not here.
const char* const kStreamNames[] = {"compute", "h2d", "d2h", "cpu"};
static_assert(std::size(kStreamNames) == kNumStreams);

const char* const kPlaceNames[] = {"gpu", "host"};
static_assert(std::size(kPlaceNames) == static_cast<size_t>(Place::host) + 1);

const char* const kBufferKindNames[] = {"store",     "weight_slot", "activations", "checkpoint", "gradient",
                                        "grad_slab", "workspace",   "batch_data",  "resident",   "kept"};
static_assert(std::size(kBufferKindNames) == static_cast<size_t>(BufferKind::kept) + 1);

const char* const kSchedOpNames[] = {"stream_in", "bind", "launch",  "save",           "restore",
                                     "recompute", "cast", "offload", "optimizer_step", "grad_norm",
                                     "record",    "wait", "free"};
static_assert(std::size(kSchedOpNames) == static_cast<size_t>(SchedOp::free) + 1);

}  // namespace

const char* stream_name(Stream s) { return kStreamNames[static_cast<int>(s)]; }
std::optional<Stream> parse_stream(const std::string& s) { return parse_name<Stream>(kStreamNames, s); }

const char* place_name(Place p) { return kPlaceNames[static_cast<int>(p)]; }
std::optional<Place> parse_place(const std::string& s) { return parse_name<Place>(kPlaceNames, s); }

const char* buffer_kind_name(BufferKind k) { return kBufferKindNames[static_cast<int>(k)]; }
std::optional<BufferKind> parse_buffer_kind(const std::string& s) {
  return parse_name<BufferKind>(kBufferKindNames, s);
}

const char* sched_op_name(SchedOp op) { return kSchedOpNames[static_cast<int>(op)]; }
std::optional<SchedOp> parse_sched_op(const std::string& s) { return parse_name<SchedOp>(kSchedOpNames, s); }

int Schedule::find_buffer(const std::string& name) const {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].name == name) return static_cast<int>(i);
  return -1;
}

int Schedule::add_buffer(const std::string& name, Place place, BufferKind kind, int64_t bytes) {
  // Operands refer to buffers by index and the text form by name: a second
  // buffer of the same name would make the printed schedule ambiguous.
  if (find_buffer(name) >= 0) throw std::logic_error("schedule buffer %" + name + " added twice");
  buffers.push_back(Buffer{name, place, kind, bytes});
  return static_cast<int>(buffers.size()) - 1;
}

int Schedule::insert_buffer(int at, const std::string& name, Place place, BufferKind kind, int64_t bytes) {
  if (find_buffer(name) >= 0) throw std::logic_error("schedule buffer %" + name + " added twice");
  if (at < 0 || at > static_cast<int>(buffers.size())) throw std::logic_error("schedule buffer index out of range");
  buffers.insert(buffers.begin() + at, Buffer{name, place, kind, bytes});
  for (SchedInstr& in : instrs)
    for (Operand& op : in.operands)
      if (op.range.buffer >= at) ++op.range.buffer;
  return at;
}

void Schedule::remove_buffer(int index) {
  if (index < 0 || index >= static_cast<int>(buffers.size()))
    throw std::logic_error("schedule buffer index out of range");
  for (const SchedInstr& in : instrs)
    for (const Operand& op : in.operands)
      if (op.range.buffer == index)
        throw std::logic_error("schedule buffer %" + buffers[static_cast<size_t>(index)].name +
                               " removed while in use");
  buffers.erase(buffers.begin() + index);
  for (SchedInstr& in : instrs)
    for (Operand& op : in.operands)
      if (op.range.buffer > index) --op.range.buffer;
}

int64_t Schedule::bytes(Place place) const {
  int64_t total = 0;
  for (const Buffer& b : buffers)
    if (b.place == place) total += b.bytes;
  return total;
}

}  // namespace horizon::ir
