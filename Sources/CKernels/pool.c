// A persistent thread pool. Workers spin for a short while after each job (the next matmul of a
// forward pass usually follows within microseconds), then sleep on a condition variable.
// Dispatch allocates nothing: the job lives in the pool struct, tasks come from an atomic counter.
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

enum { SPIN_ROUNDS = 50000 };  // pause ~50k times (a few hundred µs) before sleeping

struct worker_arg { struct hk_pool *pool; int index; };

struct hk_pool {
  int threads;
  pthread_t *tids;
  struct worker_arg *args;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  // The current job; written by the caller before `generation` is bumped.
  hk_task_fn fn;
  void *ctx;
  int ntasks;
  _Alignas(64) atomic_uint generation;
  _Alignas(64) atomic_int next;
  _Alignas(64) atomic_int pending;
  atomic_int sleepers;
  atomic_int stop;
};

static void do_tasks(struct hk_pool *p, int thread) {
  for (;;) {
    int i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (i >= p->ntasks) break;
    p->fn(p->ctx, i, thread);
  }
}

static void *worker_main(void *argp) {
  struct worker_arg *arg = argp;
  struct hk_pool *p = arg->pool;
  unsigned seen = 0;
  for (;;) {
    unsigned g;
    int spins = 0;
    while ((g = atomic_load(&p->generation)) == seen) {
      if (++spins < SPIN_ROUNDS) { cpu_relax(); continue; }
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while ((g = atomic_load(&p->generation)) == seen) pthread_cond_wait(&p->cv, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
      break;
    }
    seen = g;
    if (atomic_load(&p->stop)) return NULL;
    do_tasks(p, arg->index);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
  }
}

hk_pool *hk_pool_create(int threads) {
  if (threads < 1) threads = 1;
  struct hk_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->threads = threads;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->tids = calloc((size_t)threads, sizeof *p->tids);
  p->args = calloc((size_t)threads, sizeof *p->args);
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

static void wake_all(struct hk_pool *p) {
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
}

void hk_pool_run(hk_pool *p, int ntasks, hk_task_fn fn, void *ctx) {
  if (ntasks <= 0) return;
  if (p->threads == 1 || ntasks == 1) {
    for (int i = 0; i < ntasks; i++) fn(ctx, i, 0);
    return;
  }
  p->fn = fn;
  p->ctx = ctx;
  p->ntasks = ntasks;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
  atomic_fetch_add(&p->generation, 1);  // seq_cst: publishes the job, pairs with the sleepers check
  wake_all(p);
  do_tasks(p, 0);
  int spins = 0;
  while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
    if (++spins < SPIN_ROUNDS) cpu_relax(); else sched_yield();
  }
}

void hk_pool_destroy(hk_pool *p) {
  if (!p) return;
  atomic_store(&p->stop, 1);
  atomic_fetch_add(&p->generation, 1);
  pthread_mutex_lock(&p->mu);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < p->threads; i++) pthread_join(p->tids[i], NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  free(p->tids);
  free(p->args);
  free(p);
}
