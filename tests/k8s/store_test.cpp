// The SQLite object store: CRUD, optimistic concurrency, watch replay and compaction, and
// durability across a clean restart and a kill -9 in the middle of a burst of writes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "k8s/apiserver/store.h"

namespace kaito::k8s::apiserver {
namespace {

namespace fs = std::filesystem;

class temp_dir {
 public:
  temp_dir() {
    char tmpl[] = "/tmp/kaito_store_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string db() const { return path_ + "/store.db"; }

 private:
  std::string path_;
};

class recorder : public watch_sink {
 public:
  void on_event(const watch_event& ev) override {
    std::lock_guard lock(mu);
    events.push_back(ev);
  }
  std::mutex mu;
  std::vector<watch_event> events;
};

json obj(const std::string& name, int v) {
  return {{"metadata", {{"name", name}}}, {"spec", {{"v", v}}}};
}

TEST(StoreTest, CreateGetListUpdateRemove) {
  temp_dir dir;
  auto s = store::open(dir.db());
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  auto& st = **s;
  auto a = st.create({"pods", "default", "a"}, obj("a", 1));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)["metadata"]["resourceVersion"], "1");
  auto b = st.create({"pods", "other", "b"}, obj("b", 1));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)["metadata"]["resourceVersion"], "2");
  auto dup = st.create({"pods", "default", "a"}, obj("a", 2));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), status_code::already_exists);

  EXPECT_EQ(st.list("pods", "").items.size(), 2u);
  EXPECT_EQ(st.list("pods", "default").items.size(), 1u);
  EXPECT_EQ(st.list("pods", "default").rv, 2);
  EXPECT_EQ(st.list("services", "").items.size(), 0u);

  auto up = st.update({"pods", "default", "a"}, obj("a", 5), 1);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ((*up)["metadata"]["resourceVersion"], "3");
  EXPECT_EQ((*st.get({"pods", "default", "a"}))["spec"]["v"], 5);

  auto gone = st.remove({"pods", "default", "a"});
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ((*gone)["metadata"]["resourceVersion"], "4");  // the deletion's revision
  EXPECT_EQ(st.get({"pods", "default", "a"}).error().code(), status_code::not_found);
  EXPECT_EQ(st.remove({"pods", "default", "a"}).error().code(), status_code::not_found);
  EXPECT_EQ(st.current_rv(), 4);
}

TEST(StoreTest, StaleResourceVersionConflicts) {
  temp_dir dir;
  auto st = std::move(store::open(dir.db()).value());
  ASSERT_TRUE(st->create({"pods", "ns", "a"}, obj("a", 1)).ok());
  ASSERT_TRUE(st->update({"pods", "ns", "a"}, obj("a", 2), 1).ok());  // rv 2
  auto stale = st->update({"pods", "ns", "a"}, obj("a", 3), 1);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code(), status_code::conflict);
  EXPECT_EQ(st->remove({"pods", "ns", "a"}, 1).error().code(), status_code::conflict);
  EXPECT_TRUE(st->remove({"pods", "ns", "a"}, 2).ok());
}

TEST(StoreTest, NoOpUpdateKeepsRevisionAndLogsNothing) {
  temp_dir dir;
  auto st = std::move(store::open(dir.db()).value());
  ASSERT_TRUE(st->create({"pods", "ns", "a"}, obj("a", 1)).ok());
  auto rec = std::make_shared<recorder>();
  ASSERT_TRUE(st->watch("pods", 1, rec).ok());
  auto same = st->update({"pods", "ns", "a"}, obj("a", 1));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*same)["metadata"]["resourceVersion"], "1");
  EXPECT_EQ(st->current_rv(), 1);
  EXPECT_TRUE(rec->events.empty());
}

TEST(StoreTest, WatchFromZeroIsSyntheticAddedThenLive) {
  temp_dir dir;
  auto st = std::move(store::open(dir.db()).value());
  ASSERT_TRUE(st->create({"pods", "ns", "a"}, obj("a", 1)).ok());
  ASSERT_TRUE(st->create({"pods", "ns", "b"}, obj("b", 1)).ok());
  ASSERT_TRUE(st->create({"services", "ns", "s"}, obj("s", 1)).ok());
  auto rec = std::make_shared<recorder>();
  auto initial = st->watch("pods", 0, rec);
  ASSERT_TRUE(initial.ok());
  ASSERT_EQ(initial->size(), 2u);
  EXPECT_EQ((*initial)[0].type, event_type::added);
  EXPECT_EQ((*initial)[1].key.name, "b");
  ASSERT_TRUE(st->update({"pods", "ns", "a"}, obj("a", 2)).ok());
  ASSERT_TRUE(st->create({"services", "ns", "t"}, obj("t", 1)).ok());  // other resource: not seen
  ASSERT_TRUE(st->remove({"pods", "ns", "b"}).ok());
  ASSERT_EQ(rec->events.size(), 2u);
  EXPECT_EQ(rec->events[0].type, event_type::modified);
  EXPECT_EQ(rec->events[0].rv, 4);
  EXPECT_EQ(rec->events[1].type, event_type::deleted);
  EXPECT_EQ(rec->events[1].rv, 6);
  EXPECT_EQ(st->watcher_count(), 1u);
  st->unwatch(rec);
  EXPECT_EQ(st->watcher_count(), 0u);
  ASSERT_TRUE(st->create({"pods", "ns", "c"}, obj("c", 1)).ok());
  EXPECT_EQ(rec->events.size(), 2u);
}

TEST(StoreTest, WatchReplaysLoggedEventsAfterRevision) {
  temp_dir dir;
  auto st = std::move(store::open(dir.db()).value());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(st->create({"pods", "ns", "p" + std::to_string(i)}, obj("p", i)).ok());
  auto replay = st->watch("pods", 3, nullptr);
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->size(), 2u);
  EXPECT_EQ((*replay)[0].rv, 4);
  EXPECT_EQ((*replay)[0].key.name, "p3");
  EXPECT_EQ((*replay)[1].rv, 5);
  EXPECT_EQ((*replay->at(1).object)["metadata"]["resourceVersion"], "5");
  EXPECT_TRUE(st->watch("pods", 5, nullptr)->empty());
}

TEST(StoreTest, CompactedRevisionIsTooOld) {
  temp_dir dir;
  auto st = std::move(store::open(dir.db(), {3}).value());
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(st->create({"pods", "ns", "p" + std::to_string(i)}, obj("p", i)).ok());
  EXPECT_EQ(st->compacted_rv(), 7);
  auto old = st->watch("pods", 2, nullptr);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code(), status_code::failed_precondition);
  EXPECT_EQ(old.error().message(), "too old resource version: 2 (8)");
  auto ok = st->watch("pods", 7, nullptr);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 3u);
}

TEST(StoreTest, SurvivesRestart) {
  temp_dir dir;
  {
    auto st = std::move(store::open(dir.db(), {4}).value());
    for (int i = 0; i < 6; ++i)
      ASSERT_TRUE(st->create({"pods", "ns", "p" + std::to_string(i)}, obj("p", i)).ok());
    ASSERT_TRUE(st->remove({"pods", "ns", "p0"}).ok());
  }
  auto st = std::move(store::open(dir.db(), {4}).value());
  EXPECT_EQ(st->current_rv(), 7);
  EXPECT_EQ(st->compacted_rv(), 3);
  EXPECT_EQ(st->list("pods", "ns").items.size(), 5u);
  EXPECT_FALSE(st->get({"pods", "ns", "p0"}).ok());
  auto replay = st->watch("pods", 5, nullptr);
  ASSERT_TRUE(replay.ok());
  ASSERT_EQ(replay->size(), 2u);
  EXPECT_EQ(replay->back().type, event_type::deleted);
  auto next = st->create({"pods", "ns", "new"}, obj("new", 1));
  EXPECT_EQ((*next)["metadata"]["resourceVersion"], "8");
  EXPECT_FALSE(st->watch("pods", 1, nullptr).ok());
}

// A child writes as fast as it can and reports each acknowledged name through a pipe; the parent
// kills it with SIGKILL mid-burst. Every acknowledged object must be there after reopening.
TEST(StoreTest, AcknowledgedWritesSurviveKill9) {
  temp_dir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    auto st = store::open(dir.db());
    if (!st.ok()) _exit(2);
    for (int i = 0;; ++i) {
      if (!(*st)->create({"pods", "ns", "p" + std::to_string(i)}, obj("p", i)).ok()) _exit(3);
      int32_t n = i;
      if (write(fds[1], &n, sizeof n) != sizeof n) _exit(4);
    }
  }
  close(fds[1]);
  int32_t last = -1, n;
  while (last < 40 && read(fds[0], &n, sizeof n) == sizeof n) last = n;
  kill(pid, SIGKILL);
  while (read(fds[0], &n, sizeof n) == sizeof n) last = n;  // acks written before the kill
  close(fds[0]);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  ASSERT_TRUE(WIFSIGNALED(wstatus));
  auto st = store::open(dir.db());
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  for (int i = 0; i <= last; ++i)
    EXPECT_TRUE((*st)->get({"pods", "ns", "p" + std::to_string(i)}).ok()) << i;
  EXPECT_GE((*st)->current_rv(), last + 1);
  // The store keeps working after the crash.
  EXPECT_TRUE((*st)->create({"pods", "ns", "after"}, obj("after", 1)).ok());
}

}  // namespace
}  // namespace kaito::k8s::apiserver
