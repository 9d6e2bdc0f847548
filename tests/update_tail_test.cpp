// UpdateTail, the thread that runs a step's deferred updates while the next
// step begins: waits return when the awaited region is done (and at once
// for a step that deferred nothing), and a failure reaches every waiter.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>

#include "runtime/update_tail.h"

namespace horizon {
namespace {

using runtime::UpdateTail;

TEST(UpdateTail, AStepWithoutATailIsNeverWaitedFor) {
  UpdateTail tail(3);
  // Steps 0..2 ran their updates inside the step: nothing to wait for.
  auto done = std::async(std::launch::async, [&] { tail.wait_regions({0, 1, 2}, 2); });
  ASSERT_EQ(done.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "waited for a tail never started";
  done.get();
  tail.wait_idle();
}

TEST(UpdateTail, ARegionWaitEndsWhenThatRegionIsUpdated) {
  UpdateTail tail(2);
  std::promise<void> release_region_1;
  std::shared_future<void> released = release_region_1.get_future().share();
  std::atomic<bool> region_1_done{false};
  tail.start(4, [&](const UpdateTail::RegionDone& done) {
    done(0);
    released.wait();
    region_1_done = true;
    done(1);
  });
  tail.wait_regions({0}, 4);  // region 0 is done while region 1 still waits
  EXPECT_FALSE(region_1_done);
  auto waiter = std::async(std::launch::async, [&] { tail.wait_regions({0, 1}, 4); });
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  release_region_1.set_value();
  waiter.get();
  EXPECT_TRUE(region_1_done);
  tail.wait_idle();
  tail.wait_regions({0, 1}, 3);  // an older step is long done
}

TEST(UpdateTail, StartingWhileBusyIsALogicError) {
  UpdateTail tail(1);
  std::promise<void> go;
  std::shared_future<void> released = go.get_future().share();
  tail.start(0, [&](const UpdateTail::RegionDone& done) {
    released.wait();
    done(0);
  });
  EXPECT_THROW(tail.start(1, [](const UpdateTail::RegionDone&) {}), std::logic_error);
  go.set_value();
  tail.wait_idle();
}

TEST(UpdateTail, AFailureReachesWaitersAndIsRethrownOnce) {
  UpdateTail tail(2);
  tail.start(0, [](const UpdateTail::RegionDone& done) {
    done(0);
    throw std::runtime_error("AdamW failed on region 1");
  });
  tail.wait_regions({0}, 0);  // updated before the failure
  EXPECT_THROW(tail.wait_regions({1}, 0), std::runtime_error);
  try {
    tail.wait_idle();
    FAIL() << "the failure was not rethrown";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("region 1"), std::string::npos);
  }
  tail.wait_idle();  // once
}

}  // namespace
}  // namespace horizon
