// A persistent thread pool. Workers spin for up to SPIN_NS after each job (the next matmul of a
// forward pass usually follows within microseconds), then sleep on a condition variable. Dispatch
// allocates nothing.
//
// Tasks are claimed from one 64-bit ticket holding (job generation, task count, next index), so a
// worker that wakes late can never run a task of a job that has moved on: its claim fails unless
// that very job still has unclaimed tasks. The caller waits for the number of *finished* tasks,
// not for every worker to check in, so a worker the OS has descheduled costs nothing unless it
// holds a claimed task.
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

// The spin is timed, not counted: `pause` takes ~10 ns on one CPU and ~140 cycles on another.
// 1 ms covers the caller's single-threaded stretches between a token's jobs (sampling over a
// 152K vocabulary, the step's bookkeeping); at 10,000 pauses (~0.1 ms on a Xeon Ice Lake) the
// worker slept between tokens and each wake-up was a futex call (Qwen2.5 tg128 +11 % at 1 ms).
// An idle pool spins 1 ms after its last job, then sleeps.
enum { SPIN_NS = 1000000, WAIT_SPINS = 2000 };

static unsigned long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

// Ticket layout: generation (24 bits) | task count (20 bits) | next index (20 bits).
#define IDX_BITS 20
#define IDX_MASK ((1ull << IDX_BITS) - 1)
#define MAX_TASKS ((int)IDX_MASK)
static inline unsigned long long ticket(unsigned gen, unsigned n, unsigned idx) {
  return ((unsigned long long)(gen & 0xFFFFFF) << 40) | ((unsigned long long)n << IDX_BITS) | idx;
}

struct worker_arg { struct hk_pool *pool; int index; };

// Where one thread's share of the next job starts, for it to prefetch while it waits.
struct prefetch_slot { _Atomic(const char *) ptr; _Atomic size_t bytes; };

struct hk_pool {
  int threads;
  pthread_t *tids;
  struct worker_arg *args;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned gen;          // caller-only copy of the current generation
  hk_task_fn fn;         // the current job; written before the ticket is published
  void *ctx;
  _Alignas(64) _Atomic unsigned long long ticket;
  _Alignas(64) atomic_int done;
  _Alignas(64) atomic_uint wake;  // bumped per job: what sleeping workers wait on
  atomic_int sleepers;
  atomic_int stop;
  struct prefetch_slot *slots;      // one per thread
  _Alignas(64) atomic_uint plan;    // bumped when the slots change
  unsigned caller_plan;             // the caller's cursor into slot 0
  const char *caller_cur, *caller_end;
};

// While a thread waits (for the next job, or for the other threads at the end of this one), it
// prefetches its own share of the next decode matmul into L2, a few lines per check: decode is
// bound by memory bandwidth, and a waiting thread otherwise leaves its half of it unused
// (docs/performance.md). Prefetches never fault, so a stale slot costs only bandwidth.
enum { PREFETCH_LINES = 4 };
#if defined(__x86_64__) || defined(__i386__)
#define prefetch_l2(P) _mm_prefetch((P), _MM_HINT_T1)
#else
#define prefetch_l2(P) __builtin_prefetch((P), 0, 2)
#endif

/// Moves the cursor (cur, end) on to a new plan when one was published; then prefetches the next
/// few lines. Returns 0 when there is nothing (left) to prefetch.
static int prefetch_step(struct hk_pool *p, int thread, unsigned *plan, const char **cur, const char **end) {
  const unsigned now = atomic_load_explicit(&p->plan, memory_order_relaxed);
  if (now != *plan) {
    *plan = now;
    *cur = atomic_load_explicit(&p->slots[thread].ptr, memory_order_relaxed);
    *end = *cur ? *cur + atomic_load_explicit(&p->slots[thread].bytes, memory_order_relaxed) : *cur;
  }
  if (*cur >= *end) return 0;
  for (int i = 0; i < PREFETCH_LINES; i++) prefetch_l2(*cur + 64 * i);
  *cur += 64 * PREFETCH_LINES;
  return 1;
}

/// Claims and runs tasks of the current job until none are left.
static void do_tasks(struct hk_pool *p, int thread) {
  unsigned long long t = atomic_load_explicit(&p->ticket, memory_order_acquire);
  for (;;) {
    unsigned idx = (unsigned)(t & IDX_MASK), n = (unsigned)((t >> IDX_BITS) & IDX_MASK);
    if (idx >= n) return;
    if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire)) continue;
    // The claim succeeded, so this job is still current and fn/ctx are its own.
    p->fn(p->ctx, (int)idx, thread);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    t = atomic_load_explicit(&p->ticket, memory_order_acquire);
  }
}

static void *worker_main(void *argp) {
  struct worker_arg *arg = argp;
  struct hk_pool *p = arg->pool;
  // 0, not a fresh load: a job (or the stop) posted before this thread first runs must count.
  unsigned seen = 0;
  unsigned plan = 0;
  const char *cur = NULL, *end = NULL;
  for (;;) {
    unsigned w;
    unsigned spins = 0;
    unsigned long long start = 0;
    while ((w = atomic_load(&p->wake)) == seen) {
      if (prefetch_step(p, arg->index, &plan, &cur, &end)) continue;
      cpu_relax();
      if (++spins % 64 != 0) continue;  // the clock every 64 pauses
      const unsigned long long t = now_ns();
      if (start == 0) { start = t; continue; }
      if (t - start < SPIN_NS) continue;
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while ((w = atomic_load(&p->wake)) == seen) pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
      break;
    }
    seen = w;
    if (atomic_load(&p->stop)) return NULL;
    do_tasks(p, arg->index);
  }
}

hk_pool *hk_pool_create(int threads) {
  if (threads < 1) threads = 1;
  struct hk_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->threads = threads;
  p->tids = calloc((size_t)threads, sizeof *p->tids);
  p->args = calloc((size_t)threads, sizeof *p->args);
  p->slots = calloc((size_t)threads, sizeof *p->slots);
  if (!p->tids || !p->args || !p->slots) {
    free(p->tids);
    free(p->args);
    free(p->slots);
    free(p);
    return NULL;
  }
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (int i = 1; i < threads; i++) {
    p->args[i] = (struct worker_arg){p, i};
    if (pthread_create(&p->tids[i], NULL, worker_main, &p->args[i]) != 0) {
      p->threads = i;  // run with the workers we got
      break;
    }
  }
  return p;
}

int hk_pool_threads(const hk_pool *p) { return p->threads; }

void hk_pool_run(hk_pool *p, int ntasks, hk_task_fn fn, void *ctx) {
  if (ntasks <= 0) return;
  if (p->threads == 1 || ntasks == 1 || ntasks > MAX_TASKS) {
    for (int i = 0; i < ntasks; i++) fn(ctx, i, 0);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->gen++;
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  atomic_store_explicit(&p->ticket, ticket(p->gen, (unsigned)ntasks, 0), memory_order_release);
  atomic_fetch_add(&p->wake, 1);  // seq_cst: pairs with the sleepers' re-check under the mutex
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  do_tasks(p, 0);
  int spins = 0;
  while (atomic_load_explicit(&p->done, memory_order_acquire) < ntasks) {
    if (prefetch_step(p, 0, &p->caller_plan, &p->caller_cur, &p->caller_end)) continue;
    // A worker holds a claimed task; if it is not running, give it our CPU.
    if (++spins < WAIT_SPINS) cpu_relax(); else sched_yield();
  }
}

void hk_pool_prefetch(hk_pool *p, const void *const *ptrs, const size_t *bytes) {
  for (int i = 0; i < p->threads; i++) {
    atomic_store_explicit(&p->slots[i].ptr, ptrs ? (const char *)ptrs[i] : NULL, memory_order_relaxed);
    atomic_store_explicit(&p->slots[i].bytes, ptrs ? bytes[i] : 0, memory_order_relaxed);
  }
  atomic_fetch_add_explicit(&p->plan, 1, memory_order_release);
}

void hk_pool_destroy(hk_pool *p) {
  if (!p) return;
  atomic_store(&p->stop, 1);
  atomic_fetch_add(&p->wake, 1);
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->threads; i++) pthread_join(p->tids[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->tids);
  free(p->args);
  free(p->slots);
  free(p);
}
